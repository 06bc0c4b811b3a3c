package server

import (
	"context"
	"net/http"
	"time"

	"inkwell/internal/cache"
)

// Horizon is how far this instance has heard the other instances' changes: the log
// position up to which every committed change has reached its caches (internal/events'
// Hub).
type Horizon interface {
	Heard() uint64
	WaitHeard(ctx context.Context, pos uint64) bool
}

// awaitHorizon keeps a query that names a log position (Inkwell-Min-LSN in header) from
// being answered by caches that have not heard of every change up to it: a write made
// through another instance reaches this one's caches through its change event, a moment
// after the write was acknowledged. Replica routing alone does not cover that; a cached
// value answers without any database. The request waits up to wait for the event stream
// to catch up (a position mark through it, usually a millisecond or two); past that it is
// answered without the caches (the context returned bypasses them), from the database.
func awaitHorizon(ctx context.Context, h Horizon, caches *cache.Cache, wait time.Duration, header http.Header) context.Context {
	if !caches.On() {
		return ctx
	}
	// A malformed position is refused by the consistency extension, with the reason.
	min, given, err := minLSN(header)
	if err != nil || !given || h.Heard() >= uint64(min) {
		return ctx
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	heard := h.WaitHeard(wctx, uint64(min))
	cancel()
	if !heard {
		return caches.Bypass(ctx)
	}
	return ctx
}
