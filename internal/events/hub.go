package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"inkwell/internal/apperr"
	"inkwell/internal/change"
)

// Defaults for the zero values of Config.
const (
	defaultBuffer       = 64
	defaultCatchUp      = 4096
	defaultMinReconnect = 500 * time.Millisecond
	// Short: after a failover the listening connection is back at most this long after
	// the new primary is, and subscribers wait no longer for what was published since.
	defaultMaxReconnect = 2 * time.Second
	defaultPing         = 30 * time.Second
	// startWait bounds how long Subscribe waits for the first LISTEN: a subscription
	// should fail rather than hang while the database is unreachable.
	startWait = 10 * time.Second
	// replayMargin is how far before the last sign of life of a lost connection its
	// replay starts. A log row is stamped when it is written, and its transaction may
	// commit later: after the write's notifications, a wait for the feed's lock, a
	// synchronous standby's acknowledgement (each statement bounded by the 5 s statement
	// timeout). An event stamped that much earlier that committed after the loss is
	// still replayed.
	replayMargin = time.Minute
	// replayTimeout bounds one reading of the log.
	replayTimeout = 30 * time.Second
)

// ErrSlowConsumer is why a subscription ended when its buffer was full: its client read
// too slowly, and holding more events for it would grow memory without bound.
var ErrSlowConsumer = &apperr.Error{
	Code:    apperr.CodeSlowConsumer,
	Message: "the subscription fell too far behind and was ended; subscribe again",
}

// ErrClosed is why a subscription ended, or could not start, when the hub stopped.
var ErrClosed = errors.New("events: hub closed")

// Config configures a Hub.
type Config struct {
	// DSN is the PostgreSQL connection string of the listening connection.
	DSN string
	// Buffer is how many events a subscriber may fall behind by before it is dropped
	// (default 64).
	Buffer int
	// CatchUp is how many it may fall behind by while it catches up (default 4096):
	// after a replay, which hands it at once what was published while the hub was not
	// listening, and while it says it is held up by the database (Subscription.Lagging).
	// A failover holds every subscriber up for seconds of writes, and the events queued
	// meanwhile are drained at its own pace rather than ending it as slow.
	CatchUp int
	// MinReconnect and MaxReconnect bound the wait between attempts to re-establish a
	// lost listening connection, doubling from the first to the second (defaults 500ms
	// and 2s).
	MinReconnect, MaxReconnect time.Duration
	// Ping is how often the listening connection is checked, so a dead one is noticed
	// and replaced even when no event arrives (default 30s).
	Ping time.Duration
	// Logger receives connection losses and undecodable payloads; nil is slog.Default().
	Logger *slog.Logger
	// OnChange receives what each committed write changed (KindChanged events), in
	// commit order, on the listening goroutine; it must not block.
	OnChange func(change.Set)
	// OnListening is told true when the hub listens (first, and after each reconnection,
	// before the events replayed from the log and those that follow) and false when its
	// connection is lost. The events published meanwhile are replayed, those of them
	// still in the log (Retention); a cache may still prefer to start over.
	OnListening func(bool)
	// Marks sends the position marks of WaitHeard: a pool on the primary that is in use
	// anyway. Nil sends them on the hub's own connection to DSN, opened for each.
	Marks Execer
}

// Hub is one server instance's end of the event stream: one listening connection and
// the instance's subscribers. It listens from the first Start or Subscribe until Close.
type Hub struct {
	cfg Config
	log *slog.Logger

	startOnce sync.Once
	listener  *pq.Listener
	ready     chan struct{} // closed when LISTEN first took effect, or on Close
	listenErr error         // why LISTEN failed; read after ready is closed

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup

	// db reads the event log after a reconnection; it holds no connection in between.
	db      *sql.DB
	ctx     context.Context // ends with Close, and with it a replay under way
	cancel  context.CancelFunc
	alive   atomic.Int64 // UnixNano of the last sign that the listening connection worked
	replays replayState
	// seen and replayed are the run goroutine's; replayed is read atomically.
	seen     seen
	replayed atomic.Uint64
	dropped  atomic.Uint64 // subscriptions ended as slow
	heard    heard

	mu     sync.Mutex
	topics map[Topic]map[*Subscription]struct{}
	count  int
	closed bool
}

// New returns a hub that is not listening yet.
func New(cfg Config) *Hub {
	if cfg.Buffer <= 0 {
		cfg.Buffer = defaultBuffer
	}
	if cfg.CatchUp < cfg.Buffer {
		cfg.CatchUp = max(defaultCatchUp, cfg.Buffer)
	}
	if cfg.MinReconnect <= 0 {
		cfg.MinReconnect = defaultMinReconnect
	}
	if cfg.MaxReconnect < cfg.MinReconnect {
		cfg.MaxReconnect = max(defaultMaxReconnect, cfg.MinReconnect)
	}
	if cfg.Ping <= 0 {
		cfg.Ping = defaultPing
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:    cfg,
		log:    log,
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		topics: map[Topic]map[*Subscription]struct{}{},
		ctx:    ctx,
		cancel: cancel,
	}
	h.heard.init()
	return h
}

// Start opens the listening connection, once, and waits until it listens or ctx ends.
// Events committed after Start returns nil reach this hub's subscribers. A connection
// that cannot be opened yet is retried in the background until Close.
func (h *Hub) Start(ctx context.Context) error {
	h.startOnce.Do(h.start)
	select {
	case <-h.ready:
	case <-ctx.Done():
		return fmt.Errorf("start listening for events: %w", ctx.Err())
	}
	select {
	case <-h.done:
		return ErrClosed
	default:
	}
	return h.listenErr
}

func (h *Hub) start() {
	// sql.Open only fails for an unknown driver, and lib/pq registers itself.
	h.db, _ = sql.Open("postgres", h.cfg.DSN)
	// Replays are rare, and a connection kept between them would likely be to a server
	// that has since failed over.
	h.db.SetMaxIdleConns(0)
	h.db.SetMaxOpenConns(1)
	h.listener = pq.NewListener(h.cfg.DSN, h.cfg.MinReconnect, h.cfg.MaxReconnect, h.connectionEvent)
	l := h.listener
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		// Listen blocks until the server acknowledged LISTEN; it returns early only on
		// Close or when the server refuses the statement.
		if err := l.Listen(Channel); err != nil && !h.stopping() {
			h.listenErr = fmt.Errorf("listen for events: %w", err)
			h.log.Error("events: listen", "err", err)
		} else if err == nil {
			h.markAlive()
			h.replays.connected(true)
			h.listening(true)
		}
		close(h.ready)
	}()
	go h.run(l)
}

func (h *Hub) connectionEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		h.replays.lost(h.lastAlive().Add(-replayMargin))
		h.listening(false)
		h.log.Warn("events: listening connection lost; the events published until it is back will be replayed from the event log", "err", err)
	case pq.ListenerEventConnectionAttemptFailed:
		h.log.Warn("events: cannot reach the database to listen", "err", err)
	case pq.ListenerEventReconnected:
		h.log.Info("events: listening again")
	}
}

func (h *Hub) stopping() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// run delivers notifications until Close.
func (h *Hub) run(l *pq.Listener) {
	defer h.wg.Done()
	ping := time.NewTicker(h.cfg.Ping)
	defer ping.Stop()
	for {
		select {
		case n, ok := <-l.Notify:
			if !ok {
				return
			}
			// nil follows a reconnection: the events committed while the connection was
			// down are in the log, and go out before those that follow it.
			if n == nil {
				h.markAlive()
				h.replays.connected(true)
				h.listening(true)
				h.replay()
				continue
			}
			h.markAlive()
			h.deliver(n.Extra)
		case <-ping.C:
			// A replay that failed is tried again while connected.
			h.replay()
			// Aside: a ping waits for its answer, which may queue behind notifications
			// that only this loop drains.
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				sent := time.Now()
				if l.Ping() == nil {
					h.markAliveAt(sent)
				}
			}()
		case <-h.done:
			// The listener may still be handing over a notification; drain until it
			// closes its channel so its goroutine can end.
			go func() {
				for range l.Notify {
				}
			}()
			return
		}
	}
}

func (h *Hub) listening(on bool) {
	if h.cfg.OnListening != nil {
		h.cfg.OnListening(on)
	}
}

func (h *Hub) markAlive() { h.markAliveAt(time.Now()) }

// markAliveAt records that the listening connection worked at t, unless a later sign is
// recorded already.
func (h *Hub) markAliveAt(t time.Time) {
	n := t.UnixNano()
	for old := h.alive.Load(); old < n && !h.alive.CompareAndSwap(old, n); old = h.alive.Load() {
	}
}

// lastAlive is the last sign that the listening connection worked; now if there is none
// yet, the connection having just been made.
func (h *Hub) lastAlive() time.Time {
	if n := h.alive.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Now()
}

// deliver hands a received payload out, unless it was replayed already.
func (h *Hub) deliver(payload string) {
	var e Event
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		h.log.Warn("events: undecodable payload", "err", err, "bytes", len(payload))
		return
	}
	if e.Kind == KindMark {
		h.heard.raise(e.Pos)
		return
	}
	// An event without an id comes from an instance that does not log events yet.
	if e.ID != 0 {
		if h.seen.delivered(e.ID) {
			return
		}
		h.seen.mark(e.ID)
	}
	h.deliverEvent(e, false)
}

// replay delivers the logged events of the time the listening connection was down that
// were not delivered, in id order, when there is such a time to replay and the hub
// listens. A replay that fails stays due.
func (h *Hub) replay() {
	from, gen, due := h.replays.due()
	if !due {
		return
	}
	if from.Before(time.Now().Add(-Retention)) {
		h.log.Warn("events: the listening connection was down for longer than the event log keeps events; some are missed",
			"since", from, "retention", Retention)
	}
	n, err := h.readLog(from)
	if err != nil {
		h.log.Warn("events: cannot read the event log; the events published while not listening are not replayed yet",
			"err", err, "since", from, "replayed", n)
		return
	}
	h.replays.done(gen)
	h.log.Info("events: listening again; replayed the events missed meanwhile", "events", n, "since", from)
}

// readLog delivers the events logged since from that were not delivered, in id order.
func (h *Hub) readLog(from time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(h.ctx, replayTimeout)
	defer cancel()
	rows, err := h.db.QueryContext(ctx, `SELECT id, payload FROM event_log WHERE created_at >= $1 ORDER BY id`, from)
	if err != nil {
		return 0, fmt.Errorf("read event log: %w", err)
	}
	defer func() { _ = rows.Close() }()
	n := 0
	for rows.Next() {
		var id int64
		var payload []byte
		if err := rows.Scan(&id, &payload); err != nil {
			return n, fmt.Errorf("read event log: %w", err)
		}
		if h.seen.delivered(id) || h.seen.forgotten(id) {
			continue
		}
		var e Event
		if err := json.Unmarshal(payload, &e); err != nil {
			h.log.Warn("events: undecodable logged event", "err", err, "id", id)
			continue
		}
		e.ID = id
		h.seen.mark(id)
		// Counted first: a subscriber may read the event before deliverEvent returns.
		h.replayed.Add(1)
		h.deliverEvent(e, true)
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read event log: %w", err)
	}
	return n, nil
}

// Replayed returns how many events this hub has delivered from the log, after
// reconnecting, rather than as they were published.
func (h *Hub) Replayed() uint64 { return h.replayed.Load() }

// Dropped returns how many subscriptions this hub has ended for falling too far behind
// (ErrSlowConsumer).
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }

// deliverEvent queues e for its subscribers, ending as slow any that is too far behind
// to take it. A replayed event lets each subscriber it reaches catch up.
func (h *Hub) deliverEvent(e Event, replayed bool) {
	// What the write changed first, so that subscribers load past it; a write's event for
	// subscribers carries its change set in the same payload.
	if e.Changed != nil && h.cfg.OnChange != nil {
		h.cfg.OnChange(*e.Changed)
	}
	if e.Kind == KindChanged && !e.NotifiedAll && len(e.Notified) == 0 {
		return
	}
	e.Delivery = &Delivery{}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range e.topics() {
		for s := range h.topics[t] {
			// Never a wait: one slow client must not hold up the others, nor the
			// listening connection.
			if s.push(e, replayed) {
				continue
			}
			h.log.Warn("events: a subscriber fell too far behind and is dropped",
				"topic", t.String(), "event", e.ID, "replayed", replayed)
			h.dropped.Add(1)
			h.endLocked(s, ErrSlowConsumer)
		}
	}
}

// Close stops listening and ends every subscription with ErrClosed. Done is closed
// first. Close may be called more than once.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		close(h.done)
		h.cancel()
		// A hub that never started has nothing to stop, and must not start later.
		h.startOnce.Do(func() { close(h.ready) })
		if h.listener != nil {
			_ = h.listener.Close()
		}
		h.wg.Wait()
		if h.db != nil {
			_ = h.db.Close()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.closed = true
		for _, subs := range h.topics {
			for s := range subs {
				h.endLocked(s, ErrClosed)
			}
		}
	})
}

// Done is closed when Close is called.
func (h *Hub) Done() <-chan struct{} { return h.done }

// CatchingUp returns how many active subscriptions are catching up (Config.CatchUp).
func (h *Hub) CatchingUp() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, subs := range h.topics {
		for s := range subs {
			s.mu.Lock()
			if s.catching {
				n++
			}
			s.mu.Unlock()
		}
	}
	return n
}

// Count returns the number of active subscriptions.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Subscribe starts a subscription to topic; it ends when ctx ends, when Close is called
// on it or on the hub, or when it falls Buffer events behind (CatchUp while catching up).
// Under a context made by WithLimit it is refused with TOO_MANY_SUBSCRIPTIONS beyond the
// limit.
func (h *Hub) Subscribe(ctx context.Context, topic Topic) (*Subscription, error) {
	sctx, cancel := context.WithTimeout(ctx, startWait)
	err := h.Start(sctx)
	cancel()
	if err != nil {
		return nil, err
	}
	lim := limitFrom(ctx)
	if !lim.acquire() {
		return nil, &apperr.Error{
			Code:    apperr.CodeTooManySubscriptions,
			Message: fmt.Sprintf("at most %d subscriptions may be active on one connection", lim.max),
		}
	}
	s := &Subscription{hub: h, topic: topic, limit: lim, buffer: h.cfg.Buffer, catchUp: h.cfg.CatchUp, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		lim.release()
		return nil, ErrClosed
	}
	subs := h.topics[topic]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		h.topics[topic] = subs
	}
	subs[s] = struct{}{}
	h.count++
	h.mu.Unlock()

	// Registered after the subscription is, so that a ctx already done ends it at once.
	stop := context.AfterFunc(ctx, s.Close)
	h.mu.Lock()
	if s.ended {
		stop()
	} else {
		s.stop = stop
	}
	h.mu.Unlock()
	return s, nil
}

// endLocked ends s with err (nil for a subscriber that left); h.mu is held.
func (h *Hub) endLocked(s *Subscription, err error) {
	if s.ended {
		return
	}
	s.ended = true
	subs := h.topics[s.topic]
	delete(subs, s)
	if len(subs) == 0 {
		delete(h.topics, s.topic)
	}
	h.count--
	s.err = err
	s.end(errors.Is(err, ErrSlowConsumer))
	s.limit.release()
	if s.stop != nil {
		s.stop()
	}
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	hub   *Hub
	topic Topic
	limit *limit
	// How many events it may fall behind by, normally and while catching up.
	buffer, catchUp int
	wake            chan struct{} // signalled when queue or over change

	// Guarded by hub.mu.
	ended bool
	err   error
	stop  func() bool

	mu       sync.Mutex
	queue    []Event // what the subscriber has not read yet, oldest first
	catching bool    // catching up: behind by up to catchUp, until the queue is read
	over     bool    // ended: Next returns false once the queue is read
}

// push queues e, unless the subscriber is already as far behind as it may be.
func (s *Subscription) push(e Event, catchUp bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if catchUp {
		s.catching = true
	}
	limit := s.buffer
	if s.catching {
		limit = s.catchUp
	}
	if len(s.queue) >= limit {
		return false
	}
	s.queue = append(s.queue, e)
	s.signal()
	return true
}

// end marks the subscription ended. A slow one's queue goes at once: its client will
// have to start over anyway, and the queue may be thousands of events long.
func (s *Subscription) end(discard bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.over = true
	if discard {
		s.queue = nil
	}
	s.signal()
}

func (s *Subscription) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for it until ctx ends. It returns false when ctx
// ended, or when the subscription did and every event queued before was read (none, when
// it was ended as slow); Err then says why.
func (s *Subscription) Next(ctx context.Context) (Event, bool) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue[0] = Event{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				// Caught up. A queue grown past the usual buffer while catching up
				// gives its memory back.
				s.catching = false
				if cap(s.queue) > s.buffer {
					s.queue = nil
				}
			}
			s.mu.Unlock()
			return e, true
		}
		over := s.over
		s.mu.Unlock()
		if over {
			return Event{}, false
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return Event{}, false
		}
	}
}

// Queued returns how many events wait to be read.
func (s *Subscription) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Lagging says that the subscriber is held up by the server rather than by its client
// (its reads wait for the database): until it has read everything queued, it may fall
// behind by Config.CatchUp events rather than Buffer. It may be called from any
// goroutine.
func (s *Subscription) Lagging() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catching = true
}

// Err returns why the subscription ended: nil when its subscriber left, ErrSlowConsumer
// or ErrClosed.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close ends the subscription. It may be called more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s, nil)
}

// limit counts the active subscriptions of one connection.
type limit struct {
	max int
	mu  sync.Mutex
	n   int
}

type limitKey struct{}

// WithLimit returns ctx under which at most max subscriptions may be active at once,
// counted together for every Subscribe with ctx or a context derived from it. The
// WebSocket transport installs one per connection. max <= 0 means no limit.
func WithLimit(ctx context.Context, max int) context.Context {
	if max <= 0 {
		return ctx
	}
	return context.WithValue(ctx, limitKey{}, &limit{max: max})
}

func limitFrom(ctx context.Context) *limit {
	l, _ := ctx.Value(limitKey{}).(*limit)
	return l
}

func (l *limit) acquire() bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n >= l.max {
		return false
	}
	l.n++
	return true
}

func (l *limit) release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n--
}

// replayState is what is left to replay: the time from which the log holds events that
// may have been missed, set when the connection is lost and cleared by a replay that
// succeeded after it is back.
type replayState struct {
	mu     sync.Mutex
	from   time.Time // zero when nothing is to replay
	gen    int       // counts losses, so a replay clears only what it covered
	listen bool
}

// lost records a lost connection whose events may be missed from from on.
func (r *replayState) lost(from time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listen = false
	r.gen++
	if r.from.IsZero() || from.Before(r.from) {
		r.from = from
	}
}

func (r *replayState) connected(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listen = on
}

// due returns where a replay starts, and whether one is due: not while the connection
// is down, since events committed later would be missed by it.
func (r *replayState) due() (time.Time, int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.from, r.gen, r.listen && !r.from.IsZero()
}

// done records that the replay that started at generation gen covered everything.
func (r *replayState) done(gen int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == gen {
		r.from = time.Time{}
	}
}

// seenWindow is how many of the latest event ids seen remembers, a bit each (128 KiB):
// far more than are taken within replayMargin at any rate this server writes.
const seenWindow = 1 << 20

// seen remembers which of the latest event ids were delivered. Ids are taken from one
// sequence, so the latest ones fit a ring of bits; an id too old for it is forgotten.
type seen struct {
	bits []uint64
	hi   int64 // the highest id marked
}

func (s *seen) delivered(id int64) bool {
	if id > s.hi || s.forgotten(id) {
		return false
	}
	i := id % seenWindow
	return s.bits[i/64]&(1<<(i%64)) != 0
}

// forgotten reports whether id is too old to be remembered: a replay skips it, since an
// event a million ids old cannot have been committed in the window replayed.
func (s *seen) forgotten(id int64) bool { return id <= s.hi-seenWindow }

func (s *seen) mark(id int64) {
	if s.bits == nil {
		s.bits = make([]uint64, seenWindow/64)
	}
	if s.forgotten(id) {
		return
	}
	if id > s.hi {
		// The slots of the ids between are reused: clear what they held.
		if id-s.hi >= seenWindow {
			clear(s.bits)
		} else {
			for n := s.hi + 1; n < id; n++ {
				i := n % seenWindow
				s.bits[i/64] &^= 1 << (i % 64)
			}
		}
		s.hi = id
	}
	i := id % seenWindow
	s.bits[i/64] |= 1 << (i % 64)
}
