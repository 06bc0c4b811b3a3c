package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"

	"inkwell/internal/apperr"
	"inkwell/internal/change"
)

// Defaults for the zero values of Config.
const (
	defaultBuffer       = 64
	defaultMinReconnect = 500 * time.Millisecond
	defaultMaxReconnect = 30 * time.Second
	defaultPing         = 30 * time.Second
	// startWait bounds how long Subscribe waits for the first LISTEN: a subscription
	// should fail rather than hang while the database is unreachable.
	startWait = 10 * time.Second
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
	// MinReconnect and MaxReconnect bound the wait between attempts to re-establish a
	// lost listening connection, doubling from the first to the second (defaults 500ms
	// and 30s).
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
	// before the events that follow it) and false when its connection is lost: events
	// published meanwhile are missed.
	OnListening func(bool)
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
	return &Hub{
		cfg:    cfg,
		log:    log,
		ready:  make(chan struct{}),
		done:   make(chan struct{}),
		topics: map[Topic]map[*Subscription]struct{}{},
	}
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
			h.listening(true)
		}
		close(h.ready)
	}()
	go h.run(l)
}

func (h *Hub) connectionEvent(ev pq.ListenerEventType, err error) {
	switch ev {
	case pq.ListenerEventDisconnected:
		h.listening(false)
		h.log.Warn("events: listening connection lost; events published until it is back are missed", "err", err)
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
			// nil follows a reconnection; the missed events cannot be known.
			if n == nil {
				h.listening(true)
				continue
			}
			h.deliver(n.Extra)
		case <-ping.C:
			// Aside: a ping waits for its answer, which may queue behind notifications
			// that only this loop drains.
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				_ = l.Ping()
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

func (h *Hub) deliver(payload string) {
	var e Event
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		h.log.Warn("events: undecodable payload", "err", err, "bytes", len(payload))
		return
	}
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
			select {
			case s.ch <- e:
			default:
				// Blocking here would hold up every other subscriber and the
				// listening connection behind one slow client.
				h.endLocked(s, ErrSlowConsumer)
			}
		}
	}
}

// Close stops listening and ends every subscription with ErrClosed. Done is closed
// first. Close may be called more than once.
func (h *Hub) Close() {
	h.closeOnce.Do(func() {
		close(h.done)
		// A hub that never started has nothing to stop, and must not start later.
		h.startOnce.Do(func() { close(h.ready) })
		if h.listener != nil {
			_ = h.listener.Close()
		}
		h.wg.Wait()
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

// Count returns the number of active subscriptions.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// Subscribe starts a subscription to topic; it ends when ctx ends, when Close is called
// on it or on the hub, or when it falls Buffer events behind. Under a context made by
// WithLimit it is refused with TOO_MANY_SUBSCRIPTIONS beyond the limit.
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
	s := &Subscription{hub: h, topic: topic, ch: make(chan Event, h.cfg.Buffer), limit: lim}
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
	close(s.ch)
	s.limit.release()
	if s.stop != nil {
		s.stop()
	}
}

// Subscription is one subscriber's stream of events.
type Subscription struct {
	hub   *Hub
	topic Topic
	ch    chan Event
	limit *limit

	// Guarded by hub.mu.
	ended bool
	err   error
	stop  func() bool
}

// Events returns the stream. It is closed when the subscription ends; Err then says why.
func (s *Subscription) Events() <-chan Event { return s.ch }

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
