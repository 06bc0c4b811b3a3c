package ratelimit

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Spent is the tightest budget one HTTP request spent, for its RateLimit headers. A
// request may spend several (an address's and an account's, or one per write); the one
// that refused it, else the one with the fewest events left, is the one a client must
// pace itself by.
type Spent struct {
	mu    sync.Mutex
	set   bool
	limit Limit
	res   Result
}

type spentKey struct{}

// WithSpent returns ctx carrying a fresh Spent that the Limiter's checks in ctx report to.
func WithSpent(ctx context.Context) (context.Context, *Spent) {
	s := &Spent{}
	return context.WithValue(ctx, spentKey{}, s), s
}

func (s *Spent) note(l Limit, r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set && !tighter(r, s.res) {
		return
	}
	s.set, s.limit, s.res = true, l, r
}

// tighter reports whether a leaves the client less room than b.
func tighter(a, b Result) bool {
	if a.Allowed != b.Allowed {
		return !a.Allowed
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.Reset > b.Reset
}

// SetHeaders writes the RateLimit header fields of the IETF draft "RateLimit header
// fields for HTTP" (draft-ietf-httpapi-ratelimit-headers, the form with one field per
// value) for the tightest budget spent, or nothing when none was:
//
//	RateLimit-Limit: 5           the budget's events
//	RateLimit-Remaining: 3       events left now
//	RateLimit-Reset: 24          seconds until the budget is whole again
//	RateLimit-Policy: 5;w=60     the budget: 5 events in 60 seconds
//
// Retry-After, on a refusal, is written with the 429 status elsewhere.
func (s *Spent) SetHeaders(h http.Header) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.set {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(s.limit.N))
	h.Set("RateLimit-Remaining", strconv.Itoa(s.res.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(seconds(s.res.Reset)))
	h.Set("RateLimit-Policy", strconv.Itoa(s.limit.N)+";w="+strconv.Itoa(seconds(s.limit.Per)))
}

// seconds rounds d up: a client that waits that long finds the budget whole.
func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }
