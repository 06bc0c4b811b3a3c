package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
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
// decision is one GCRA script on the server (redis_rate), so concurrent instances cannot
// both spend the last event.
type Redis struct {
	client  *redis.Client
	limiter *redis_rate.Limiter
	timeout time.Duration
}

// redisTimeout bounds one decision: a sign-in waiting longer on Redis is better decided
// by the fallback.
const redisTimeout = 250 * time.Millisecond

// errRedisURL names the problem, not the value: the URL may hold a password.
var errRedisURL = errors.New("REDIS_URL: want redis://[:password@]host:port/db or rediss://…")

// NewRedis connects to the Redis server that url names (redis://[:password@]host:port/db
// or rediss:// for TLS). It does not wait for the server: an unreachable one shows in the
// first decision, which then falls back to memory.
func NewRedis(url string) (*Redis, error) {
	// redis.ParseURL also takes unix:// and fills in a missing host: ask for one.
	u, err := neturl.Parse(url)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return nil, errRedisURL
	}
	// A query is ignored, as it always was: the settings that matter are fixed below.
	u.RawQuery, u.Fragment = "", ""
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, errRedisURL
	}
	if _, ok := u.User.Password(); u.User != nil && !ok {
		// A user alone is the password (redis://secret@host), as redis-cli reads it.
		opt.Username, opt.Password = "", u.User.Username()
	}
	// Fail fast and let the limiter fall back, rather than queue behind a dead server.
	opt.DialTimeout = redisTimeout
	opt.ReadTimeout = redisTimeout
	opt.WriteTimeout = redisTimeout
	opt.PoolTimeout = redisTimeout
	opt.ContextTimeoutEnabled = true
	// One try: a decision is not idempotent (a command retried after a timeout may
	// spend two events), and the fallback is the retry.
	opt.DialerRetries = 1
	opt.MaxRetries = -1
	// A decision holds a connection for one round trip: a few suffice, and a burst
	// beyond them waits its turn within the same timeout.
	opt.PoolSize = 16
	opt.MaxIdleConns = 16
	opt.ConnMaxIdleTime = time.Minute
	client := redis.NewClient(opt)
	return &Redis{client: client, limiter: redis_rate.NewLimiter(client), timeout: redisTimeout}, nil
}

// Allow spends one event of key's bucket when it holds one. redis_rate keeps the bucket
// under "rate:" + key: earlier versions kept it under key itself, in another encoding, so
// old and new instances never read each other's buckets.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	// redis_rate refills one event every Period/Rate and holds Burst. One per interval
	// gives Memory's interval exactly; N per Per would divide again, in floating point.
	res, err := r.limiter.Allow(ctx, key, redis_rate.Limit{Rate: 1, Period: l.interval(), Burst: l.N})
	if err != nil {
		return Result{}, fmt.Errorf("redis: %w", err)
	}
	out := Result{Allowed: res.Allowed > 0, Remaining: res.Remaining, Reset: res.ResetAfter}
	if !out.Allowed {
		// When allowing, redis_rate answers -1.
		out.RetryAfter = res.RetryAfter
	}
	return out, nil
}

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// LogRedisTo sends the Redis client's own messages (a failed dial, a pool's trouble) to
// log as warnings, instead of its plain-text lines on stderr between the JSON ones. The
// client's logger is one for the whole process.
func LogRedisTo(log *slog.Logger) { redis.SetLogger(redisLog{log}) }

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}
