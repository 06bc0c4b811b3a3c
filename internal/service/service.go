// Package service holds the business operations: sign-up, sessions, follows, publishing,
// favorites, comments and the lists that read them. Each write validates its whole input,
// asks policy, and runs in one transaction.
package service

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"inkwell/ent"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/change"
	"inkwell/internal/events"
	"inkwell/internal/images"
	"inkwell/internal/ratelimit"
	"inkwell/internal/storage"
)

// Config tunes a Service.
type Config struct {
	// RefreshTTL is how long a refresh token stays valid unused (default 30 days).
	RefreshTTL time.Duration
	// Limits are the attempt budgets of signing in, signing up and refreshing; nil
	// limits nothing.
	Limits *ratelimit.Limiter
	// Changed is told what each committed write changed (the read side's caches); nil
	// tells no one.
	Changed change.Sink
	// Mail sends the verification links; nil sends none.
	Mail Mailer
	// VerifyURL is the page a verification link opens, with ?token= added.
	VerifyURL string
	// Entities caches sessions' states (CheckSession); nil reads them every time.
	Entities *cache.Cache
	// Store keeps uploaded images; AssetsURL is where clients read them, with an asset's
	// token added; ImageLimits bound what an upload may be (zero: images.DefaultLimits).
	Store       storage.Store
	AssetsURL   string
	ImageLimits images.Limits
}

// Service runs the business operations over one ent client.
type Service struct {
	db          *ent.Client
	tokens      *auth.Tokens
	refreshTTL  time.Duration
	limits      *ratelimit.Limiter
	changed     change.Sink
	mail        Mailer
	verifyURL   string
	entities    *cache.Cache
	store       storage.Store
	assetsURL   string
	inlineURL   *regexp.Regexp // assetsURL and a token, as article bodies show assets
	imageLimits images.Limits
	now         func() time.Time
}

// New returns a Service.
func New(db *ent.Client, tokens *auth.Tokens, cfg Config) *Service {
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.ImageLimits == (images.Limits{}) {
		cfg.ImageLimits = images.DefaultLimits
	}
	var inline *regexp.Regexp
	if cfg.AssetsURL != "" {
		inline = regexp.MustCompile(regexp.QuoteMeta(cfg.AssetsURL) + `([A-Za-z0-9_-]{16,64})`)
	}
	return &Service{db: db, tokens: tokens, refreshTTL: cfg.RefreshTTL, limits: cfg.Limits, changed: cfg.Changed,
		mail: cfg.Mail, verifyURL: cfg.VerifyURL, entities: cfg.Entities, store: cfg.Store, assetsURL: cfg.AssetsURL, inlineURL: inline,
		imageLimits: cfg.ImageLimits, now: now}
}

// Acting is the service acting for a signed-in viewer. Every operation on behalf of a
// viewer (writing, the feed) is a method of Acting, never of Service, and an Acting can
// only be had from As, which refuses the anonymous viewer: no such operation can forget
// to ask for a viewer. What each viewer may do to which row is internal/policy's, and
// ent's privacy rules (ent/schema) refuse what a service forgot to check.
type Acting struct {
	*Service
	viewer auth.Viewer
}

// As returns the service acting for ctx's viewer, or UNAUTHENTICATED when there is none.
func (s *Service) As(ctx context.Context) (*Acting, error) {
	v := auth.ViewerFrom(ctx)
	if v.Anonymous() {
		return nil, apperr.Unauthenticated("you must be signed in")
	}
	return &Acting{Service: s, viewer: v}, nil
}

// write runs fn in one transaction, as inTx does, for a write that changes what readers
// see; fn records what it changed in c. The change is sent to every instance in that same
// transaction (so only a committed write is heard of, in commit order), and, once the
// transaction commits, applied to this instance's caches before the write is answered,
// so its client reads it back.
func (s *Service) write(ctx context.Context, fn func(tx *ent.Tx, w *written) error) error {
	if v := viewer(ctx); !v.Anonymous() {
		if err := s.limits.CheckAccount(ctx, ratelimit.Write, strconv.Itoa(v.UserID)); err != nil {
			return err
		}
	}
	return s.record(ctx, fn)
}

// written is what one write did: the rows it changed, for every instance's caches, and
// the event its subscribers hear (announce), if any. Both travel in one NOTIFY.
type written struct {
	change.Set
	event   *events.Event
	notices []notice
}

// announce makes e the event the write's subscribers hear.
func (w *written) announce(e events.Event) error {
	w.event = &e
	return nil
}

// record is write without the write budget, for changes that are not the viewer's
// content (ending sessions).
func (s *Service) record(ctx context.Context, fn func(tx *ent.Tx, w *written) error) error {
	var w written
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		w = written{} // a retried transaction starts over
		if err := fn(tx, &w); err != nil {
			return err
		}
		if w.Empty() && w.event == nil && len(w.notices) == 0 {
			return nil
		}
		all, err := recipients(ctx, tx, &w)
		if err != nil {
			return err
		}
		w.Write = nextWrite()
		e := events.Changed(w.Set)
		if w.event != nil {
			e = *w.event
			if !w.Empty() {
				set := w.Set
				e.Changed = &set
			}
		}
		e.Notified, e.NotifiedAll = listed(all)
		if err := publish(ctx, tx, all, e); err != nil {
			return err
		}
		if err := s.writeNotices(ctx, tx, &w); err != nil {
			return err
		}
		return numberPublication(ctx, tx, &w)
	})
	if err == nil && s.changed != nil && !w.Empty() {
		s.changed(ctx, w.Set)
	}
	return err
}

// writes numbers this process's writes (change.Set.Write): a random start, so that the
// numbers of two instances do not meet.
var writes = func() *atomic.Uint64 {
	var n atomic.Uint64
	n.Store(rand.Uint64() >> 1)
	return &n
}()

func nextWrite() uint64 { return writes.Add(1) }

// now matches the schema's clock: UTC, cut to PostgreSQL's microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// inTx runs fn in one transaction, committed only when fn returns nil; a panic rolls
// back too, so a half-done write never lands. A deadlock or serialization failure (two
// writers locking shared tag rows, say) runs fn again in a new transaction, up to three
// times, so the client sees the write succeed rather than a retryable internal error.
func (s *Service) inTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.inTxOnce(ctx, fn); !serializationFailure(err) {
			return err
		}
	}
	return err
}

func (s *Service) inTxOnce(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// uniqueViolation reports whether err is PostgreSQL's unique violation on constraint.
func uniqueViolation(err error, constraint string) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == constraint
}

// serializationFailure reports whether err is a deadlock or serialization failure worth
// retrying.
func serializationFailure(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "40001" || pqErr.Code == "40P01")
}

func viewer(ctx context.Context) auth.Viewer { return auth.ViewerFrom(ctx) }

// notFound maps ent's not-found to NOT_FOUND for what, and passes other errors through.
func notFound(err error, what string) error {
	if ent.IsNotFound(err) {
		return apperr.NotFound(what)
	}
	return err
}

// column runs a statement whose rows hold one column and returns its values (querier:
// link.go).
func column[T any](ctx context.Context, q querier, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// count runs a SELECT count(*) statement.
func count(ctx context.Context, q querier, query string, args ...any) (int, error) {
	n, err := column[int](ctx, q, query, args...)
	if err != nil || len(n) != 1 {
		return 0, err
	}
	return n[0], nil
}
