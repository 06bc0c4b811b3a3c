package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"inkwell/ent"
	"inkwell/ent/predicate"
	"inkwell/ent/refreshtoken"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/change"
	"inkwell/internal/ratelimit"
)

// A session is one sign-in: a chain of refresh tokens, each rotated from the last, sharing
// a session id that every access token issued in it carries. Ending the session revokes the
// chain, and the access tokens with it (CheckSession).

// startSession stores a new refresh token for sessionID and issues an access token.
func (s *Service) startSession(ctx context.Context, tx *ent.Tx, u *ent.User, sessionID string) (*Session, error) {
	token, hash, err := auth.NewRefreshToken()
	if err != nil {
		return nil, fmt.Errorf("make refresh token: %w", err)
	}
	t := s.now()
	if _, err := tx.RefreshToken.Create().
		SetTokenHash(hash).
		SetSessionID(sessionID).
		SetUserID(u.ID).
		SetCreatedAt(t).
		SetExpiresAt(t.Add(s.refreshTTL)).
		Save(ctx); err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	access, exp, err := s.tokens.Issue(u.ID, sessionID)
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	return &Session{AccessToken: access, RefreshToken: token, ExpiresAt: exp, User: u}, nil
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var errBadRefresh = apperr.Unauthenticated("invalid refresh token")

// ErrSessionEnded refuses the tokens, and closes the sockets, of a session that ended.
var ErrSessionEnded = apperr.Unauthenticated("session has ended")

// sessionState is what CheckSession caches about a session id.
type sessionState struct {
	userID int
	live   bool
}

// CheckSession returns nil when v's session is live, and an UNAUTHENTICATED error when it
// has ended (signed out, revoked, its user deleted) or never existed. A session's state is
// cached: ending one is a change every instance hears of, so a live session costs no SQL.
func (s *Service) CheckSession(ctx context.Context, v auth.Viewer) error {
	st, ok := cache.GetSession[sessionState](ctx, s.entities, v.SessionID)
	if !ok {
		e := s.entities.Epoch(cache.Session)
		live, err := s.db.RefreshToken.Query().
			Where(refreshtoken.SessionID(v.SessionID), refreshtoken.UserID(v.UserID), refreshtoken.RevokedAtIsNil()).
			Exist(ctx)
		if err != nil {
			return fmt.Errorf("check session: %w", err)
		}
		st = sessionState{userID: v.UserID, live: live}
		cache.FillSession(s.entities, e, v.SessionID, st)
	}
	if !st.live || st.userID != v.UserID {
		return ErrSessionEnded
	}
	return nil
}

// RefreshSession rotates a refresh token. A token already used means it was copied:
// the whole session is revoked, and that revocation is kept although the call fails.
func (s *Service) RefreshSession(ctx context.Context, token string) (*Session, error) {
	var (
		sess   *Session
		reused bool
	)
	// The address budget comes first, so guessing tokens costs no database work; the
	// session's budget is known only once the token is found.
	if err := s.limits.CheckAddress(ctx, ratelimit.Refresh); err != nil {
		return nil, err
	}
	err := s.record(ctx, func(tx *ent.Tx, c *written) error {
		reused = false
		rt, err := tx.RefreshToken.Query().
			Where(refreshtoken.TokenHash(auth.HashRefreshToken(token))).
			ForUpdate().
			Only(ctx)
		if ent.IsNotFound(err) {
			return errBadRefresh
		}
		if err != nil {
			return fmt.Errorf("find refresh token: %w", err)
		}
		t := s.now()
		switch {
		case rt.RevokedAt != nil:
			return ErrSessionEnded
		case rt.UsedAt != nil:
			reused = true
			return s.endSessions(ctx, tx, &c.Set, t, refreshtoken.SessionID(rt.SessionID))
		case !t.Before(rt.ExpiresAt):
			return apperr.Unauthenticated("refresh token expired")
		}
		// After the replay check, so that a copied token still ends its session at once.
		if err := s.limits.CheckAccount(ctx, ratelimit.Refresh, rt.SessionID); err != nil {
			return err
		}
		if err := tx.RefreshToken.UpdateOne(rt).SetUsedAt(t).Exec(ctx); err != nil {
			return fmt.Errorf("spend refresh token: %w", err)
		}
		u, err := tx.User.Get(ctx, rt.UserID)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		sess, err = s.startSession(ctx, tx, u, rt.SessionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, apperr.Unauthenticated("refresh token was already used; the session has been ended")
	}
	return sess, nil
}

// maxListedSessions is how many ended sessions one change event names (about 35 bytes
// each); past it the event tells every instance to check all sessions again, since an
// event's payload is bounded (events.maxPayload).
const maxListedSessions = 32

// endSessions revokes the live sessions that match where, and records them in c so that
// their access tokens stop working on every instance.
func (s *Service) endSessions(ctx context.Context, tx *ent.Tx, c *change.Set, t time.Time, where ...predicate.RefreshToken) error {
	where = append(where, refreshtoken.RevokedAtIsNil())
	ids, err := tx.RefreshToken.Query().Where(where...).Unique(true).Select(refreshtoken.FieldSessionID).Strings(ctx)
	if err != nil {
		return fmt.Errorf("find sessions: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.RefreshToken.Update().Where(where...).SetRevokedAt(t).Save(ctx); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if len(c.Sessions)+len(ids) > maxListedSessions {
		c.Sessions, c.AllSessions = nil, true
	} else if !c.AllSessions {
		c.Sessions = append(c.Sessions, ids...)
	}
	return nil
}

// SignOut ends the session a refresh token belongs to. Unknown tokens are not an error:
// the outcome the client wants, no live session, already holds.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.record(ctx, func(tx *ent.Tx, c *written) error {
		rt, err := tx.RefreshToken.Query().
			Where(refreshtoken.TokenHash(auth.HashRefreshToken(token))).
			Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find refresh token: %w", err)
		}
		return s.endSessions(ctx, tx, &c.Set, s.now(), refreshtoken.SessionID(rt.SessionID))
	})
}
