package server_test

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apperr"
	"inkwell/internal/ratelimit"
	"inkwell/internal/server"
)

// blocking is a viewer resolver that holds every request until release is closed,
// announcing each on entered.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blocking) resolve(ctx context.Context) (any, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil, nil
}

func TestShed(t *testing.T) {
	b := newBlocking()
	h, _ := newHandler(t, server.Config{MaxInFlight: 2, QueueWait: 50 * time.Millisecond}, withViewer(b.resolve))

	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(b.release)
	for range 2 {
		wg.Go(func() { serve(h, post("{ viewer { username } }")) })
	}
	<-b.entered
	<-b.entered

	t.Run("a third request waits briefly, then is refused", func(t *testing.T) {
		start := time.Now()
		rec := serve(h, post("{ viewer { username } }"))
		took := time.Since(start)
		wantError(t, rec, http.StatusServiceUnavailable, "OVERLOADED")
		if got := rec.Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
		if took < 40*time.Millisecond || took > time.Second {
			t.Errorf("refused after %v, want after the 50ms queue wait", took)
		}
	})

	t.Run("health, readiness and refusals before the body are never shed", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			r := get("")
			r.URL.Path = path
			r.URL.RawQuery = ""
			if rec := serve(h, r); rec.Code != http.StatusOK {
				t.Errorf("%s = %d while saturated, want 200", path, rec.Code)
			}
		}
		r := post("{ viewer { username } }")
		r.Header.Set("Content-Type", "text/plain")
		wantError(t, serve(h, r), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	})
}

func TestShedQueueAdmitsWhenASlotFrees(t *testing.T) {
	b := newBlocking()
	h, _ := newHandler(t, server.Config{MaxInFlight: 1, QueueWait: 5 * time.Second}, withViewer(b.resolve))
	first := make(chan int)
	go func() { first <- serve(h, post("{ viewer { username } }")).Code }()
	<-b.entered
	second := make(chan int)
	go func() { second <- serve(h, post("{ viewer { username } }")).Code }()
	select {
	case <-b.entered:
		t.Fatal("a second request ran while the only slot was taken")
	case <-time.After(100 * time.Millisecond):
	}
	close(b.release)
	if got := <-first; got != http.StatusOK {
		t.Errorf("first = %d, want 200", got)
	}
	if got := <-second; got != http.StatusOK {
		t.Errorf("queued = %d, want 200 once the slot freed", got)
	}
}

func TestRateLimitedIs429(t *testing.T) {
	h, _ := newHandler(t, server.Config{}, withViewer(func(context.Context) (any, error) {
		return nil, apperr.RateLimited(11200 * time.Millisecond)
	}))
	for _, r := range []*http.Request{post("{ viewer { username } }"), get("{ viewer { username } }")} {
		rec := serve(h, r)
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("%s: status = %d, want 429; body %s", r.Method, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Retry-After"); got != "12" {
			t.Errorf("Retry-After = %q, want 12", got)
		}
		resp := decode(t, rec)
		if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "RATE_LIMITED" ||
			resp.Errors[0].Extensions["retryAfter"] != float64(12) {
			t.Errorf("errors = %+v, want RATE_LIMITED with retryAfter 12", resp.Errors)
		}
	}
}

func TestClientAddress(t *testing.T) {
	seen := make(chan netip.Addr, 1)
	deps := withViewer(func(ctx context.Context) (any, error) {
		seen <- ratelimit.ClientFrom(ctx)
		return nil, nil
	})
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"no trusted proxies: the peer", nil, "192.0.2.1"},
		{"a trusted proxy: X-Forwarded-For", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, "198.51.100.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t, server.Config{TrustedProxies: tc.trusted}, deps)
			r := post("{ viewer { username } }")
			r.RemoteAddr = "192.0.2.1:5555"
			r.Header.Set("X-Forwarded-For", "198.51.100.9")
			serve(h, r)
			if got := <-seen; got.String() != tc.want {
				t.Fatalf("client = %s, want %s", got, tc.want)
			}
		})
	}
}
