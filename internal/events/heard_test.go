package events_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"inkwell/internal/change"
	"inkwell/internal/events"
)

// A write's change reaches OnChange before WaitHeard says the hub has heard up to a
// position taken after the write committed: on every instance, whoever sends the mark.
func TestWaitHeardCoversCommittedChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var applied []int
	// Applying a change takes a while here, so that a WaitHeard that did not wait for
	// it would return first.
	record := func(s change.Set) {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		applied = append(applied, s.Users...)
		mu.Unlock()
	}
	own := f.hub(t, events.Config{OnChange: record})                 // marks on a connection of its own
	pooled := f.hub(t, events.Config{OnChange: record, Marks: f.db}) // marks through a pool
	for n := 1; n <= 20; n++ {
		f.publish(t, events.Changed(change.Set{Users: []int{n}}))
		var pos uint64
		if err := f.db.QueryRow(`SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint`).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		for name, h := range map[string]*events.Hub{"own": own, "pooled": pooled} {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			heard := h.WaitHeard(ctx, pos)
			cancel()
			if !heard {
				t.Fatalf("%s: WaitHeard(%d) = false; Heard() = %d", name, pos, h.Heard())
			}
			if got := h.Heard(); got < pos {
				t.Fatalf("%s: Heard() = %d after WaitHeard(%d)", name, got, pos)
			}
		}
		// Both hubs applied change n before either said it had heard past it.
		mu.Lock()
		count := 0
		for _, u := range applied {
			if u == n {
				count++
			}
		}
		mu.Unlock()
		if count != 2 {
			t.Fatalf("change %d applied %d times before WaitHeard returned, want 2 (once per hub)", n, count)
		}
	}
}

// Marks are for the hubs only: no subscriber hears them.
func TestMarksReachNoSubscriber(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hub(t, events.Config{})
	s := subscribe(t, context.Background(), h, events.CommentsOn(1))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if !h.WaitHeard(ctx, h.Heard()+1) {
		t.Fatal("no mark came back")
	}
	nothing(t, s)
	f.publish(t, events.CommentAdded(1, 2))
	if got := next(t, s); got.Kind != events.KindCommentAdded {
		t.Fatalf("got %+v", got)
	}
}

// A hub that does not listen cannot hear a mark: WaitHeard gives up with its context.
func TestWaitHeardWithoutListening(t *testing.T) {
	t.Parallel()
	h := events.New(events.Config{DSN: "host=127.0.0.1 port=1 connect_timeout=1"})
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if h.WaitHeard(ctx, 1) {
		t.Fatal("WaitHeard = true on a hub that never listened")
	}
	if got := h.Heard(); got != 0 {
		t.Fatalf("Heard() = %d", got)
	}
}
