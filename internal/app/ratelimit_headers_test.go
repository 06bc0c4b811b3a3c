package app_test

import (
	"net/http"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/ratelimit"
)

// Responses to operations under a budget carry the RateLimit header fields of the
// tightest budget they spent; others carry none.
func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{
		ratelimit.SignIn: {Account: ratelimit.Limit{N: 3, Per: time.Minute}, Address: ratelimit.Limit{N: 10, Per: time.Minute}},
	}))
	alice := e.SignUp(t, "alice")
	want := func(t *testing.T, res *apptest.Response, remaining, reset string) {
		t.Helper()
		for name, v := range map[string]string{
			"RateLimit-Limit": "3", "RateLimit-Remaining": remaining, "RateLimit-Reset": reset, "RateLimit-Policy": "3;w=60",
		} {
			if got := res.Header.Get(name); got != v {
				t.Errorf("%s = %q, want %q", name, got, v)
			}
		}
	}

	t.Run("each attempt tells what is left of the tighter budget", func(t *testing.T) {
		// The account's 3/1m is tighter than the address's 10/1m; one event refills in 20s.
		for i, left := range []string{"2", "1", "0"} {
			res := rlSignInFrom(t, e, "198.51.100.30", alice.Email, "wrong")
			if res.Status != http.StatusOK || res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("attempt %d: %d %s", i+1, res.Status, res.Body)
			}
			want(t, res, left, []string{"20", "40", "60"}[i])
		}
	})

	t.Run("the refusal adds Retry-After", func(t *testing.T) {
		res := rlSignInFrom(t, e, "198.51.100.30", alice.Email, alice.Password)
		wantLimited(t, res, 20)
		want(t, res, "0", "60")
	})

	t.Run("an operation under no budget has none", func(t *testing.T) {
		res := e.Query(t, "", `{ tags(first: 1) { totalCount } }`, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		for _, name := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"} {
			if v := res.Header.Get(name); v != "" {
				t.Errorf("%s = %q on a query under no budget", name, v)
			}
		}
	})
}
