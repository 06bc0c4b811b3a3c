package events_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/apperr"
	"inkwell/internal/change"
	"inkwell/internal/events"
	"inkwell/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// wait bounds every receive: a missing event fails the test rather than hanging it.
const wait = 10 * time.Second

// quiet is how long a test listens to conclude that nothing more arrives. NOTIFY reaches
// a listener on loopback in about a millisecond.
const quiet = 300 * time.Millisecond

type fixture struct {
	dsn string
	db  *sql.DB
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dsn := pgtest.New(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return fixture{dsn: dsn, db: db}
}

func (f fixture) hub(t *testing.T, cfg events.Config) *events.Hub {
	t.Helper()
	cfg.DSN = f.dsn
	if cfg.MinReconnect == 0 {
		cfg.MinReconnect = 50 * time.Millisecond
		cfg.MaxReconnect = 200 * time.Millisecond
	}
	h := events.New(cfg)
	t.Cleanup(h.Close)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// publish commits evs in one transaction.
func (f fixture) publish(t *testing.T, evs ...events.Event) {
	t.Helper()
	publishOn(t, f.db, evs...)
}

func subscribe(t *testing.T, ctx context.Context, h *events.Hub, topic events.Topic) *events.Subscription {
	t.Helper()
	s, err := h.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// within is s.Next, waiting at most d.
func within(s *events.Subscription, d time.Duration) (events.Event, bool, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	e, ok := s.Next(ctx)
	return e, ok, ctx.Err() != nil
}

func next(t *testing.T, s *events.Subscription) events.Event {
	t.Helper()
	e, ok, timedOut := within(s, wait)
	switch {
	case timedOut:
		t.Fatal("no event")
	case !ok:
		t.Fatalf("subscription ended: %v", s.Err())
	}
	return e
}

func nothing(t *testing.T, s *events.Subscription) {
	t.Helper()
	if e, ok, _ := within(s, quiet); ok {
		t.Fatalf("unexpected event %+v", e)
	}
}

func ended(t *testing.T, s *events.Subscription) error {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		_, ok, timedOut := within(s, time.Until(deadline))
		switch {
		case timedOut:
			t.Fatal("subscription did not end")
		case !ok:
			return s.Err()
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliveryByTopic(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	ctx := context.Background()
	comments := subscribe(t, ctx, h, events.CommentsOn(1))
	comments2 := subscribe(t, ctx, h, events.CommentsOn(1))
	favorites := subscribe(t, ctx, h, events.FavoritesOf(1))
	other := subscribe(t, ctx, h, events.CommentsOn(2))
	articles := subscribe(t, ctx, h, events.NewArticles)

	f.publish(t, events.CommentAdded(1, 10), events.FavoriteChanged(1, 3), events.ArticleCreated(5, 7))
	// received strips the Delivery, which only the hub sets, after checking it is set.
	received := func(e events.Event) events.Event {
		t.Helper()
		if e.Delivery == nil || e.ID == 0 {
			t.Errorf("%s arrived without its Delivery or log id", e.Kind)
		}
		e.Delivery, e.ID = nil, 0
		return e
	}
	first, second := next(t, comments), next(t, comments2)
	if first.Delivery != second.Delivery {
		t.Error("two subscribers of one event got different Deliveries: they would load it twice")
	}
	if got, want := received(first), events.CommentAdded(1, 10); !reflect.DeepEqual(got, want) {
		t.Errorf("comments got %+v, want %+v", got, want)
	}
	if got, want := received(next(t, favorites)), events.FavoriteChanged(1, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("favorites got %+v, want %+v", got, want)
	}
	if got, want := received(next(t, articles)), events.ArticleCreated(5, 7); !reflect.DeepEqual(got, want) {
		t.Errorf("articles got %+v, want %+v", got, want)
	}
	nothing(t, other)

	// A deletion reaches both topics of the article and only them.
	f.publish(t, events.ArticleDeleted(1))
	for _, s := range []*events.Subscription{comments, favorites} {
		if got := next(t, s); got.Kind != events.KindArticleDeleted || got.ArticleID != 1 {
			t.Errorf("got %+v, want the deletion of article 1", got)
		}
	}
	nothing(t, other)
	nothing(t, articles)
}

func TestRolledBackWritePublishesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))

	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Publish(context.Background(), tx, events.CommentAdded(1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	f.publish(t, events.CommentAdded(1, 2))
	// The committed event is the first to arrive: the rolled-back one never does.
	if got := next(t, s); got.CommentID != 2 {
		t.Fatalf("got %+v, want comment 2", got)
	}
	nothing(t, s)
}

func TestCommitOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{Buffer: 100})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))
	const n = 30
	for i := 1; i <= n; i++ {
		f.publish(t, events.CommentAdded(1, i))
	}
	for i := 1; i <= n; i++ {
		if got := next(t, s); got.CommentID != i {
			t.Fatalf("event %d is comment %d", i, got.CommentID)
		}
	}
}

func TestEveryInstanceHears(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.hub(t, events.Config{})
	b := f.hub(t, events.Config{})
	sa := subscribe(t, context.Background(), a, events.NewArticles)
	sb := subscribe(t, context.Background(), b, events.NewArticles)
	f.publish(t, events.ArticleCreated(3, 4))
	for _, s := range []*events.Subscription{sa, sb} {
		if got := next(t, s); got.ArticleID != 3 {
			t.Errorf("got %+v", got)
		}
	}
}

func TestSlowConsumerIsDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const buffer = 4
	h := f.hub(t, events.Config{Buffer: buffer})
	slow := subscribe(t, context.Background(), h, events.CommentsOn(1))
	fast := subscribe(t, context.Background(), h, events.CommentsOn(1))

	// One event at a time, each read by the fast subscriber before the next is sent,
	// while the slow one reads nothing.
	const n = 3 * buffer
	for i := 1; i <= n; i++ {
		f.publish(t, events.CommentAdded(1, i))
		if got := next(t, fast); got.CommentID != i {
			t.Fatalf("fast subscriber got comment %d, want %d", got.CommentID, i)
		}
	}
	// The slow subscriber's queue went with it: it ends at once.
	if e, ok, timedOut := within(slow, wait); timedOut || ok {
		t.Fatalf("slow subscriber got %+v (ok %v, timed out %v), want its end", e, ok, timedOut)
	}
	if err := slow.Err(); !errors.Is(err, events.ErrSlowConsumer) || apperr.CodeOf(err) != apperr.CodeSlowConsumer {
		t.Fatalf("slow subscriber ended with %v, want ErrSlowConsumer", err)
	}
	if got := h.Count(); got != 1 {
		t.Fatalf("hub counts %d subscriptions, want 1 (the fast one)", got)
	}
	if got := h.Dropped(); got != 1 {
		t.Fatalf("hub counts %d subscriptions dropped, want 1", got)
	}
	// The fast one goes on.
	f.publish(t, events.CommentAdded(1, n+1))
	if got := next(t, fast); got.CommentID != n+1 {
		t.Fatalf("fast subscriber got %+v", got)
	}
}

func TestPerConnectionLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	conn := events.WithLimit(context.Background(), 2)
	first := subscribe(t, conn, h, events.NewArticles)
	opCtx, cancel := context.WithCancel(conn)
	subscribe(t, opCtx, h, events.CommentsOn(1))

	_, err := h.Subscribe(conn, events.CommentsOn(2))
	if apperr.CodeOf(err) != apperr.CodeTooManySubscriptions {
		t.Fatalf("third subscription: got %v, want %s", err, apperr.CodeTooManySubscriptions)
	}
	// Another connection has its own count.
	subscribe(t, events.WithLimit(context.Background(), 2), h, events.CommentsOn(2))

	// Ending one, by its context or by Close, frees its slot.
	cancel()
	eventually(t, "a free slot", func() bool { return h.Count() == 2 })
	subscribe(t, conn, h, events.CommentsOn(3))
	first.Close()
	subscribe(t, conn, h, events.CommentsOn(4))
	if _, err := h.Subscribe(conn, events.CommentsOn(5)); apperr.CodeOf(err) != apperr.CodeTooManySubscriptions {
		t.Fatalf("over the limit again: got %v", err)
	}
}

func TestSubscriptionEndsWithItsContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	s := subscribe(t, ctx, h, events.NewArticles)
	if h.Count() != 1 {
		t.Fatalf("count = %d", h.Count())
	}
	cancel()
	if err := ended(t, s); err != nil {
		t.Fatalf("ended with %v, want nil", err)
	}
	if h.Count() != 0 {
		t.Fatalf("count = %d after the end", h.Count())
	}
}

func TestReconnect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	s := subscribe(t, context.Background(), h, events.NewArticles)

	// Kill the listening connection, as a database restart or a network cut would.
	var killed int
	eventually(t, "the listening connection to be killed", func() bool {
		err := f.db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`).Scan(&killed)
		if err != nil {
			t.Fatal(err)
		}
		return killed > 0
	})
	// Events published after the hub has listened again arrive; keep publishing until
	// one does. The subscription itself survives the loss.
	id := 0
	deadline := time.Now().Add(wait)
	for {
		id++
		f.publish(t, events.ArticleCreated(id, 1))
		e, ok, timedOut := within(s, 100*time.Millisecond)
		if !timedOut {
			if !ok {
				t.Fatalf("subscription ended: %v", s.Err())
			}
			if e.Kind != events.KindArticleCreated {
				t.Fatalf("got %+v", e)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no event after the connection was lost")
		}
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	s := subscribe(t, context.Background(), h, events.NewArticles)
	h.Close()
	select {
	case <-h.Done():
	default:
		t.Fatal("Done is open after Close")
	}
	if err := ended(t, s); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("ended with %v, want ErrClosed", err)
	}
	if _, err := h.Subscribe(context.Background(), events.NewArticles); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	h.Close() // twice is fine

	// A hub closed before it started never starts.
	idle := events.New(events.Config{DSN: f.dsn})
	idle.Close()
	if err := idle.Start(context.Background()); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestPayloadsAreSmall(t *testing.T) {
	t.Parallel()
	const big = 1<<31 - 1
	for _, e := range []events.Event{
		events.CommentAdded(big, big), events.FavoriteChanged(big, big),
		events.ArticleCreated(big, big), events.ArticleDeleted(big),
	} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 100 {
			t.Errorf("%s payload is %d bytes: %s", e.Kind, len(b), b)
		}
	}
}

// A write's event for subscribers carries its change set: one NOTIFY tells the caches
// (first) and the subscribers.
func TestEventCarriesItsChangeSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	changed := make(chan change.Set, 1)
	h := f.hub(t, events.Config{OnChange: func(s change.Set) { changed <- s }})
	comments := subscribe(t, context.Background(), h, events.CommentsOn(3))

	e := events.CommentAdded(3, 30)
	e.Changed = &change.Set{CommentsOf: []int{3}}
	f.publish(t, e)
	select {
	case s := <-changed:
		if len(s.CommentsOf) != 1 || s.CommentsOf[0] != 3 {
			t.Fatalf("OnChange got %+v", s)
		}
	case <-time.After(wait):
		t.Fatal("the change set was not applied")
	}
	if got := next(t, comments); got.Kind != events.KindCommentAdded || got.CommentID != 30 {
		t.Fatalf("subscriber got %+v", got)
	}
}

// killListener terminates the hub's listening connection, as a failover or a network cut
// would, and waits until the hub has noticed.
func killListener(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, lost <-chan bool) {
	t.Helper()
	eventually(t, "the listening connection to be killed", func() bool {
		var killed int
		if err := q.QueryRowContext(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
			t.Fatal(err)
		}
		return killed > 0
	})
	// What it said of an earlier reconnection may come first.
	deadline := time.After(wait)
	for {
		select {
		case on := <-lost:
			if !on {
				return
			}
		case <-deadline:
			t.Fatal("the hub did not notice its connection was lost")
		}
	}
}

// listenings records what the hub tells OnListening after it first listened.
// waitListening waits until the hub said it listens again.
func waitListening(t *testing.T, on <-chan bool) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case v := <-on:
			if v {
				return
			}
		case <-deadline:
			t.Fatal("the hub did not listen again")
		}
	}
}

func listenings() (chan bool, func(bool)) {
	ch := make(chan bool, 100)
	first := true
	return ch, func(on bool) {
		if first {
			first = false
			return
		}
		ch <- on
	}
}

// publishOn commits evs in one transaction on db, a pool or one of its connections.
func publishOn(t *testing.T, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, evs ...events.Event) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if err := events.Publish(context.Background(), tx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// Events committed while the listening connection is down reach the subscribers once it
// is back, each once, in order, before the live ones; so does one written before the loss
// and committed during it. The database refuses new connections for the while, so the
// hub cannot be back before they are all committed, however fast or slow the machine.
func TestReplayAfterLostConnection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	listening, onListening := listenings()
	h := f.hub(t, events.Config{Buffer: 100, OnListening: onListening})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))
	ctx := context.Background()

	// One delivered before the loss: it is in the replayed window, and must not come again.
	f.publish(t, events.CommentAdded(1, 1))
	if got := next(t, s); got.CommentID != 1 || got.ID == 0 {
		t.Fatalf("got %+v, want comment 1 with its log id", got)
	}
	conn, err := f.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	straddling, err := f.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Publish(ctx, straddling, events.CommentAdded(1, 2)); err != nil {
		t.Fatal(err)
	}
	allow := allowConnections(t, f)
	allow(false)
	killListener(t, conn, listening)

	if err := straddling.Commit(); err != nil {
		t.Fatal(err)
	}
	const gap = 12
	for i := 3; i <= gap; i++ {
		publishOn(t, conn, events.CommentAdded(1, i))
	}
	nothing(t, s)
	allow(true)

	var last int64
	for i := 2; i <= gap; i++ {
		got := next(t, s)
		if got.CommentID != i {
			t.Fatalf("event %d after the reconnection is comment %d", i, got.CommentID)
		}
		if got.ID <= last || got.Delivery == nil {
			t.Fatalf("replayed %+v: want a growing log id and a Delivery", got)
		}
		last = got.ID
	}
	if got := h.Replayed(); got != gap-1 {
		t.Errorf("Replayed() = %d, want %d", got, gap-1)
	}
	// Live ones follow, once each.
	for i := gap + 1; i <= gap+3; i++ {
		f.publish(t, events.CommentAdded(1, i))
		if got := next(t, s); got.CommentID != i {
			t.Fatalf("live event is comment %d, want %d", got.CommentID, i)
		}
	}
	nothing(t, s)
	if got := h.Replayed(); got != gap-1 {
		t.Errorf("Replayed() = %d after live events, want still %d", got, gap-1)
	}
}

// While events are published one after another, the listening connection is lost twice:
// whatever falls in the gaps, or both in a replay and live, arrives once, in order.
func TestReplayWhilePublishing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	listening, onListening := listenings()
	h := f.hub(t, events.Config{Buffer: 1000, OnListening: onListening})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))

	const n = 150
	published := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			tx, err := f.db.Begin()
			if err == nil {
				if err = events.Publish(context.Background(), tx, events.CommentAdded(1, i)); err == nil {
					err = tx.Commit()
				} else {
					_ = tx.Rollback()
				}
			}
			if err != nil {
				published <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		published <- nil
	}()
	for i := 1; i <= n; i++ {
		if i == 30 || i == 90 {
			killListener(t, f.db, listening)
		}
		if got := next(t, s); got.CommentID != i {
			t.Fatalf("event %d is comment %d", i, got.CommentID)
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	nothing(t, s)
}

// The statement of a writer with its own FROM item (internal/service/notify.go) logs and
// notifies like Publish.
func TestPublishWith(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	s := subscribe(t, context.Background(), h, events.NewArticles)
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.PublishWith(context.Background(), tx, events.ArticleCreated(7, 8),
		`(SELECT pg_advisory_xact_lock($1, $2)) locked`, 1, 2); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := next(t, s)
	var payload string
	if err := f.db.QueryRow(`SELECT payload FROM event_log WHERE id = $1`, got.ID).Scan(&payload); err != nil {
		t.Fatalf("event %+v is not in the log: %v", got, err)
	}
	var logged events.Event
	if err := json.Unmarshal([]byte(payload), &logged); err != nil || logged.Kind != events.KindArticleCreated || logged.ArticleID != 7 {
		t.Fatalf("logged %s (%v), want the new article 7", payload, err)
	}
}

func TestTooLargeEventIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tx, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	e := events.ArticleCreated(1, 1)
	for i := range 2000 {
		e.Notified = append(e.Notified, 1000+i)
	}
	if err := events.Publish(context.Background(), tx, e); err == nil {
		t.Fatal("an event over the payload limit was published")
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.publish(t, events.CommentAdded(1, 1), events.CommentAdded(1, 2), events.CommentAdded(1, 3))
	if _, err := f.db.Exec(`UPDATE event_log SET created_at = created_at - $1 * interval '1 second'
		WHERE id IN (SELECT id FROM event_log ORDER BY id LIMIT 2)`, (events.Retention + time.Minute).Seconds()); err != nil {
		t.Fatal(err)
	}
	left := func() []int {
		t.Helper()
		rows, err := f.db.Query(`SELECT payload FROM event_log ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var p string
			var e events.Event
			if err := rows.Scan(&p); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(p), &e); err != nil {
				t.Fatal(err)
			}
			out = append(out, e.CommentID)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// While another instance prunes, this one deletes nothing.
	other, err := f.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var pruneLock int64 = 0x1c0e0
	if _, err := other.Exec(`SELECT pg_advisory_xact_lock($1)`, pruneLock); err != nil {
		t.Fatal(err)
	}
	if n, err := events.Prune(ctx, f.db, events.Retention); err != nil || n != 0 {
		t.Fatalf("Prune beside another = %d, %v; want 0 and no wait", n, err)
	}
	if err := other.Rollback(); err != nil {
		t.Fatal(err)
	}

	n, err := events.Prune(ctx, f.db, events.Retention)
	if err != nil {
		t.Fatal(err)
	}
	if got := left(); n != 2 || !reflect.DeepEqual(got, []int{3}) {
		t.Fatalf("Prune deleted %d, left %v; want 2 deleted and comment 3 left", n, got)
	}
}

// A replay hands a subscriber more events than its buffer holds, and the events published
// after it come while the subscriber still reads the replayed ones: it catches up at its
// own pace rather than being ended as slow. Once caught up, its buffer is the usual one.
func TestReplayLetsSubscribersCatchUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	listening, onListening := listenings()
	const buffer, gap, live = 4, 30, 3 * 4
	h := f.hub(t, events.Config{Buffer: buffer, CatchUp: 100, OnListening: onListening})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))
	ctx := context.Background()
	conn, err := f.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	allow := allowConnections(t, f)
	allow(false)
	killListener(t, conn, listening)
	for i := 1; i <= gap; i++ {
		publishOn(t, conn, events.CommentAdded(1, i))
	}
	allow(true)
	waitListening(t, listening)
	// More than a buffer's worth published live, before the subscriber reads anything.
	for i := gap + 1; i <= gap+live; i++ {
		publishOn(t, conn, events.CommentAdded(1, i))
	}
	eventually(t, "every event to be queued", func() bool { return s.Queued() == gap+live })
	for i := 1; i <= gap+live; i++ {
		if got := next(t, s); got.CommentID != i {
			t.Fatalf("event %d after the reconnection is comment %d", i, got.CommentID)
		}
	}
	nothing(t, s)
	fallsBehindAgain(t, f, h, s, buffer)
}

// fallsBehindAgain checks that s, caught up, is ended as slow once it falls its buffer
// behind while it reads nothing.
func fallsBehindAgain(t *testing.T, f fixture, h *events.Hub, s *events.Subscription, buffer int) {
	t.Helper()
	subs := h.Count()
	for i := 1; i <= buffer+1; i++ {
		f.publish(t, events.CommentAdded(1, 100+i))
	}
	eventually(t, "the subscriber that fell behind again to be ended", func() bool { return h.Count() == subs-1 })
	if err := ended(t, s); !errors.Is(err, events.ErrSlowConsumer) {
		t.Fatalf("after catching up, a subscriber a buffer behind ended with %v, want ErrSlowConsumer", err)
	}
}

// A subscriber held up by the database (Lagging) may fall behind by more than its buffer
// until it has caught up.
func TestLaggingSubscriberCatchesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const buffer, behind = 4, 20
	h := f.hub(t, events.Config{Buffer: buffer, CatchUp: 50})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))
	s.Lagging()
	for i := 1; i <= behind; i++ {
		f.publish(t, events.CommentAdded(1, i))
	}
	eventually(t, "every event to be queued", func() bool { return s.Queued() == behind })
	for i := 1; i <= behind; i++ {
		if got := next(t, s); got.CommentID != i {
			t.Fatalf("event %d is comment %d", i, got.CommentID)
		}
	}
	nothing(t, s)
	fallsBehindAgain(t, f, h, s, buffer)
}

// allowConnections returns a function that allows or refuses new connections to f's
// database, switched from another database, and allows them again when t ends.
func allowConnections(t *testing.T, f fixture) func(bool) {
	t.Helper()
	var name string
	if err := f.db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	admin, err := sql.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	allow := func(on bool) {
		t.Helper()
		if _, err := admin.ExecContext(context.Background(), fmt.Sprintf(`ALTER DATABASE %q ALLOW_CONNECTIONS %t`, name, on)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		allow(true)
		admin.Close()
	})
	return allow
}
