package events

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// KindMark is a position mark: an event that carries the primary's log position at the
// moment it was sent, and nothing else. NOTIFY delivers in commit order, so when a mark
// arrives, every event committed before that position has arrived before it, on every
// instance: the instance has heard, and applied to its caches, every change up to there
// (Hub.Heard). No subscription hears marks, and they are not logged.
const KindMark Kind = "mark"

// markSQL sends a mark: the insert position, at or past the commit record of every
// transaction that committed before the statement, as a number of bytes.
const markSQL = `SELECT pg_notify($1, json_build_object('k', 'mark', 'p', (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint)::text)`

const (
	markTimeout = time.Second
	// markRetry is how often a waiter asks for a new mark while the heard position stays
	// behind: a mark sent just before the position it waits for was reached does not
	// cover it, and the one in flight may be such a mark.
	markRetry = 10 * time.Millisecond
)

// heard is the log position up to which the hub has delivered every event.
type heard struct {
	mu      sync.Mutex
	pos     uint64
	changed chan struct{} // closed and replaced when pos grows
	marking atomic.Bool   // a mark is being sent
}

func (h *heard) init() { h.changed = make(chan struct{}) }

func (h *heard) raise(pos uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pos <= h.pos {
		return
	}
	h.pos = pos
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *heard) get() (uint64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos, h.changed
}

// Heard is the primary's log position (in bytes, as pg_lsn - '0/0') up to which this hub
// has delivered every committed event, and so OnChange every change: known from the
// latest mark it received (WaitHeard sends them).
func (h *Hub) Heard() uint64 {
	pos, _ := h.heard.get()
	return pos
}

// WaitHeard waits until the hub has heard every event committed up to pos, sending marks
// to find out, and reports whether it has; false when ctx ends first. While the hub does
// not listen, no mark comes back and it waits until ctx ends.
func (h *Hub) WaitHeard(ctx context.Context, pos uint64) bool {
	for {
		got, changed := h.heard.get()
		if got >= pos {
			return true
		}
		h.sendMark()
		select {
		case <-changed:
		case <-time.After(markRetry):
		case <-ctx.Done():
			return false
		}
	}
}

// sendMark sends a mark unless one is being sent. Many waiters share one mark: its
// position covers every write acknowledged before it was sent.
func (h *Hub) sendMark() {
	if h.stopping() || !h.heard.marking.CompareAndSwap(false, true) {
		return
	}
	// Not in h.wg: Close cancels h.ctx, which ends the statement.
	go func() {
		defer h.heard.marking.Store(false)
		db := h.cfg.Marks
		if db == nil {
			select {
			case <-h.ready: // h.db is set
			default:
				return // not listening yet: no mark could come back
			}
			if h.db == nil {
				return
			}
			db = h.db
		}
		ctx, cancel := context.WithTimeout(h.ctx, markTimeout)
		defer cancel()
		if _, err := db.ExecContext(ctx, markSQL, Channel); err != nil && h.ctx.Err() == nil {
			h.log.Debug("events: cannot send a position mark", "err", err)
		}
	}()
}
