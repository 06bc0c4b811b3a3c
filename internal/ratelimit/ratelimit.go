// Package ratelimit spends per-client budgets for the operations attackers repeat: signing
// in, signing up and refreshing sessions. Budgets are counted per account and per client
// address, in memory or, when several instances serve together, in Redis so that they
// share one budget.
package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"inkwell/internal/apperr"
)

// Limit is a budget of N events per Per, refilled evenly (a token bucket of N, which is
// what GCRA computes): 5/1m allows a burst of 5, then one more every 12 seconds.
// The zero Limit is off.
type Limit struct {
	N   int
	Per time.Duration
}

// Off reports whether l allows everything.
func (l Limit) Off() bool { return l.N <= 0 || l.Per <= 0 }

func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.N) + "/" + l.Per.String()
}

// interval is the time one event takes to refill.
func (l Limit) interval() time.Duration { return l.Per / time.Duration(l.N) }

// ParseLimit reads "N/duration" (5/1m, 100/1h, 3/10s; the unit alone means one of it,
// 5/m) or "off".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Limit{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count < 1 {
		return Limit{}, fmt.Errorf("%q is not a limit such as 5/1m or off", s)
	}
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second || d/time.Duration(count) <= 0 {
		return Limit{}, fmt.Errorf("%q is not a limit such as 5/1m or off (the period is at least 1s)", s)
	}
	return Limit{N: count, Per: d}, nil
}

// Action names an operation with budgets of its own.
type Action string

// The limited operations.
const (
	SignIn  Action = "signin"
	SignUp  Action = "signup"
	Refresh Action = "refresh"
	// SignInCeiling is the budget of sign-ins into one account from every address
	// together: past it attempts are slowed down (Delay), never refused, so that no
	// stranger can lock the owner out.
	SignInCeiling Action = "signin-ceiling"
	// Write is any change a signed-in user makes (articles, comments, follows,
	// favorites, the profile), budgeted per account.
	Write Action = "write"
)

// Rule is an action's budgets: per account (the email for sign-in and sign-up, the
// session for refresh) and per client address.
type Rule struct {
	Account, Address Limit
}

// Rules are the budgets of every action; an action missing is not limited.
type Rules map[Action]Rule

// DefaultRules are the documented defaults. A person mistyping a password gets five
// tries a minute; a shared address (an office behind NAT) gets twenty sign-ins a minute
// across its accounts.
func DefaultRules() Rules {
	return Rules{
		// The account budget of SignIn counts per account and address (AccountAt).
		SignIn:        {Account: Limit{5, time.Minute}, Address: Limit{20, time.Minute}},
		SignInCeiling: {Account: Limit{100, time.Hour}},
		SignUp:        {Account: Limit{5, time.Hour}, Address: Limit{5, time.Hour}},
		Refresh:       {Account: Limit{10, time.Minute}, Address: Limit{30, time.Minute}},
		// A person writes far less; a script flooding comments through one account
		// stops here. No address budget: one office may hold many writers.
		Write: {Account: Limit{120, time.Minute}},
	}
}

// Result is what a store decided about one event.
type Result struct {
	Allowed bool
	// RetryAfter is how long until the event would be allowed, when it was not.
	RetryAfter time.Duration
	// Remaining is how many more events the budget allows right now.
	Remaining int
	// Reset is how long until the budget is whole again.
	Reset time.Duration
}

// Store counts events per key. An event refused is not counted.
type Store interface {
	Allow(ctx context.Context, key string, l Limit) (Result, error)
}

// Config configures a Limiter.
type Config struct {
	Rules Rules
	// Secret keys the HMAC that turns emails, sessions and addresses into store keys,
	// so that none is kept in clear and none can be recovered by hashing guesses.
	// Instances sharing a store must share it.
	Secret []byte
	// Store counts the events; nil counts them in this process's memory.
	Store Store
	// Logger receives the warnings about an unreachable store; nil is slog.Default().
	Logger *slog.Logger
}

// Limiter checks the budgets of Rules. A nil *Limiter allows everything.
type Limiter struct {
	rules    Rules
	secret   []byte
	store    Store
	fallback *Memory
	log      *slog.Logger
	warn     rate.Sometimes
	errors   atomic.Uint64
	// downUntil (Unix nanoseconds) skips a store that just failed, so that an outage
	// costs one timeout per second rather than one per request.
	downUntil atomic.Int64
}

// storeRetry is how long a failed store is skipped before it is tried again.
const storeRetry = time.Second

// New returns a Limiter.
func New(cfg Config) *Limiter {
	l := &Limiter{
		rules:    cfg.Rules,
		secret:   cfg.Secret,
		store:    cfg.Store,
		fallback: NewMemory(),
		log:      cfg.Logger,
		warn:     rate.Sometimes{Interval: 10 * time.Second},
	}
	if l.store == nil {
		l.store = l.fallback
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// StoreErrors is how many decisions the shared store could not make (each then made by
// this instance's memory instead), for monitoring.
func (l *Limiter) StoreErrors() uint64 {
	if l == nil {
		return 0
	}
	return l.errors.Load()
}

// Check spends one event of action for the client address in ctx (see WithClient) and
// one for account, and returns a RATE_LIMITED error when either budget is spent. The
// address is checked first, so a flood from one address is refused without spending
// the budgets of the accounts it names.
func (l *Limiter) Check(ctx context.Context, action Action, account string) error {
	if err := l.CheckAddress(ctx, action); err != nil {
		return err
	}
	return l.CheckAccount(ctx, action, account)
}

// CheckAddress spends one event of action for the client address in ctx; a context
// without one (work outside a request) is not limited.
func (l *Limiter) CheckAddress(ctx context.Context, action Action) error {
	if l == nil {
		return nil
	}
	lim := l.rules[action].Address
	addr := ClientFrom(ctx)
	if !addr.IsValid() || lim.Off() {
		return nil
	}
	return l.spend(ctx, action, "addr", addrKey(addr), lim)
}

// CheckAccount spends one event of action for account; an empty account is not limited.
func (l *Limiter) CheckAccount(ctx context.Context, action Action, account string) error {
	if l == nil {
		return nil
	}
	lim := l.rules[action].Account
	if account == "" || lim.Off() {
		return nil
	}
	return l.spend(ctx, action, "acct", account, lim)
}

func (l *Limiter) spend(ctx context.Context, action Action, kind, subject string, lim Limit) error {
	key := l.key(action, kind, subject)
	res, err := l.allow(ctx, key, lim)
	if err != nil {
		return apperr.Internal(fmt.Errorf("rate limit: %w", err))
	}
	// The ceiling slows attempts and never refuses them: it is no budget a client paces
	// itself by, and naming it would tell a guesser how far an account has been tried.
	if s, _ := ctx.Value(spentKey{}).(*Spent); s != nil && action != SignInCeiling {
		s.note(lim, res)
	}
	if res.Allowed {
		return nil
	}
	return apperr.RateLimited(res.RetryAfter)
}

// allow asks the store. When a shared store fails, the decision falls back to this
// instance's memory rather than failing open (an attacker who can break Redis would get
// unlimited password guesses) or closed (a Redis outage would lock everyone out of
// signing in): every instance still enforces the budget, each on its own count.
func (l *Limiter) allow(ctx context.Context, key string, lim Limit) (Result, error) {
	if l.store == l.fallback {
		return l.fallback.Allow(ctx, key, lim)
	}
	if time.Now().UnixNano() < l.downUntil.Load() {
		return l.fallback.Allow(ctx, key, lim)
	}
	res, err := l.store.Allow(ctx, key, lim)
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil {
		// The request itself ended; the store is not to blame.
		return Result{}, err
	}
	l.errors.Add(1)
	l.downUntil.Store(time.Now().Add(storeRetry).UnixNano())
	l.warn.Do(func() {
		l.log.LogAttrs(ctx, slog.LevelWarn, "rate limit store unreachable; counting in this instance's memory",
			slog.Any("error", err))
	})
	return l.fallback.Allow(ctx, key, lim)
}

// key names a budget in the store. The subject goes in as an HMAC: store keys are
// visible to whoever can reach Redis, and must not list emails or sessions.
func (l *Limiter) key(action Action, kind, subject string) string {
	m := hmac.New(sha256.New, l.secret)
	m.Write([]byte(subject))
	return "inkwell:rl:" + string(action) + ":" + kind + ":" + hex.EncodeToString(m.Sum(nil)[:16])
}

// AccountAt is account as seen from the client address in ctx: budgets keyed by it count
// one address's attempts at an account, so that failures from elsewhere cannot spend the
// owner's.
func AccountAt(ctx context.Context, account string) string {
	if a := ClientFrom(ctx); a.IsValid() {
		return account + "\x00" + addrKey(a)
	}
	return account
}

// Delay is how long an attempt past a ceiling (SignInCeiling) is held before it is
// served: long enough to make guessing slow, short enough for the owner to wait.
const Delay = time.Second

// Slow spends one event of action for account and, when its budget is spent, waits
// Delay (or until ctx ends) instead of refusing. It reports whether it waited.
func (l *Limiter) Slow(ctx context.Context, action Action, account string) bool {
	if l.CheckAccount(ctx, action, account) == nil {
		return false
	}
	select {
	case <-time.After(Delay):
	case <-ctx.Done():
	}
	return true
}

// addrKey is the budget an address spends: an IPv6 host usually holds a whole /64, so
// the /64 is one client.
func addrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
