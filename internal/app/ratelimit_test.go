package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/ratelimit"
	"inkwell/internal/ratelimit/redistest"
)

// withLimits starts servers with rules and the loopback test client trusted as a proxy,
// so that X-Forwarded-For picks each request's client address.
func withLimits(rules ratelimit.Rules, more ...func(*config.Config)) apptest.Option {
	return apptest.WithConfig(func(c *config.Config) {
		c.RateLimits = rules
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		for _, f := range more {
			f(c)
		}
	})
}

const rlSignIn = `mutation($in: SignInInput!) { signIn(input: $in) { accessToken user { username } } }`

func rlSignInFrom(t *testing.T, e *apptest.Env, addr, email, password string) *apptest.Response {
	t.Helper()
	return e.Do(t, apptest.Request{
		Query:     rlSignIn,
		Variables: map[string]any{"in": map[string]any{"email": email, "password": password}},
		Header:    map[string]string{"X-Forwarded-For": addr},
	})
}

// wantLimited checks that res is a 429 RATE_LIMITED with a Retry-After that matches
// extensions.retryAfter and lies in (0, most] seconds.
func wantLimited(t *testing.T, res *apptest.Response, most int) {
	t.Helper()
	if res.Status != http.StatusTooManyRequests || res.Code() != "RATE_LIMITED" {
		t.Fatalf("status %d code %q, want 429 RATE_LIMITED: %s", res.Status, res.Code(), res.Body)
	}
	ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > most {
		t.Fatalf("Retry-After = %q, want 1..%d", res.Header.Get("Retry-After"), most)
	}
	var body struct {
		Errors []struct {
			Extensions struct {
				RetryAfter int `json:"retryAfter"`
			} `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil || body.Errors[0].Extensions.RetryAfter != ra {
		t.Fatalf("extensions.retryAfter does not match Retry-After %d: %s", ra, res.Body)
	}
}

func TestSignInBruteForce(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{
		ratelimit.SignIn: {Account: ratelimit.Limit{N: 5, Per: time.Minute}, Address: ratelimit.Limit{N: 8, Per: time.Minute}},
	}))
	alice := e.SignUp(t, "alice")
	e.SignUp(t, "bob")

	t.Run("the sixth guess is refused, even with the right password", func(t *testing.T) {
		for i := range 5 {
			// The account's budget counts per address (TestStrangerCannotLockAccount).
			res := rlSignInFrom(t, e, "198.51.100.1", alice.Email, "wrong-"+strconv.Itoa(i))
			if res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("guess %d: %q, want UNAUTHENTICATED: %s", i+1, res.Code(), res.Body)
			}
		}
		before := e.Snapshot(t)
		// Upper case: the account is the normalised email.
		res := rlSignInFrom(t, e, "198.51.100.1", strings.ToUpper(alice.Email), alice.Password)
		wantLimited(t, res, 12)
		if string(res.Data) != "null" {
			t.Errorf("data = %s, want null", res.Data)
		}
		if after := e.Snapshot(t); !reflect.DeepEqual(before, after) {
			t.Errorf("a refused sign-in changed the database: %v -> %v", before, after)
		}
	})

	t.Run("another account is not locked out by it", func(t *testing.T) {
		res := rlSignInFrom(t, e, "198.51.100.99", "bob@example.com", "password-bob")
		if res.Status != http.StatusOK || len(res.Errors) > 0 {
			t.Fatalf("bob: %d %s", res.Status, res.Body)
		}
	})

	t.Run("one address is limited across accounts", func(t *testing.T) {
		const addr = "203.0.113.7"
		for i := range 8 {
			res := rlSignInFrom(t, e, addr, fmt.Sprintf("nobody%d@example.com", i), "whatever")
			if res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("attempt %d: %q, want UNAUTHENTICATED: %s", i+1, res.Code(), res.Body)
			}
		}
		wantLimited(t, rlSignInFrom(t, e, addr, "someone-else@example.com", "whatever"), 8)
		if res := rlSignInFrom(t, e, "203.0.113.8", "nobody0@example.com", "whatever"); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("next address: %q, want UNAUTHENTICATED", res.Code())
		}
	})

	t.Run("X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		plain := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
			c.RateLimits = ratelimit.Rules{ratelimit.SignIn: {Address: ratelimit.Limit{N: 3, Per: time.Minute}}}
		}))
		for i := range 3 {
			if res := rlSignInFrom(t, plain, fmt.Sprintf("198.51.100.%d", i), "x@example.com", "x"); res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("attempt %d: %q", i+1, res.Code())
			}
		}
		wantLimited(t, rlSignInFrom(t, plain, "198.51.100.200", "x@example.com", "x"), 20)
	})
}

// However many signIn fields a document holds, no more than the budget's attempts reach
// the password check: refused whole by the limit on auth fields (the default), or run
// one by one, each spending the budget, when that limit is raised.
func TestSignInAliasesCannotBypass(t *testing.T) {
	t.Parallel()
	var aliases strings.Builder
	for i := range 4 {
		fmt.Fprintf(&aliases, ` a%d: signIn(input: {email: $email, password: $pw}) { accessToken }`, i)
	}
	doc := `mutation($email: String!, $pw: String!) {` + aliases.String() + ` }`
	for _, authFields := range []int{1, 10} {
		t.Run(fmt.Sprintf("%d auth fields allowed", authFields), func(t *testing.T) {
			t.Parallel()
			e := apptest.New(t, withLimits(ratelimit.Rules{
				ratelimit.SignIn: {Account: ratelimit.Limit{N: 5, Per: time.Minute}},
			}, func(c *config.Config) { c.Limits.AuthFields = authFields }))
			alice := e.SignUp(t, "alice")
			attempts, limited := 0, 0
			count := func(res *apptest.Response) {
				for _, e := range res.Errors {
					switch e.Extensions.Code {
					case "UNAUTHENTICATED":
						attempts++
					case "RATE_LIMITED":
						limited++
					}
				}
			}
			for range 3 {
				count(e.Do(t, apptest.Request{Query: doc, Variables: map[string]any{"email": alice.Email, "pw": "wrong"}}))
			}
			for range 10 {
				res := e.Do(t, apptest.Request{Query: rlSignIn, Variables: map[string]any{"in": map[string]any{"email": alice.Email, "password": "wrong"}}})
				count(res)
				if res.Code() == "RATE_LIMITED" {
					break
				}
			}
			t.Logf("password checks %d, refused %d", attempts, limited)
			if attempts != 5 || limited == 0 {
				t.Fatalf("%d password checks ran (%d refused) for a budget of 5", attempts, limited)
			}
		})
	}
}

func TestSignUpPerAddress(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{
		ratelimit.SignUp: {Account: ratelimit.Limit{N: 5, Per: time.Hour}, Address: ratelimit.Limit{N: 2, Per: time.Hour}},
	}))
	signUp := func(addr, name string) *apptest.Response {
		return e.Do(t, apptest.Request{
			Query: `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
			Variables: map[string]any{"in": map[string]any{
				"username": name, "email": name + "@example.com", "password": "password-" + name,
			}},
			Header: map[string]string{"X-Forwarded-For": addr},
		})
	}
	for _, name := range []string{"ann", "ben"} {
		if res := signUp("198.51.100.1", name); len(res.Errors) > 0 {
			t.Fatalf("%s: %s", name, res.Body)
		}
	}
	before := e.Snapshot(t)
	wantLimited(t, signUp("198.51.100.1", "cy"), 3600)
	if after := e.Snapshot(t); !reflect.DeepEqual(before, after) {
		t.Errorf("a refused sign-up changed the database: %v -> %v", before, after)
	}
	if res := signUp("198.51.100.2", "cy"); len(res.Errors) > 0 {
		t.Fatalf("from another address: %s", res.Body)
	}
}

func TestRefreshLimits(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{
		ratelimit.Refresh: {Account: ratelimit.Limit{N: 3, Per: time.Minute}, Address: ratelimit.Limit{N: 6, Per: time.Minute}},
	}))
	refresh := func(addr, token string) *apptest.Response {
		return e.Do(t, apptest.Request{
			Query:     `mutation($t: String!) { refreshSession(input: {refreshToken: $t}) { refreshToken } }`,
			Variables: map[string]any{"t": token},
			Header:    map[string]string{"X-Forwarded-For": addr},
		})
	}

	t.Run("one session rotates at most its budget", func(t *testing.T) {
		token := e.SignUp(t, "alice").RefreshToken
		for i := range 3 {
			var out struct{ RefreshSession struct{ RefreshToken string } }
			refresh(fmt.Sprintf("198.51.100.%d", i), token).Decode(t, &out)
			token = out.RefreshSession.RefreshToken
		}
		before := e.Snapshot(t)
		var unused int
		if err := e.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL`).Scan(&unused); err != nil {
			t.Fatal(err)
		}
		wantLimited(t, refresh("198.51.100.50", token), 20)
		var after int
		if err := e.DB.QueryRow(`SELECT count(*) FROM refresh_tokens WHERE used_at IS NULL AND revoked_at IS NULL`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != unused || !reflect.DeepEqual(before, e.Snapshot(t)) {
			t.Errorf("a refused refresh changed the tokens: %d live before, %d after", unused, after)
		}
	})

	t.Run("guessing tokens from one address is limited", func(t *testing.T) {
		const addr = "203.0.113.9"
		for i := range 6 {
			if res := refresh(addr, "guess-"+strconv.Itoa(i)); res.Code() != "UNAUTHENTICATED" {
				t.Fatalf("guess %d: %q, want UNAUTHENTICATED", i+1, res.Code())
			}
		}
		wantLimited(t, refresh(addr, "guess-7"), 10)
	})
}

// Two instances over one Redis share the budget, as replicas behind a load balancer do.
func TestRateLimitsSharedThroughRedis(t *testing.T) {
	t.Parallel()
	url := redistest.Start(t)
	a := apptest.New(t, withLimits(ratelimit.Rules{
		ratelimit.SignIn: {Account: ratelimit.Limit{N: 5, Per: time.Minute}},
	}, func(c *config.Config) { c.RedisURL = url }))
	b := a.Peer(t)
	alice := a.SignUp(t, "alice")
	for i := range 5 {
		if res := rlSignInFrom(t, a, "198.51.100.1", alice.Email, "wrong"); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("attempt %d on A: %q, want UNAUTHENTICATED", i+1, res.Code())
		}
	}
	wantLimited(t, rlSignInFrom(t, b, "198.51.100.1", alice.Email, alice.Password), 12)
	if a.App.Limits.StoreErrors() != 0 || b.App.Limits.StoreErrors() != 0 {
		t.Errorf("store errors: A %d, B %d; want Redis to answer", a.App.Limits.StoreErrors(), b.App.Limits.StoreErrors())
	}
}
