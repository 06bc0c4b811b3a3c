package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"inkwell/internal/cache"
)

// fakeHorizon has heard up to heard; WaitHeard answers reach without waiting.
type fakeHorizon struct {
	heard uint64
	reach bool
	waits int
}

func (f *fakeHorizon) Heard() uint64 { return f.heard }

func (f *fakeHorizon) WaitHeard(ctx context.Context, pos uint64) bool {
	f.waits++
	if _, ok := ctx.Deadline(); !ok {
		panic("WaitHeard without a deadline")
	}
	return f.reach
}

func TestAwaitHorizon(t *testing.T) {
	tests := []struct {
		name       string
		cacheOn    bool
		header     string
		heard      uint64
		reach      bool
		wantWaits  int
		wantBypass bool
	}{
		{"no position", true, "", 0, false, 0, false},
		{"heard already", true, "0/10", 0x10, false, 0, false},
		{"heard after waiting", true, "0/11", 0x10, true, 1, false},
		{"not heard in time", true, "0/11", 0x10, false, 1, true},
		{"caches off", false, "1/0", 0, false, 0, false},
		{"malformed position", true, "nope", 0, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cache.New(1 << 20)
			c.SetListening(tt.cacheOn)
			cache.Fill(c, c.Epoch(cache.Article), 7, "cached", 10)
			h := &fakeHorizon{heard: tt.heard, reach: tt.reach}
			var bypassed, found bool
			next := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				bypassed = cache.Bypassed(r.Context())
				_, found = cache.Get[string](r.Context(), c, cache.Article, 7)
			})
			r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			if tt.header != "" {
				r.Header.Set(MinLSNHeader, tt.header)
			}
			next.ServeHTTP(httptest.NewRecorder(), r.WithContext(awaitHorizon(r.Context(), h, c, 50*time.Millisecond, r.Header)))
			if h.waits != tt.wantWaits {
				t.Errorf("WaitHeard called %d times, want %d", h.waits, tt.wantWaits)
			}
			if bypassed != tt.wantBypass {
				t.Errorf("bypassed = %v, want %v", bypassed, tt.wantBypass)
			}
			// A bypassed request misses what the cache holds; the others find it when
			// the cache is on.
			if want := tt.cacheOn && !tt.wantBypass; found != want {
				t.Errorf("cached value found = %v, want %v", found, want)
			}
		})
	}
}
