package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"inkwell/internal/apperr"
	"inkwell/internal/logtest"
	"inkwell/internal/ratelimit"
	"inkwell/internal/ratelimit/redistest"
)

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ratelimit.Limit
		bad  bool
	}{
		{in: "5/1m", want: ratelimit.Limit{N: 5, Per: time.Minute}},
		{in: " 20 / 1h ", want: ratelimit.Limit{N: 20, Per: time.Hour}},
		{in: "3/m", want: ratelimit.Limit{N: 3, Per: time.Minute}},
		{in: "off", want: ratelimit.Limit{}},
		{in: "5", bad: true},
		{in: "0/1m", bad: true},
		{in: "-1/1m", bad: true},
		{in: "5/fortnight", bad: true},
		{in: "5/10ms", bad: true},
		{in: "", bad: true},
	} {
		got, err := ratelimit.ParseLimit(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

// stores runs a test against each backend.
func stores(t *testing.T, test func(t *testing.T, newStore func() ratelimit.Store)) {
	t.Run("memory", func(t *testing.T) {
		m := ratelimit.NewMemory()
		test(t, func() ratelimit.Store { return m })
	})
	t.Run("redis", func(t *testing.T) {
		url := redistest.Start(t)
		test(t, func() ratelimit.Store {
			r, err := ratelimit.NewRedis(url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			return r
		})
	})
}

var secret = []byte("test secret")

func TestBudget(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() ratelimit.Store) {
		l := ratelimit.New(ratelimit.Config{Secret: secret, Store: newStore(), Rules: ratelimit.Rules{
			ratelimit.SignIn: {Account: ratelimit.Limit{N: 5, Per: time.Minute}, Address: ratelimit.Limit{N: 8, Per: time.Minute}},
		}})
		ctx := ratelimit.WithClient(context.Background(), netip.MustParseAddr("192.0.2.1"))
		for i := range 5 {
			if err := l.Check(ctx, ratelimit.SignIn, "ada@example.com"); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		err := l.Check(ctx, ratelimit.SignIn, "ada@example.com")
		ae, ok := errors.AsType[*apperr.Error](err)
		if !ok || ae.Code != apperr.CodeRateLimited {
			t.Fatalf("6th attempt: %v, want RATE_LIMITED", err)
		}
		// 5/1m refills one every 12s.
		if ae.RetryAfter <= 10*time.Second || ae.RetryAfter > 12*time.Second {
			t.Errorf("RetryAfter = %v, want about 12s", ae.RetryAfter)
		}
		// Another account from the same address still has its budget, until the
		// address's 8 are spent (6 so far: the refused one counted for the address).
		if err := l.Check(ctx, ratelimit.SignIn, "grace@example.com"); err != nil {
			t.Fatalf("other account: %v", err)
		}
		if err := l.Check(ctx, ratelimit.SignIn, "linus@example.com"); err != nil {
			t.Fatalf("third account: %v", err)
		}
		if got := apperr.CodeOf(l.Check(ctx, ratelimit.SignIn, "hedy@example.com")); got != apperr.CodeRateLimited {
			t.Fatalf("9th from one address: %q, want RATE_LIMITED", got)
		}
		// Another address is untouched, and so is an action without rules.
		other := ratelimit.WithClient(context.Background(), netip.MustParseAddr("192.0.2.2"))
		if err := l.Check(other, ratelimit.SignIn, "hedy@example.com"); err != nil {
			t.Fatalf("other address: %v", err)
		}
		if err := l.Check(ctx, ratelimit.SignUp, "ada@example.com"); err != nil {
			t.Fatalf("unlimited action: %v", err)
		}
	})
}

// Both stores tell what is left of a budget and when it is whole again, for the
// RateLimit response headers.
func TestRemainingAndReset(t *testing.T) {
	stores(t, func(t *testing.T, newStore func() ratelimit.Store) {
		s := newStore()
		lim := ratelimit.Limit{N: 3, Per: time.Minute}
		ctx := context.Background()
		for i, want := range []int{2, 1, 0} {
			res, err := s.Allow(ctx, "remaining", lim)
			if err != nil {
				t.Fatal(err)
			}
			// Each spent event takes 20s to refill.
			reset := time.Duration(i+1) * 20 * time.Second
			if !res.Allowed || res.Remaining != want || res.Reset <= reset-2*time.Second || res.Reset > reset {
				t.Fatalf("event %d: %+v, want allowed, %d left, whole in about %v", i+1, res, want, reset)
			}
		}
		res, err := s.Allow(ctx, "remaining", lim)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed || res.Remaining != 0 || res.Reset <= 58*time.Second || res.Reset > time.Minute ||
			res.RetryAfter <= 18*time.Second || res.RetryAfter > 20*time.Second {
			t.Fatalf("4th event: %+v, want refused, 0 left, whole in about 1m, retry in about 20s", res)
		}
	})
}

func TestSharedBudget(t *testing.T) {
	url := redistest.Start(t)
	newLimiter := func() *ratelimit.Limiter {
		r, err := ratelimit.NewRedis(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return ratelimit.New(ratelimit.Config{Secret: secret, Store: r, Rules: ratelimit.Rules{
			ratelimit.SignIn: {Account: ratelimit.Limit{N: 5, Per: time.Minute}},
		}})
	}
	a, b := newLimiter(), newLimiter()
	ctx := context.Background()

	t.Run("five on one instance spend the other's", func(t *testing.T) {
		for i := range 5 {
			if err := a.Check(ctx, ratelimit.SignIn, "ada@example.com"); err != nil {
				t.Fatalf("attempt %d on A: %v", i+1, err)
			}
		}
		if got := apperr.CodeOf(b.Check(ctx, ratelimit.SignIn, "ada@example.com")); got != apperr.CodeRateLimited {
			t.Fatalf("6th on B: %q, want RATE_LIMITED", got)
		}
	})

	t.Run("concurrent attempts never exceed the budget", func(t *testing.T) {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed int
		)
		for i := range 20 {
			wg.Go(func() {
				l := a
				if i%2 == 1 {
					l = b
				}
				if l.Check(ctx, ratelimit.SignIn, "race@example.com") == nil {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if allowed != 5 {
			t.Fatalf("%d of 20 concurrent attempts allowed, want 5", allowed)
		}
	})

	t.Run("keys hold no email", func(t *testing.T) {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer func() { _ = c.Close() }()
		keys, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatal("no keys in Redis: the budget was not stored there")
		}
		for _, k := range keys {
			if strings.Contains(k, "example.com") || strings.Contains(k, "ada") {
				t.Errorf("key %q names the account", k)
			}
		}
	})
}

// A Redis that cannot be reached must neither lock everyone out nor lift the limits:
// each instance keeps counting in memory, and the outage costs no long waits.
func TestRedisDownFallsBackToMemory(t *testing.T) {
	// Nothing listens on port 1: every call to this Redis fails.
	r, err := ratelimit.NewRedis("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	l := ratelimit.New(ratelimit.Config{Secret: secret, Store: r, Rules: ratelimit.Rules{
		ratelimit.SignIn: {Account: ratelimit.Limit{N: 3, Per: time.Minute}},
	}})
	ctx := context.Background()
	start := time.Now()
	for i := range 3 {
		if err := l.Check(ctx, ratelimit.SignIn, "ada@example.com"); err != nil {
			t.Fatalf("attempt %d with Redis down: %v", i+1, err)
		}
	}
	if got := apperr.CodeOf(l.Check(ctx, ratelimit.SignIn, "ada@example.com")); got != apperr.CodeRateLimited {
		t.Fatalf("4th with Redis down: %q, want RATE_LIMITED", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("4 decisions took %v with Redis down", d)
	}
	if l.StoreErrors() == 0 {
		t.Error("StoreErrors() = 0, want the failures counted")
	}
}

// The Redis client's own messages join the process's JSON log rather than interleave
// plain-text lines with it.
func TestRedisClientLogsAsJSON(t *testing.T) {
	var buf logtest.Buffer
	ratelimit.LogRedisTo(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer ratelimit.LogRedisTo(slog.Default())
	r, err := ratelimit.NewRedis("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	if _, err := r.Allow(context.Background(), "k", ratelimit.Limit{N: 1, Per: time.Minute}); err == nil {
		t.Fatal("a decision with nothing listening succeeded")
	}
	var line struct{ Level, Msg, Detail string }
	out := buf.String()
	first, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || line.Msg != "redis client" || line.Level != "WARN" || line.Detail == "" {
		t.Errorf("log = %q (%v), want a JSON warning from the Redis client", out, err)
	}
}

// A Redis that accepts connections but never answers (overloaded, or a half-open
// connection) costs one bounded wait, not a hung sign-in: the decision falls back.
func TestRedisHungFallsBackQuickly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	r, err := ratelimit.NewRedis("redis://" + ln.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()

	start := time.Now()
	_, err = r.Allow(context.Background(), "hung", ratelimit.Limit{N: 3, Per: time.Minute})
	if err == nil || !strings.HasPrefix(err.Error(), "redis: ") {
		t.Fatalf("Allow on a silent server: %v, want a redis: error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Allow on a silent server took %v, want about 250ms", d)
	}

	l := ratelimit.New(ratelimit.Config{Secret: secret, Store: r, Rules: ratelimit.Rules{
		ratelimit.SignIn: {Account: ratelimit.Limit{N: 3, Per: time.Minute}},
	}})
	start = time.Now()
	if err := l.Check(context.Background(), ratelimit.SignIn, "ada@example.com"); err != nil {
		t.Fatalf("sign-in with a silent Redis: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("sign-in with a silent Redis took %v", d)
	}
	if l.StoreErrors() != 1 {
		t.Errorf("StoreErrors() = %d, want 1", l.StoreErrors())
	}
}

// Redis decides as Memory does: the same events allowed, and the same Remaining, Reset
// and RetryAfter, also for limits whose interval is no whole number of seconds.
func TestRedisMatchesMemory(t *testing.T) {
	url := redistest.Start(t)
	r, err := ratelimit.NewRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	m := ratelimit.NewMemory()
	ctx := context.Background()
	near := func(a, b time.Duration) bool { return (a - b).Abs() < 100*time.Millisecond }
	for _, lim := range []ratelimit.Limit{{N: 1, Per: time.Minute}, {N: 7, Per: time.Hour}, {N: 3, Per: 10 * time.Second}, {N: 120, Per: time.Minute}} {
		key := "match:" + lim.String()
		for i := range lim.N + 2 {
			want, _ := m.Allow(ctx, key, lim)
			got, err := r.Allow(ctx, key, lim)
			if err != nil {
				t.Fatal(err)
			}
			if got.Allowed != want.Allowed || got.Remaining != want.Remaining ||
				!near(got.Reset, want.Reset) || !near(got.RetryAfter, want.RetryAfter) {
				t.Fatalf("%v, event %d: Redis %+v, Memory %+v", lim, i+1, got, want)
			}
			if wantAllowed := i < lim.N; got.Allowed != wantAllowed || (got.Allowed && got.RetryAfter != 0) {
				t.Fatalf("%v, event %d: %+v, want allowed %v and no RetryAfter when allowed", lim, i+1, got, wantAllowed)
			}
		}
	}
}

// A password in the URL is used however it is written, a user alone included (as
// redis-cli reads redis://secret@host), and the query is ignored.
func TestRedisPassword(t *testing.T) {
	url := redistest.Start(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	admin := redis.NewClient(opt)
	defer func() { _ = admin.Close() }()
	ctx := context.Background()
	if err := admin.ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		userinfo string
		ok       bool
	}{{":s3cret@", true}, {"s3cret@", true}, {"default:s3cret@", true}, {"", false}, {":wrong@", false}} {
		r, err := ratelimit.NewRedis(strings.Replace(url, "redis://", "redis://"+tc.userinfo, 1) + "?dial_timeout=1m&unknown=1")
		if err != nil {
			t.Fatalf("%q: %v", tc.userinfo, err)
		}
		_, err = r.Allow(ctx, "password", ratelimit.Limit{N: 5, Per: time.Minute})
		_ = r.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%q: Allow: %v, want success %v", tc.userinfo, err, tc.ok)
		}
	}
}

// NewRedis takes redis:// and rediss:// URLs with a host, and its error never repeats
// the URL, which may hold a password.
func TestNewRedisURL(t *testing.T) {
	for _, url := range []string{
		"redis://127.0.0.1:6379/0",
		"redis://:hunter2@cache:6379/1",
		"redis://default:hunter2@cache",
		"rediss://cache.example.com:6380/0",
	} {
		r, err := ratelimit.NewRedis(url)
		if err != nil {
			t.Errorf("NewRedis(%q): %v", url, err)
			continue
		}
		_ = r.Close()
	}
	for _, url := range []string{
		"",
		"cache:6379",
		"http://:hunter2@cache:6379/0",
		"redis://",
		"redis:///0",
		"unix:///run/redis.sock",
		"redis://:hunter2@cache:6379/zero",
		"redis://:hunter2@[cache/0",
	} {
		_, err := ratelimit.NewRedis(url)
		if err == nil {
			t.Errorf("NewRedis(%q) accepted it", url)
			continue
		}
		if !strings.HasPrefix(err.Error(), "REDIS_URL: ") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewRedis(%q): %v, want a REDIS_URL error without the URL", url, err)
		}
	}
}

func TestIPv6HostsShareTheirPrefix(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Secret: secret, Rules: ratelimit.Rules{
		ratelimit.SignUp: {Address: ratelimit.Limit{N: 2, Per: time.Hour}},
	}})
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:aaaa::9"} {
		ctx := ratelimit.WithClient(context.Background(), netip.MustParseAddr(addr))
		err := l.Check(ctx, ratelimit.SignUp, "")
		if want := i >= 2; (apperr.CodeOf(err) == apperr.CodeRateLimited) != want {
			t.Fatalf("%s: %v, want refused %v", addr, err, want)
		}
	}
	ctx := ratelimit.WithClient(context.Background(), netip.MustParseAddr("2001:db8:1:3::1"))
	if err := l.Check(ctx, ratelimit.SignUp, ""); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *ratelimit.Limiter
	if err := l.Check(context.Background(), ratelimit.SignIn, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
}

func TestClientAddr(t *testing.T) {
	proxies, err := ratelimit.ParsePrefixes("10.0.0.0/8, 192.168.1.7")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies trusted: the peer, whatever the header says", "203.0.113.5:4000", []string{"198.51.100.1"}, nil, "203.0.113.5"},
		{"untrusted peer: header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, proxies, "203.0.113.5"},
		{"trusted proxy: the hop it saw", "10.1.2.3:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"a spoofed left entry is skipped", "10.1.2.3:4000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"two trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 192.168.1.7"}, proxies, "198.51.100.1"},
		{"several header lines", "10.1.2.3:4000", []string{"1.2.3.4", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"garbage: the last good hop", "10.1.2.3:4000", []string{"198.51.100.1, bogus"}, proxies, "10.1.2.3"},
		{"all trusted: the leftmost", "10.1.2.3:4000", []string{"10.9.9.9"}, proxies, "10.9.9.9"},
		{"no header from a proxy: the proxy", "10.1.2.3:4000", nil, proxies, "10.1.2.3"},
		{"IPv6 peer", "[2001:db8::1]:4000", nil, proxies, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.5]:4000", nil, nil, "203.0.113.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ratelimit.ClientAddr(r, tc.trusted); got.String() != tc.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := ratelimit.ParsePrefixes("10.0.0.0/8, nonsense"); err == nil {
		t.Error("ParsePrefixes accepted nonsense")
	}
}

func TestSpentHeaders(t *testing.T) {
	l := ratelimit.New(ratelimit.Config{Secret: secret, Rules: ratelimit.Rules{
		ratelimit.SignIn:        {Account: ratelimit.Limit{N: 2, Per: time.Minute}, Address: ratelimit.Limit{N: 5, Per: time.Minute}},
		ratelimit.SignInCeiling: {Account: ratelimit.Limit{N: 100, Per: time.Hour}},
	}})
	headers := func(s *ratelimit.Spent) http.Header {
		h := http.Header{}
		s.SetHeaders(h)
		return h
	}
	client := ratelimit.WithClient(context.Background(), netip.MustParseAddr("192.0.2.9"))

	t.Run("the budget with the fewest events left is named", func(t *testing.T) {
		ctx, s := ratelimit.WithSpent(client)
		if err := l.Check(ctx, ratelimit.SignIn, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		h := headers(s)
		if h.Get("RateLimit-Limit") != "2" || h.Get("RateLimit-Remaining") != "1" || h.Get("RateLimit-Reset") != "30" ||
			h.Get("RateLimit-Policy") != "2;w=60" {
			t.Fatalf("headers %v, want the account's 2/1m with 1 left, whole in 30s", h)
		}
	})

	t.Run("the ceiling, which never refuses, is not named", func(t *testing.T) {
		ctx, s := ratelimit.WithSpent(client)
		l.Slow(ctx, ratelimit.SignInCeiling, "ada@example.com")
		if h := headers(s); len(h) != 0 {
			t.Fatalf("headers %v after the ceiling alone", h)
		}
	})

	t.Run("a refusal is named over a budget with room", func(t *testing.T) {
		ctx, s := ratelimit.WithSpent(client)
		_ = l.Check(ctx, ratelimit.SignIn, "grace@example.com")
		_ = l.Check(ctx, ratelimit.SignIn, "grace@example.com")
		if err := l.Check(ctx, ratelimit.SignIn, "grace@example.com"); apperr.CodeOf(err) != apperr.CodeRateLimited {
			t.Fatalf("third attempt: %v", err)
		}
		if h := headers(s); h.Get("RateLimit-Limit") != "2" || h.Get("RateLimit-Remaining") != "0" {
			t.Fatalf("headers %v, want the refusing 2/1m with 0 left", h)
		}
	})

	t.Run("no budget spent, no headers", func(t *testing.T) {
		var s *ratelimit.Spent
		if h := headers(s); len(h) != 0 {
			t.Fatalf("headers %v", h)
		}
	})
}
