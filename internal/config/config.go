// Package config reads the server's configuration from environment variables into one
// validated Config. README.md lists every variable with its default.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"inkwell/internal/images"
	"inkwell/internal/oauth"
	"inkwell/internal/ratelimit"
	"inkwell/internal/storage"
)

// Config is everything the server needs to start.
type Config struct {
	// LogLevel is the least severe level logged (INKWELL_LOG_LEVEL: debug, info, warn or
	// error; default info).
	LogLevel slog.Level
	// Addr is the listen address (INKWELL_ADDR, default 127.0.0.1:8080).
	Addr string
	// DatabaseURL is the PostgreSQL URL (DATABASE_URL). Empty: a local PostgreSQL under
	// DataDir is started and used.
	DatabaseURL string
	// DataDir holds the local PostgreSQL and the development signing key
	// (INKWELL_DATA_DIR, default .inkwell in the working directory).
	DataDir string
	// Production refuses development conveniences (INKWELL_ENV=production).
	Production bool
	// SigningKey signs access tokens (INKWELL_SIGNING_KEY, at least 32 bytes). Empty in
	// development: a random key is made once and kept in DataDir.
	SigningKey string
	// PreviousSigningKeys still verify tokens during a key rotation
	// (INKWELL_PREVIOUS_SIGNING_KEYS, comma-separated).
	PreviousSigningKeys []string
	// Issuer and Audience go into and are checked on every access token
	// (INKWELL_TOKEN_ISSUER, INKWELL_TOKEN_AUDIENCE; default "inkwell").
	Issuer, Audience string
	// AccessTTL and RefreshTTL are token lifetimes (INKWELL_ACCESS_TTL default 15m,
	// INKWELL_REFRESH_TTL default 720h).
	AccessTTL, RefreshTTL time.Duration
	// CORSOrigins are the browser origins allowed to call the API
	// (INKWELL_CORS_ORIGINS, comma-separated; empty allows none).
	CORSOrigins []string
	// MigrateOnStart applies pending migrations when serving (INKWELL_MIGRATE_ON_START,
	// default true).
	MigrateOnStart bool
	// DemoData loads the demo data set into an empty database (INKWELL_DEMO_DATA;
	// default true with the local database, false with DATABASE_URL).
	DemoData bool
	// CostReceipts adds extensions.cost to every GraphQL answer over HTTP, not only to
	// those asked for with "Inkwell-Cost: on" (in development).
	CostReceipts bool
	// Introspection answers schema introspection (INKWELL_INTROSPECTION, default true;
	// false in production).
	Introspection bool
	// Playground serves GraphiQL at / (INKWELL_PLAYGROUND, default true; false in
	// production).
	Playground bool
	// PublicURL is this server's external base URL, for provider redirect URIs
	// (INKWELL_PUBLIC_URL, default http://<INKWELL_ADDR>).
	PublicURL string
	// SMTPURL is the mail server for verification links (INKWELL_SMTP_URL, e.g.
	// smtp://user:password@mail.example.com:587; see internal/mail.SMTP). Unset, the
	// links are written to the log.
	SMTPURL string
	// MailFrom is the sender of the server's emails (INKWELL_MAIL_FROM; default
	// no-reply@ the public URL's host).
	MailFrom string
	// EmailVerifyURL is the page a verification link opens, with ?token= added
	// (INKWELL_EMAIL_VERIFY_URL; empty means PublicURL + "/auth/verify-email", served
	// by Inkwell). An app with a page of its own calls verifyEmail from it.
	EmailVerifyURL string
	// AuthReturnURLs are the exact URLs a provider sign-in may return to
	// (INKWELL_AUTH_RETURN_URLS, comma-separated; default the playground, PublicURL + "/").
	AuthReturnURLs []string
	// Providers are the configured sign-in providers, in the order GitHub, Google, OIDC.
	Providers []oauth.ProviderConfig
	// MetricsAddr is where /metrics and /debug/pprof/ listen (INKWELL_METRICS_ADDR;
	// empty, the default, serves neither). Keep it off the public network.
	MetricsAddr string
	// ShutdownGrace is how long in-flight requests and subscriptions may finish after
	// SIGTERM, once ShutdownDelay has passed (INKWELL_SHUTDOWN_GRACE, default 10s).
	ShutdownGrace time.Duration
	// ShutdownDelay is how long the server keeps serving after SIGTERM with /readyz at
	// 503, so that load balancers stop sending it requests before it stops listening
	// (INKWELL_SHUTDOWN_DELAY, default 0s; a few seconds behind a proxy).
	ShutdownDelay time.Duration
	// DBMaxConns caps the open connections to PostgreSQL (INKWELL_DB_MAX_CONNS,
	// default 20), to the primary and to each replica. A request that finds them all busy
	// waits for one until its deadline.
	DBMaxConns int
	// DirectURL reaches the primary without a transaction pooler in between
	// (DATABASE_DIRECT_URL; default DatabaseURL): for what needs a session of its own,
	// the event listener's LISTEN and the migrations' advisory lock. Set it when
	// DatabaseURL goes through PgBouncer in transaction mode (or RDS Proxy).
	DirectURL string
	// ReplicaURLs are streaming replicas of DatabaseURL's database that queries may read
	// from (DATABASE_REPLICA_URLS: postgres:// URLs separated by commas, spaces or lines;
	// a URL may list several hosts).
	ReplicaURLs []string
	// ReplicaMaxLag is how far behind the primary a replica may fall and stay in the
	// rotation (INKWELL_REPLICA_MAX_LAG, default 5s).
	ReplicaMaxLag time.Duration
	// ReplicaWait is how long a read that must see a write waits for a replica to replay
	// it before it goes to the primary (INKWELL_REPLICA_WAIT, default 50ms).
	ReplicaWait time.Duration
	// Storage is where uploaded images go: "local" (StorageDir, served by Inkwell; the
	// default) or "s3" (S3) (INKWELL_STORAGE).
	Storage string
	// StorageDir is the local store's directory (INKWELL_STORAGE_DIR, default
	// DataDir/uploads).
	StorageDir string
	// S3 is the bucket of the "s3" store: INKWELL_S3_BUCKET, INKWELL_S3_REGION (default
	// AWS_REGION, else us-east-1), INKWELL_S3_ENDPOINT for an S3-compatible server, and
	// INKWELL_S3_PATH_STYLE; credentials come from the AWS SDK's default chain.
	S3 storage.S3Config
	// ImageLimits bound what an uploaded image may be (zero: images.DefaultLimits).
	ImageLimits images.Limits
	// TrashRetention is how long a deleted article stays in its author's trash, where
	// restoreArticle can bring it back, before it is purged (INKWELL_TRASH_RETENTION,
	// default 720h: 30 days).
	TrashRetention time.Duration
	// EntityCacheMB bounds the in-memory cache of shared entities (users, articles, tags,
	// comment pages, counts) that every instance keeps coherent through change events
	// (INKWELL_ENTITY_CACHE_MB, default 1; 0 turns it off). The response cache answers
	// most reads; this one serves what a write made it build again. Each MB of it takes
	// about 3 MB of RSS (its entries and the heap growth GOGC allows on them), so the
	// default keeps a busy server near 100 MB.
	EntityCacheMB int
	// ResponseCacheMB bounds the cache of whole query answers, served again while
	// nothing they were built from has changed (INKWELL_RESPONSE_CACHE_MB, default 32,
	// the least the store takes; 0 turns it off). It needs the entity cache.
	ResponseCacheMB int
	// DBPreparedStatements is how many read statements stay prepared on each connection
	// (INKWELL_DB_PREPARED_STATEMENTS, default 128; 0 prepares none, as a pooler in
	// transaction mode without prepared-statement support needs).
	DBPreparedStatements int
	// MaxSubscriptionsPerConnection caps the active subscriptions of one WebSocket
	// (INKWELL_MAX_SUBSCRIPTIONS_PER_CONNECTION, default 20).
	MaxSubscriptionsPerConnection int
	// MaxOperationsPerConnection caps the queries and mutations one WebSocket runs at once
	// (INKWELL_MAX_OPERATIONS_PER_CONNECTION, default 8).
	MaxOperationsPerConnection int
	// MaxConnections and MaxConnectionsPerAddress cap the open WebSockets, in all and per
	// client address (INKWELL_MAX_CONNECTIONS 10000, INKWELL_MAX_CONNECTIONS_PER_ADDRESS 32).
	MaxConnections, MaxConnectionsPerAddress int
	// SubscriptionBuffer is how many events a subscription may fall behind by before it
	// is ended as a slow consumer (INKWELL_SUBSCRIPTION_BUFFER, default 64).
	SubscriptionBuffer int
	// SubscriptionCatchUp is how many it may fall behind by while it catches up after
	// the database held it up: a replay after a failover, or reads that waited for the
	// database (INKWELL_SUBSCRIPTION_CATCH_UP, default 4096 or the buffer if larger; not
	// less than the buffer).
	SubscriptionCatchUp int
	// PersistedQueries is apq (automatic persisted queries, the default), allowlist
	// (only the operations of PersistedQueriesFile) or off (INKWELL_PERSISTED_QUERIES).
	PersistedQueries string
	// PersistedQueriesFile is the allow-list's manifest, a JSON object of SHA-256 hex to
	// operation text (INKWELL_PERSISTED_QUERIES_FILE; required by allowlist only).
	PersistedQueriesFile string
	// PublicCacheMaxAge lets shared caches keep anonymous GET /graphql answers without
	// errors (INKWELL_PUBLIC_CACHE_MAX_AGE, whole seconds; default 0, off).
	PublicCacheMaxAge time.Duration
	// Limits bound what one request may ask (see Limits).
	Limits Limits
	// RedisURL is the Redis server that instances share rate-limit budgets through
	// (REDIS_URL; empty counts them in each instance's memory).
	RedisURL string
	// RateLimits are the budgets of signIn, signUp and refreshSession per account and
	// per client address (INKWELL_RATE_SIGNIN, INKWELL_RATE_SIGNIN_ADDR,
	// INKWELL_RATE_SIGNUP, INKWELL_RATE_SIGNUP_ADDR, INKWELL_RATE_REFRESH,
	// INKWELL_RATE_REFRESH_ADDR: "5/1m" or "off"; defaults ratelimit.DefaultRules).
	RateLimits ratelimit.Rules
	// TrustedProxies are the proxies whose X-Forwarded-For names the client address
	// (INKWELL_TRUSTED_PROXIES, comma-separated CIDRs or addresses; default none, so the
	// peer address is the client).
	TrustedProxies []netip.Prefix
	// MaxInFlight is how many /graphql requests are served at once
	// (INKWELL_MAX_IN_FLIGHT; default three per database connection, 60 with the default
	// pool). More wait up to QueueWait (INKWELL_QUEUE_WAIT, default 100ms), then get 503.
	MaxInFlight int
	QueueWait   time.Duration
}

// secretVars are the variables that may instead name a file holding the value, with
// the suffix _FILE (DATABASE_URL_FILE=/run/secrets/database-url): the way container
// platforms hand over secrets without putting them in the environment.
var secretVars = map[string]bool{
	"DATABASE_URL":                  true,
	"DATABASE_REPLICA_URLS":         true,
	"DATABASE_DIRECT_URL":           true,
	"INKWELL_SIGNING_KEY":           true,
	"INKWELL_PREVIOUS_SIGNING_KEYS": true,
	"INKWELL_GITHUB_CLIENT_SECRET":  true,
	"INKWELL_GOOGLE_CLIENT_SECRET":  true,
	"INKWELL_OIDC_CLIENT_SECRET":    true,
	"REDIS_URL":                     true,
	"INKWELL_SMTP_URL":              true,
}

// FromEnv reads the configuration from getenv (os.Getenv in production, a map in tests).
// A variable of secretVars may come from the file named by its _FILE variable instead.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	getenv = withSecretFiles(getenv, &errs)
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	boolean := func(name string, def bool) bool {
		v := str(name, "")
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", name, v))
		}
		return b
	}
	duration := func(name string, def time.Duration) time.Duration {
		v := str(name, "")
		if v == "" {
			return def
		}
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 15m or 90 (seconds)", name, v))
		}
		return d
	}
	list := func(name string) []string {
		var out []string
		// Commas, or lines in a file: one key per line reads best there.
		for _, p := range strings.FieldsFunc(getenv(name), func(r rune) bool { return r == ',' || r == '\n' }) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	c := Config{
		LogLevel:            logLevel(str("INKWELL_LOG_LEVEL", "info"), &errs),
		Addr:                str("INKWELL_ADDR", "127.0.0.1:8080"),
		DatabaseURL:         str("DATABASE_URL", ""),
		DataDir:             str("INKWELL_DATA_DIR", ".inkwell"),
		SigningKey:          str("INKWELL_SIGNING_KEY", ""),
		PreviousSigningKeys: list("INKWELL_PREVIOUS_SIGNING_KEYS"),
		Issuer:              str("INKWELL_TOKEN_ISSUER", "inkwell"),
		Audience:            str("INKWELL_TOKEN_AUDIENCE", "inkwell"),
		AccessTTL:           duration("INKWELL_ACCESS_TTL", 15*time.Minute),
		RefreshTTL:          duration("INKWELL_REFRESH_TTL", 30*24*time.Hour),
		CORSOrigins:         list("INKWELL_CORS_ORIGINS"),
		MigrateOnStart:      boolean("INKWELL_MIGRATE_ON_START", true),
		ShutdownGrace:       duration("INKWELL_SHUTDOWN_GRACE", 10*time.Second),
		TrashRetention:      duration("INKWELL_TRASH_RETENTION", 30*24*time.Hour),
		DBMaxConns:          20,
		MetricsAddr:         str("INKWELL_METRICS_ADDR", ""),
	}
	if c.DatabaseURL != "" {
		if err := checkDatabaseURL(c.DatabaseURL); err != nil {
			errs = append(errs, fmt.Errorf("DATABASE_URL: %w", err))
		}
	}
	c.DirectURL = str("DATABASE_DIRECT_URL", "")
	if c.DirectURL != "" {
		if c.DatabaseURL == "" {
			errs = append(errs, errors.New("DATABASE_DIRECT_URL: set DATABASE_URL too"))
		} else if err := checkDatabaseURL(c.DirectURL); err != nil {
			errs = append(errs, fmt.Errorf("DATABASE_DIRECT_URL: %w", err))
		}
	}
	c.ReplicaURLs = splitURLs(getenv("DATABASE_REPLICA_URLS"))
	for i, u := range c.ReplicaURLs {
		if err := checkDatabaseURL(u); err != nil || !strings.Contains(u, "://") {
			if err == nil {
				err = errors.New("not a postgres:// URL")
			}
			errs = append(errs, fmt.Errorf("DATABASE_REPLICA_URLS: URL %d: %w", i+1, err))
		}
	}
	if len(c.ReplicaURLs) > 0 && c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_REPLICA_URLS: set DATABASE_URL too (the local database has no replicas)"))
	}
	c.ReplicaMaxLag = duration("INKWELL_REPLICA_MAX_LAG", 5*time.Second)
	c.ReplicaWait = duration("INKWELL_REPLICA_WAIT", 50*time.Millisecond)
	switch env := str("INKWELL_ENV", "development"); env {
	case "development":
	case "production":
		c.Production = true
	default:
		errs = append(errs, fmt.Errorf("INKWELL_ENV: %q is neither development nor production", env))
	}
	// A production server does not describe its schema to strangers unless asked to.
	c.Introspection = boolean("INKWELL_INTROSPECTION", !c.Production)
	c.Playground = boolean("INKWELL_PLAYGROUND", !c.Production)
	c.CostReceipts = !c.Production
	c.DemoData = boolean("INKWELL_DEMO_DATA", c.DatabaseURL == "")
	c.Limits = readLimits(str, duration, boolean, c.Production, &errs)
	c.PublicURL = strings.TrimRight(str("INKWELL_PUBLIC_URL", defaultPublicURL(c.Addr)), "/")
	c.SMTPURL = str("INKWELL_SMTP_URL", "")
	c.MailFrom = str("INKWELL_MAIL_FROM", "no-reply@"+publicHost(c.PublicURL))
	c.EmailVerifyURL = str("INKWELL_EMAIL_VERIFY_URL", "")
	c.AuthReturnURLs = list("INKWELL_AUTH_RETURN_URLS")
	if len(c.AuthReturnURLs) == 0 {
		c.AuthReturnURLs = []string{c.PublicURL + "/"}
	}
	c.Providers = providers(str, list)
	c.Storage = str("INKWELL_STORAGE", "local")
	c.StorageDir = str("INKWELL_STORAGE_DIR", filepath.Join(c.DataDir, "uploads"))
	c.S3 = storage.S3Config{
		Bucket: str("INKWELL_S3_BUCKET", ""), Region: str("INKWELL_S3_REGION", str("AWS_REGION", "us-east-1")),
		Endpoint: str("INKWELL_S3_ENDPOINT", ""), PathStyle: boolean("INKWELL_S3_PATH_STYLE", false),
	}
	switch {
	case c.Storage != "local" && c.Storage != "s3":
		errs = append(errs, fmt.Errorf("INKWELL_STORAGE: %q is neither local nor s3", c.Storage))
	case c.Storage == "s3" && c.S3.Bucket == "":
		errs = append(errs, errors.New("INKWELL_S3_BUCKET: required with INKWELL_STORAGE=s3"))
	}
	c.PersistedQueries = str("INKWELL_PERSISTED_QUERIES", "apq")
	c.PersistedQueriesFile = str("INKWELL_PERSISTED_QUERIES_FILE", "")
	switch {
	case c.PersistedQueries != "apq" && c.PersistedQueries != "allowlist" && c.PersistedQueries != "off":
		errs = append(errs, fmt.Errorf("INKWELL_PERSISTED_QUERIES: %q is not apq, allowlist or off", c.PersistedQueries))
	case c.PersistedQueries == "allowlist" && c.PersistedQueriesFile == "":
		errs = append(errs, errors.New("INKWELL_PERSISTED_QUERIES_FILE: required with INKWELL_PERSISTED_QUERIES=allowlist"))
	case c.PersistedQueries != "allowlist" && c.PersistedQueriesFile != "":
		errs = append(errs, errors.New("INKWELL_PERSISTED_QUERIES_FILE: used only with INKWELL_PERSISTED_QUERIES=allowlist"))
	}
	if v := str("INKWELL_PUBLIC_CACHE_MAX_AGE", ""); v != "" {
		d, err := parseDuration(v)
		if err != nil || d < 0 || d%time.Second != 0 {
			errs = append(errs, fmt.Errorf("INKWELL_PUBLIC_CACHE_MAX_AGE: %q is not a whole number of seconds such as 60 or 1m", v))
		}
		c.PublicCacheMaxAge = d
	}
	c.MaxSubscriptionsPerConnection, c.SubscriptionBuffer, c.MaxOperationsPerConnection = 20, 64, 8
	c.MaxConnections, c.MaxConnectionsPerAddress = 10000, 32
	c.EntityCacheMB = 1
	if v := str("INKWELL_ENTITY_CACHE_MB", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<16 {
			errs = append(errs, fmt.Errorf("INKWELL_ENTITY_CACHE_MB: %q is not a whole number of megabytes from 0 (off) to 65536", v))
		}
		c.EntityCacheMB = n
	}
	c.ResponseCacheMB = 32
	if v := str("INKWELL_RESPONSE_CACHE_MB", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<16 {
			errs = append(errs, fmt.Errorf("INKWELL_RESPONSE_CACHE_MB: %q is not a whole number of megabytes from 0 (off) to 65536", v))
		}
		c.ResponseCacheMB = n
	}
	c.DBPreparedStatements = 128
	if v := str("INKWELL_DB_PREPARED_STATEMENTS", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 4096 {
			errs = append(errs, fmt.Errorf("INKWELL_DB_PREPARED_STATEMENTS: %q is not a whole number from 0 (none) to 4096", v))
		}
		c.DBPreparedStatements = n
	}
	for _, p := range []struct {
		name string
		dst  *int
	}{
		{"INKWELL_MAX_SUBSCRIPTIONS_PER_CONNECTION", &c.MaxSubscriptionsPerConnection},
		{"INKWELL_MAX_OPERATIONS_PER_CONNECTION", &c.MaxOperationsPerConnection},
		{"INKWELL_MAX_CONNECTIONS", &c.MaxConnections},
		{"INKWELL_MAX_CONNECTIONS_PER_ADDRESS", &c.MaxConnectionsPerAddress},
		{"INKWELL_SUBSCRIPTION_BUFFER", &c.SubscriptionBuffer},
		{"INKWELL_SUBSCRIPTION_CATCH_UP", &c.SubscriptionCatchUp},
		{"INKWELL_DB_MAX_CONNS", &c.DBMaxConns},
	} {
		if v := str(p.name, ""); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive whole number", p.name, v))
			}
			*p.dst = n
		}
	}
	if c.SubscriptionCatchUp == 0 {
		c.SubscriptionCatchUp = max(4096, c.SubscriptionBuffer)
	} else if c.SubscriptionCatchUp < c.SubscriptionBuffer {
		errs = append(errs, fmt.Errorf("INKWELL_SUBSCRIPTION_CATCH_UP: %d is less than INKWELL_SUBSCRIPTION_BUFFER (%d)", c.SubscriptionCatchUp, c.SubscriptionBuffer))
	}
	if v := str("INKWELL_SHUTDOWN_DELAY", ""); v != "" {
		d, err := parseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("INKWELL_SHUTDOWN_DELAY: %q is not a duration such as 5s or 5 (seconds)", v))
		}
		c.ShutdownDelay = d
	}
	c.RedisURL = str("REDIS_URL", "")
	c.RateLimits = rateLimits(str, &errs)
	if v := str("INKWELL_TRUSTED_PROXIES", ""); v != "" {
		var err error
		if c.TrustedProxies, err = ratelimit.ParsePrefixes(v); err != nil {
			errs = append(errs, fmt.Errorf("INKWELL_TRUSTED_PROXIES: %w", err))
		}
	}
	c.MaxInFlight = 3 * c.DBMaxConns
	if v := str("INKWELL_MAX_IN_FLIGHT", ""); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("INKWELL_MAX_IN_FLIGHT: %q is not a positive whole number", v))
		}
		c.MaxInFlight = n
	}
	c.QueueWait = duration("INKWELL_QUEUE_WAIT", 100*time.Millisecond)
	if c.SigningKey != "" && len(c.SigningKey) < 32 {
		errs = append(errs, errors.New("INKWELL_SIGNING_KEY: must be at least 32 bytes"))
	}
	for _, k := range c.PreviousSigningKeys {
		if len(k) < 32 {
			errs = append(errs, errors.New("INKWELL_PREVIOUS_SIGNING_KEYS: every key must be at least 32 bytes"))
			break
		}
	}
	if c.Production {
		if c.SigningKey == "" {
			errs = append(errs, errors.New("INKWELL_SIGNING_KEY: required in production"))
		} else if weakKey(c.SigningKey) {
			errs = append(errs, errors.New("INKWELL_SIGNING_KEY: looks like an example or a default, not a random key; generate one, e.g. openssl rand -hex 32"))
		}
		if c.DatabaseURL == "" {
			errs = append(errs, errors.New("DATABASE_URL: required in production"))
		}
	}
	return c, errors.Join(errs...)
}

// parseDuration reads a Go duration (90s, 15m, 720h) or a bare whole number of seconds:
// a number alone reads naturally as seconds and "60" should not be refused.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < 0 {
			return 0, fmt.Errorf("%d seconds is out of range", n)
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// logLevel reads INKWELL_LOG_LEVEL.
func logLevel(v string, errs *[]error) slog.Level {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	*errs = append(*errs, fmt.Errorf("INKWELL_LOG_LEVEL: %q is not debug, info, warn or error", v))
	return slog.LevelInfo
}

// checkDatabaseURL catches a DATABASE_URL that cannot be a PostgreSQL connection string
// before anything tries to connect with it: a URL (postgres://…) or key=value pairs.
func checkDatabaseURL(v string) error {
	if !strings.Contains(v, "://") {
		if strings.Contains(v, "=") {
			return nil
		}
		return errors.New("not a PostgreSQL URL such as postgres://user:password@host:5432/inkwell?sslmode=disable")
	}
	u, err := url.Parse(v)
	if err != nil {
		// url's error quotes the whole URL, password included.
		return errors.New("not a valid URL (a password with special characters must be percent-encoded)")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("scheme %q is not postgres:// or postgresql://", u.Scheme)
	}
	return nil
}

// splitURLs splits a list of postgres:// URLs separated by commas, spaces or lines. A
// comma inside a multi-host URL (postgres://a:5432,b:5432/db) does not split it: a piece
// that does not start a URL belongs to the one before.
func splitURLs(v string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
		if n := len(out); n > 0 && !strings.Contains(p, "://") {
			out[n-1] += "," + p
			continue
		}
		out = append(out, p)
	}
	return out
}

// withSecretFiles returns getenv that also reads each variable X of secretVars from the
// file named by X_FILE, its trailing newline trimmed. Setting both is an error, reported
// in errs, as is a file that cannot be read; neither error quotes the secret.
func withSecretFiles(getenv func(string) string, errs *[]error) func(string) string {
	files := map[string]string{}
	for name := range secretVars {
		path := strings.TrimSpace(getenv(name + "_FILE"))
		if path == "" {
			continue
		}
		if strings.TrimSpace(getenv(name)) != "" {
			*errs = append(*errs, fmt.Errorf("%s and %s_FILE: set only one", name, name))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s_FILE: %w", name, err))
			continue
		}
		files[name] = strings.TrimRight(string(b), "\r\n")
	}
	return func(name string) string {
		if v, ok := files[name]; ok {
			return v
		}
		return getenv(name)
	}
}

// weakKey reports whether a signing key is one nobody should sign production tokens
// with: an example's placeholder, or too uniform to be random.
func weakKey(key string) bool {
	lower := strings.ToLower(key)
	for _, word := range []string{"change-me", "changeme", "example", "placeholder", "secret", "insecure", "default"} {
		if strings.Contains(lower, word) {
			return true
		}
	}
	distinct := map[rune]bool{}
	for _, r := range key {
		distinct[r] = true
	}
	// 32 random hex digits use about 15 of 16; a few repeated characters are no key.
	return len(distinct) < 10
}

// rateLimits reads the budgets of each limited operation, per account and per address.
func rateLimits(str func(name, def string) string, errs *[]error) ratelimit.Rules {
	rules := ratelimit.DefaultRules()
	for _, v := range []struct {
		name   string
		action ratelimit.Action
	}{
		{"SIGNIN", ratelimit.SignIn},
		{"SIGNIN_CEILING", ratelimit.SignInCeiling},
		{"SIGNUP", ratelimit.SignUp},
		{"REFRESH", ratelimit.Refresh},
		{"WRITE", ratelimit.Write},
	} {
		rule := rules[v.action]
		for _, l := range []struct {
			name string
			dst  *ratelimit.Limit
		}{
			{"INKWELL_RATE_" + v.name, &rule.Account},
			{"INKWELL_RATE_" + v.name + "_ADDR", &rule.Address},
		} {
			if s := str(l.name, ""); s != "" {
				lim, err := ratelimit.ParseLimit(s)
				if err != nil {
					*errs = append(*errs, fmt.Errorf("%s: %w", l.name, err))
				}
				*l.dst = lim
			}
		}
		rules[v.action] = rule
	}
	return rules
}

func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// providers reads the sign-in providers; one is offered only when its client id is set.
func providers(str func(name, def string) string, list func(name string) []string) []oauth.ProviderConfig {
	var out []oauth.ProviderConfig
	if id := str("INKWELL_GITHUB_CLIENT_ID", ""); id != "" {
		out = append(out, oauth.ProviderConfig{
			Name: "github", DisplayName: "GitHub", Kind: oauth.KindGitHub,
			ClientID: id, ClientSecret: str("INKWELL_GITHUB_CLIENT_SECRET", ""),
			AuthURL:  str("INKWELL_GITHUB_AUTH_URL", ""),
			TokenURL: str("INKWELL_GITHUB_TOKEN_URL", ""),
			APIURL:   str("INKWELL_GITHUB_API_URL", ""),
		})
	}
	if id := str("INKWELL_GOOGLE_CLIENT_ID", ""); id != "" {
		out = append(out, oauth.ProviderConfig{
			Name: "google", DisplayName: "Google", Kind: oauth.KindOIDC,
			ClientID: id, ClientSecret: str("INKWELL_GOOGLE_CLIENT_SECRET", ""),
			Issuer: str("INKWELL_GOOGLE_ISSUER", "https://accounts.google.com"),
		})
	}
	if issuer := str("INKWELL_OIDC_ISSUER", ""); issuer != "" {
		out = append(out, oauth.ProviderConfig{
			Name:         str("INKWELL_OIDC_NAME", "oidc"),
			DisplayName:  str("INKWELL_OIDC_DISPLAY_NAME", "OpenID Connect"),
			Kind:         oauth.KindOIDC,
			Issuer:       issuer,
			ClientID:     str("INKWELL_OIDC_CLIENT_ID", ""),
			ClientSecret: str("INKWELL_OIDC_CLIENT_SECRET", ""),
			Scopes:       list("INKWELL_OIDC_SCOPES"),
		})
	}
	return out
}

// KeyID names a signing key in token headers without revealing it.
func KeyID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// DevSigningKey returns the development signing key kept in dir, making it on first use.
func DevSigningKey(dir string, random func([]byte) error) (string, error) {
	path := dir + "/signing.key"
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	return newDevSigningKey(dir, random)
}

// RotateDevSigningKey replaces the development signing key kept in dir, so that every
// token signed before is refused: emptying the database restarts user ids, and an old
// token would otherwise sign in as whoever now has its id.
func RotateDevSigningKey(dir string, random func([]byte) error) (string, error) {
	return newDevSigningKey(dir, random)
}

func newDevSigningKey(dir string, random func([]byte) error) (string, error) {
	raw := make([]byte, 32)
	if err := random(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Written aside and renamed, so a server starting meanwhile reads the old key or the
	// new one, never half of one.
	tmp := filepath.Join(dir, "signing.key.tmp")
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep signing key: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "signing.key")); err != nil {
		return "", fmt.Errorf("keep signing key: %w", err)
	}
	return key, nil
}

// publicHost is the host name of the public URL, for the default sender address.
func publicHost(public string) string {
	if u, err := url.Parse(public); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "localhost"
}
