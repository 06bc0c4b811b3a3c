package ratelimit

import (
	"context"
	"errors"
	"fmt"
	neturl "net/url"
	"sync"
	"time"

	"github.com/gomodule/redigo/redis"
	"golang.org/x/time/rate"
)

// Memory is a Store in this process's memory: budgets are per instance.
type Memory struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	swept   time.Time
	now     func() time.Time
}

// sweepEvery is how often Memory forgets the buckets that have filled up again, which
// are the same as new ones: memory stays proportional to the clients of the last
// period, not to every client ever seen.
const sweepEvery = time.Minute

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{buckets: map[string]*rate.Limiter{}, now: time.Now}
}

// Allow spends one event of key's bucket when it holds one.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.swept) >= sweepEvery {
		m.sweep(now)
	}
	b := m.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Every(l.interval()), l.N)
		m.buckets[key] = b
	}
	allowed := b.AllowN(now, 1)
	tokens := b.TokensAt(now)
	res := Result{
		Allowed:   allowed,
		Remaining: max(int(tokens), 0),
		Reset:     time.Duration((float64(l.N) - tokens) * float64(l.interval())),
	}
	if !allowed {
		res.RetryAfter = time.Duration((1 - tokens) * float64(l.interval()))
	}
	return res, nil
}

func (m *Memory) sweep(now time.Time) {
	m.swept = now
	for k, b := range m.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(m.buckets, k)
		}
	}
}

// Redis is a Store in Redis, shared by every instance using the same server. Each
// decision is one Lua script (GCRA, below), so concurrent instances cannot both spend the
// last event. The client is redigo rather than go-redis (with redis_rate): measured on
// this binary, go-redis adds 2.1 MB to its gzip size, which would take the image from
// 13.3 MB to about 15.5 MB, past its 15 MB budget. Most of it is command methods never
// called but kept by the linker: ent's runtime (ent/schema's field types) looks methods
// up through reflection, so every exported method of a type put in an interface stays.
type Redis struct {
	pool    *redis.Pool
	timeout time.Duration
}

// redisTimeout bounds one decision: a sign-in waiting longer on Redis is better decided
// by the fallback.
const redisTimeout = 250 * time.Millisecond

// gcra is the generic cell rate algorithm over one key holding the bucket's "theoretical
// arrival time" in microseconds of Redis's own clock (one clock for every instance). An
// event is allowed when, after it, the bucket would be at most burst events ahead of
// now; the key expires once the bucket is full again, so idle clients cost nothing.
//
// KEYS[1] bucket, ARGV[1] emission interval in µs, ARGV[2] burst. Returns
// {allowed (0/1), µs until the next event would be allowed, events left, µs until the
// bucket is full again}.
var gcra = redis.NewScript(1, `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - burst * interval
if now < allow_at then
  return {0, allow_at - now, 0, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, 0, math.floor((now - allow_at) / interval), next_tat - now}
`)

// NewRedis connects to the Redis server that url names (redis://[:password@]host:port/db
// or rediss:// for TLS). It does not wait for the server: an unreachable one shows in the
// first decision, which then falls back to memory.
func NewRedis(url string) (*Redis, error) {
	u, err := neturl.Parse(url)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		// The URL may hold a password: name the problem, not the value.
		return nil, errors.New("REDIS_URL: want redis://[:password@]host:port/db or rediss://…")
	}
	pool := &redis.Pool{
		// Fail fast and let the limiter fall back, rather than queue behind a dead server.
		DialContext: func(ctx context.Context) (redis.Conn, error) {
			return redis.DialURLContext(ctx, url,
				redis.DialConnectTimeout(redisTimeout),
				redis.DialReadTimeout(redisTimeout),
				redis.DialWriteTimeout(redisTimeout))
		},
		MaxIdle:     16,
		IdleTimeout: time.Minute,
	}
	return &Redis{pool: pool, timeout: redisTimeout}, nil
}

// Allow spends one event of key's bucket when it holds one.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	conn, err := r.pool.GetContext(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("redis: %w", err)
	}
	defer func() { _ = conn.Close() }()
	res, err := redis.Int64s(gcra.DoContext(ctx, conn, key, l.interval().Microseconds(), l.N))
	if err != nil {
		return Result{}, fmt.Errorf("redis: %w", err)
	}
	if len(res) != 4 {
		return Result{}, fmt.Errorf("redis: rate script answered %d values", len(res))
	}
	return Result{
		Allowed:    res[0] == 1,
		RetryAfter: time.Duration(res[1]) * time.Microsecond,
		Remaining:  int(res[2]),
		Reset:      time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	conn, err := r.pool.GetContext(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	_, err = redis.DoContext(conn, ctx, "PING")
	return err
}

// Close closes the connections.
func (r *Redis) Close() error { return r.pool.Close() }
