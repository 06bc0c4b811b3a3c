package server

import (
	"context"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"inkwell/internal/apperr"
)

// codeOverloaded is the error code of a request shed because the server was already
// serving as many as it may at once.
const codeOverloaded = string(apperr.CodeOverloaded)

// Defaults of Config.MaxInFlight and Config.QueueWait.
const (
	// defaultMaxInFlight is about three times the default database pool (20): enough
	// requests to keep every connection busy while others parse, check passwords or
	// write their answers, and few enough that the worst case, every one of them hashing
	// a password (19 MiB each), stays near 1 GiB.
	defaultMaxInFlight = 64
	// defaultQueueWait absorbs a burst without letting a queue build up: a request
	// waiting longer would mostly add latency to everyone behind it.
	defaultQueueWait = 100 * time.Millisecond
)

// takeSlot takes one of slots, waiting up to wait for it; false when none came free.
func takeSlot(ctx context.Context, slots *semaphore.Weighted, wait time.Duration) bool {
	if slots.TryAcquire(1) {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return slots.Acquire(ctx, 1) == nil
}

// shed serves at most as many requests at once as slots holds (WebSocket operations
// take the same slots, websocketOperations). A request beyond that waits up to wait
// for a free slot (first come, first served) and is otherwise answered 503 with
// Retry-After at once: a fast refusal the client or the proxy can retry elsewhere
// beats an unbounded queue in which every request ends up timing out.
func shed(slots *semaphore.Weighted, wait time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !takeSlot(r.Context(), slots, wait) {
			w.Header().Set("Retry-After", "1")
			apperr.Write(w, r, apperr.CodeOverloaded, "the server is busy; retry shortly")
			return
		}
		defer slots.Release(1)
		next.ServeHTTP(w, r)
	})
}
