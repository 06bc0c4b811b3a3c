// Package app wires the parts of the server together: database, tokens, services,
// loaders, the GraphQL schema and the HTTP handler. cmd/inkwell and the end-to-end tests
// build the server through it, so tests run exactly what production runs.
package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	neturl "net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel/trace"

	"inkwell/ent"
	_ "inkwell/ent/runtime" // the schema's defaults, hooks and privacy policies
	"inkwell/graph"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/change"
	"inkwell/internal/config"
	"inkwell/internal/dbroute"
	"inkwell/internal/dbstats"
	"inkwell/internal/events"
	"inkwell/internal/loader"
	"inkwell/internal/mail"
	"inkwell/internal/oauth"
	"inkwell/internal/ratelimit"
	"inkwell/internal/respcache"
	"inkwell/internal/server"
	"inkwell/internal/service"
	"inkwell/internal/stmtcache"
	"inkwell/internal/telemetry"
)

// App is a wired server. Close it when it stops serving.
type App struct {
	Client  *ent.Client
	Service *service.Service
	Tokens  *auth.Tokens
	OAuth   *oauth.Service
	Handler http.Handler
	// Entities is this instance's entity cache; nil when it is off.
	Entities *cache.Cache
	// Responses is this instance's cache of query answers; nil when it is off.
	Responses *respcache.Cache
	// Events is this instance's event hub. It listens from the first subscription, or
	// from Events.Start, until Close.
	Events *events.Hub

	// Metrics are this server's Prometheus metrics; serve Metrics.Registry with
	// telemetry.Handler.
	Metrics *telemetry.Metrics

	// Limits are the attempt budgets of signIn, signUp and refreshSession.
	Limits *ratelimit.Limiter

	// Router picks the database each query reads from: the primary, or a replica.
	Router *dbroute.Router

	stopSockets context.CancelFunc
	stopJobs    context.CancelFunc
	draining    *atomic.Bool
	redis       *ratelimit.Redis
	outbox      *mail.Outbox
}

// New wires a server over an open database. cfg.SigningKey must be set, and
// cfg.DatabaseURL must name the same database: subscriptions listen for events on a
// connection of their own.
func New(db *sql.DB, cfg config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.metrics == nil {
		o.metrics = telemetry.NewMetrics()
	}
	o.metrics.WatchDB(db)
	tokens, err := NewTokens(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, errors.New("app: DatabaseURL is required to listen for events")
	}
	// Reads go to a replica where the request allows it and one is fresh enough; the
	// router also answers mutations' log positions (extensions.consistency).
	router := dbroute.New(dbroute.Config{Primary: db, Replicas: o.replicas, MaxLag: cfg.ReplicaMaxLag,
		Wait: cfg.ReplicaWait, Logger: log})
	var replicaDrivers []dbroute.SQLDriver
	for _, r := range o.replicas {
		o.metrics.WatchDBNamed(r.DB, r.Name)
		replicaDrivers = append(replicaDrivers, stmtcache.Wrap(entsql.OpenDB(dialect.Postgres, r.DB), cfg.DBPreparedStatements))
	}
	o.metrics.WatchReplicas(router.Replicas)
	client := ent.NewClient(ent.Driver(dbstats.WrapTraced(dbroute.NewDriver(router,
		stmtcache.Wrap(entsql.OpenDB(dialect.Postgres, db), cfg.DBPreparedStatements), replicaDrivers...), o.tracerProvider)))
	limits, redis, err := newLimiter(cfg, log)
	if err != nil {
		return nil, err
	}
	var entities *cache.Cache
	if cfg.EntityCacheMB > 0 {
		entities = cache.New(cfg.EntityCacheMB << 20)
		o.metrics.WatchCache(entities)
	}
	responses := respcache.New(cfg.ResponseCacheMB<<20, entities)
	o.metrics.WatchResponses(responses)
	var transport mail.Transport
	switch {
	case cfg.SMTPURL != "":
		if transport, err = mail.SMTP(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return nil, fmt.Errorf("INKWELL_SMTP_URL: %w", err)
		}
	case cfg.Production:
		// Verification links hold secrets: in production they go by mail or not at all.
		log.Warn("INKWELL_SMTP_URL is not set: no verification emails are sent")
		transport = mail.Discard()
	default:
		transport = mail.Console(os.Stderr)
	}
	outbox := mail.NewOutbox(transport, log)
	verifyURL := cfg.EmailVerifyURL
	if verifyURL == "" {
		verifyURL = cfg.PublicURL + "/auth/verify-email"
	}
	// Caches, and sockets of ended sessions, hear of every write: this instance's at once,
	// the others' through the hub.
	sockets := newSocketSessions()
	onChange := func(s change.Set) {
		// Replicas serve reads again once they have replayed past this change, so that
		// no cache is refilled with what it just forgot. Counted before the eviction
		// (Router.MarkChanged).
		if entities != nil || responses != nil {
			router.MarkChanged()
		}
		entities.Apply(s)
		sockets.Apply(s)
	}
	own := change.NewOwn()
	store, storeRoutes, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	svc := service.New(client, tokens, service.Config{RefreshTTL: cfg.RefreshTTL, Limits: limits,
		Changed: change.Sinks(loader.Apply, func(_ context.Context, s change.Set) {
			onChange(s)
			own.Applied(s)
		}),
		Mail: outbox, VerifyURL: verifyURL, Entities: entities,
		Store: store, AssetsURL: cfg.PublicURL + "/assets/", ImageLimits: cfg.ImageLimits})
	social, err := oauth.New(oauth.Config{
		PublicURL:  cfg.PublicURL,
		ReturnURLs: cfg.AuthReturnURLs,
		CookieKey:  []byte(cfg.SigningKey),
		Providers:  cfg.Providers,
		Logger:     log,
	}, accounts{svc})
	if err != nil {
		return nil, fmt.Errorf("sign-in providers: %w", err)
	}
	// LISTEN needs a session of its own: through a transaction pooler it would hear nothing.
	listenURL := cfg.DatabaseURL
	if cfg.DirectURL != "" {
		listenURL = cfg.DirectURL
	}
	hub := events.New(events.Config{DSN: listenURL, Buffer: cfg.SubscriptionBuffer, CatchUp: cfg.SubscriptionCatchUp, Logger: log,
		OnChange: func(s change.Set) {
			if !own.Echo(s) {
				onChange(s)
			}
		}, OnListening: entities.SetListening,
		// Position marks go through the pool every query uses, rather than a connection
		// of their own.
		Marks: db})
	sockets.listen = hub.Start
	o.metrics.WatchSubscriptions(hub.Count, hub.CatchingUp)
	o.metrics.WatchEvents(hub.Replayed, hub.Dropped)
	if entities != nil {
		// The cache serves nothing until the hub listens for other instances' changes;
		// listening starts now rather than at the first subscription.
		go func() { _ = hub.Start(context.Background()) }()
	}
	sessionCheck := checkSession(svc, log)
	sockets.check = sessionCheck
	perRequest := observeLoaders(loader.PerRequest(client, entities), o.metrics)
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{
		Service: svc, Providers: social.Providers, Events: hub, Loaders: perRequest,
	}, Complexity: graph.Complexity()})
	scfg := server.DefaultConfig()
	scfg.CORSOrigins = cfg.CORSOrigins
	scfg.Introspection = cfg.Introspection
	scfg.DisablePlayground = !cfg.Playground
	scfg.PersistedQueries = server.PersistedQueries(cfg.PersistedQueries)
	scfg.PublicCacheMaxAge = cfg.PublicCacheMaxAge
	scfg.CostReceipts = cfg.CostReceipts
	lim := cfg.Limits
	scfg.MaxBodyBytes, scfg.RequestTimeout = int64(lim.MaxBodyBytes), lim.RequestTimeout
	scfg.TokenLimit, scfg.DepthLimit, scfg.FieldLimit = lim.Tokens, lim.Depth, lim.Fields
	scfg.AliasLimit, scfg.DirectiveLimit, scfg.ComplexityLimit = lim.Aliases, lim.Directives, lim.Complexity
	scfg.AuthFieldLimit, scfg.ErrorLimit = lim.AuthFields, lim.Errors
	scfg.MaxResponseBytes, scfg.QueryCacheBytes = int64(lim.MaxResponseBytes), lim.QueryCacheBytes
	scfg.DisableSuggestions = !lim.Suggestions
	scfg.MaxInFlight = cfg.MaxInFlight
	scfg.MaxOperationsPerConnection = cfg.MaxOperationsPerConnection
	scfg.MaxConnections, scfg.MaxConnectionsPerAddress = cfg.MaxConnections, cfg.MaxConnectionsPerAddress
	scfg.QueueWait = cfg.QueueWait
	scfg.TrustedProxies = cfg.TrustedProxies
	if scfg.PersistedQueries == server.PersistedAllowList {
		// Checked against the schema now, so that a stale list stops the start rather
		// than failing its clients one operation at a time.
		if scfg.Manifest, err = server.LoadManifest(cfg.PersistedQueriesFile, schema.Schema()); err != nil {
			return nil, err
		}
	}
	// Scheduled articles are published by whichever instance finds them due first.
	jobs, stopJobs := context.WithCancel(context.Background())
	go runJobs(jobs, svc, db, cfg.TrashRetention, log)
	stopped, stopSockets := context.WithCancel(context.Background())
	routes := map[string]http.Handler{
		"/auth/":             social.Handler(),
		"/auth/verify-email": verifyEmailHandler(svc),
	}
	maps.Copy(routes, storeRoutes)
	draining := new(atomic.Bool)
	h := server.New(scfg, server.Deps{
		Schema:         schema,
		Auth:           auth.Middleware(tokens, sessionCheck),
		PerRequest:     perRequest,
		Responses:      responses,
		Ready:          db.PingContext,
		Logger:         log,
		Metrics:        o.metrics,
		TracerProvider: o.tracerProvider,
		Routes:         routes,
		Subscriptions: &server.Subscriptions{
			Authenticate: authenticateSocket(tokens, sessionCheck, sockets),
			Connection: func(ctx context.Context) context.Context {
				return events.WithLimit(ctx, cfg.MaxSubscriptionsPerConnection)
			},
			PerOperation: perRequest,
			Stopped:      stopped,
		},
		Draining:    draining.Load,
		Consistency: router,
		Horizon:     hub,
		Caches:      entities,
		HorizonWait: cfg.ReplicaWait,
	})
	router.Start()
	return &App{
		Client: client, Service: svc, Tokens: tokens, OAuth: social, Handler: h, Events: hub, Limits: limits, Metrics: o.metrics,
		Entities: entities, Responses: responses, Router: router,
		stopSockets: stopSockets, stopJobs: stopJobs, draining: draining, redis: redis, outbox: outbox,
	}, nil
}

// Option changes how New wires the server.
type Option func(*options)

type options struct {
	metrics        *telemetry.Metrics
	tracerProvider trace.TracerProvider
	replicas       []dbroute.Replica
}

// WithReplicas lets queries read from these streaming replicas of the database when
// they are fresh enough (internal/dbroute). The app does not close them.
func WithReplicas(replicas []dbroute.Replica) Option {
	return func(o *options) { o.replicas = replicas }
}

// WithMetrics records into m rather than a new set of metrics.
func WithMetrics(m *telemetry.Metrics) Option { return func(o *options) { o.metrics = m } }

// WithTracerProvider traces requests, operations, resolvers and SQL statements with spans
// from tp (see telemetry.TracingFromEnv). Without it nothing is traced.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) { o.tracerProvider = tp }
}

// observeLoaders has the loaders that install installs report their batch sizes to m.
func observeLoaders(install func(context.Context) context.Context, m *telemetry.Metrics) func(context.Context) context.Context {
	return func(ctx context.Context) context.Context {
		return install(loader.WithBatchObserver(ctx, m.ObserveBatch))
	}
}

// Drain starts a graceful stop: /readyz answers 503 so that load balancers take this
// instance out, and every response from now on closes its connection, while requests are
// still served. Call Close, then shut the HTTP server down, once the balancers have had
// time to notice.
func (a *App) Drain() { a.draining.Store(true) }

// Close closes the open WebSockets (code 1001, going away, so clients reconnect
// elsewhere) and stops the event hub. Call it before shutting the HTTP server down,
// which does not wait for WebSockets. Close may be called more than once.
func (a *App) Close() {
	a.stopJobs()
	a.Router.Close()
	a.stopSockets()
	a.Events.Close()
	a.outbox.Close()
	a.Responses.Close()
	if a.redis != nil {
		_ = a.redis.Close()
	}
}

// runJobs publishes the scheduled articles that are due, every second until ctx ends:
// within about a second of their time. Every fifth second it also purges the articles in
// the trash for longer than retention and deletes the uploads nothing uses, and every
// minute it deletes the events the event log no longer needs to keep.
func runJobs(ctx context.Context, svc *service.Service, db *sql.DB, retention time.Duration, log *slog.Logger) {
	ctx = dbstats.Background(ctx)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := svc.PublishDue(ctx); err != nil && ctx.Err() == nil {
			log.Warn("publishing scheduled articles", "err", err, "published", n)
		}
		if tick%60 == 0 {
			if _, err := events.Prune(ctx, db, events.Retention); err != nil && ctx.Err() == nil {
				log.Warn("pruning the event log", "err", err)
			}
		}
		if tick%5 != 0 {
			continue
		}
		if n, err := svc.ExpireAssets(ctx); err != nil && ctx.Err() == nil {
			log.Warn("deleting unused uploads", "err", err, "deleted", n)
		}
		if n, err := svc.PurgeTrash(ctx, retention); err != nil && ctx.Err() == nil {
			log.Warn("purging the trash", "err", err, "purged", n)
		} else if n > 0 {
			log.Info("purged the trash", "articles", n)
		}
	}
}

// newLimiter builds the rate limits: shared through Redis when cfg.RedisURL is set, in
// this instance's memory otherwise. Keys are HMACs under a key derived from the signing
// key, which every instance shares.
func newLimiter(cfg config.Config, log *slog.Logger) (*ratelimit.Limiter, *ratelimit.Redis, error) {
	rc := ratelimit.Config{
		Rules:  cfg.RateLimits,
		Secret: []byte("inkwell rate limits\x00" + cfg.SigningKey),
		Logger: log,
	}
	var redis *ratelimit.Redis
	if cfg.RedisURL != "" {
		var err error
		if redis, err = ratelimit.NewRedis(cfg.RedisURL); err != nil {
			return nil, nil, err
		}
		rc.Store = redis
	}
	return ratelimit.New(rc), redis, nil
}

// authenticateSocket checks the token of a WebSocket's connection_init with the rules of
// the Authorization header, and says when it expires so the socket can close then.
func authenticateSocket(tokens *auth.Tokens, live auth.SessionCheck, sockets *socketSessions) func(context.Context, string) (context.Context, time.Time, error) {
	return func(ctx context.Context, token string) (context.Context, time.Time, error) {
		v, err := auth.Authenticate(ctx, tokens, live, token)
		if err != nil {
			return ctx, time.Time{}, err
		}
		return sockets.track(ctx, v), v.Expires, nil
	}
}

// checkSession is the service's session check, logging what is not the client's fault.
func checkSession(svc *service.Service, log *slog.Logger) auth.SessionCheck {
	return func(ctx context.Context, v auth.Viewer) error {
		err := svc.CheckSession(ctx, v)
		var e *apperr.Error
		if err == nil || errors.As(err, &e) {
			return err
		}
		if u := server.DatabaseUnavailable(ctx, err); u != nil {
			log.WarnContext(ctx, "check session: database unavailable", "err", err)
			return u
		}
		log.ErrorContext(ctx, "check session", "err", err)
		return err
	}
}

// accounts lets the sign-in flow hand verified identities to the service.
type accounts struct{ svc *service.Service }

func (a accounts) LoginCode(ctx context.Context, id oauth.Identity, challenge string) (string, error) {
	return a.svc.LoginCode(ctx, service.ExternalIdentity{
		Provider: id.Provider, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified, Login: id.Login,
	}, challenge)
}

func (a accounts) SpendLinkTicket(ctx context.Context, ticket string) (int, error) {
	return a.svc.SpendLinkTicket(ctx, ticket)
}

func (a accounts) LinkIdentity(ctx context.Context, uid int, id oauth.Identity) error {
	return a.svc.LinkIdentity(ctx, uid, service.ExternalIdentity{
		Provider: id.Provider, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified, Login: id.Login,
	})
}

// NewTokens builds the access-token signer and verifier from cfg.
func NewTokens(cfg config.Config) (*auth.Tokens, error) {
	tc := auth.TokenConfig{
		Issuer:   cfg.Issuer,
		Audience: cfg.Audience,
		TTL:      cfg.AccessTTL,
		Signing:  auth.Key{ID: config.KeyID(cfg.SigningKey), Secret: []byte(cfg.SigningKey)},
	}
	for _, k := range cfg.PreviousSigningKeys {
		tc.Verify = append(tc.Verify, auth.Key{ID: config.KeyID(k), Secret: []byte(k)})
	}
	t, err := auth.NewTokens(tc)
	if err != nil {
		return nil, fmt.Errorf("token keys: %w", err)
	}
	return t, nil
}

// HTTPConfig is the connection limits of l, for server.NewHTTPServer.
func HTTPConfig(l config.Limits) server.HTTPConfig {
	return server.HTTPConfig{
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// WithStatementTimeout returns url with PostgreSQL's statement_timeout set to d, so that
// no statement holds a connection and its locks longer, unless url sets it itself. lib/pq
// sends parameters it does not know to the server at connect time.
func WithStatementTimeout(url string, d time.Duration) string {
	if d <= 0 || strings.Contains(url, "statement_timeout") {
		return url
	}
	ms := strconv.FormatInt(d.Milliseconds(), 10)
	if u, err := neturl.Parse(url); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("statement_timeout", ms)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(url) + " statement_timeout=" + ms
}

// PoolURL is the URL the server's pool on the primary opens: url with DatabaseURL's
// driver settings and, unless pooled, statement_timeout d as a startup parameter.
// Through a transaction pooler (pooled: DATABASE_DIRECT_URL is set) the timeout cannot
// travel that way: PgBouncer refuses startup parameters it does not track (1.18 accepts
// no connection that names statement_timeout), and a SET would stay on a server
// connection that other clients then get. There the pooler sets it on its server
// connections (PgBouncer's connect_query); StatementTimeout tells whether it does.
func PoolURL(url string, pooled bool, d time.Duration) string {
	url = DatabaseURL(url)
	if pooled {
		return url
	}
	return WithStatementTimeout(url, d)
}

// StatementTimeout is the statement_timeout that db's sessions run with.
func StatementTimeout(ctx context.Context, db *sql.DB) (time.Duration, error) {
	var ms int64
	err := db.QueryRowContext(ctx, `SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'`).Scan(&ms)
	if err != nil {
		return 0, fmt.Errorf("read statement_timeout: %w", err)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// DatabaseURL returns url with the driver settings Inkwell runs best with, each unless
// the URL sets it itself:
//
//   - binary_parameters=yes lets lib/pq send a query with its arguments in one round trip
//     instead of preparing it first (measured with bench/: W2 +25 % req/s);
//   - connect_timeout=5 bounds a connection attempt, so that a database host that has
//     gone away makes requests fail with DATABASE_UNAVAILABLE in seconds instead of
//     hanging until the operating system gives up on TCP.
func DatabaseURL(url string) string {
	settings := [][2]string{{"binary_parameters", "yes"}, {"connect_timeout", "5"}}
	if u, err := neturl.Parse(url); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		for _, kv := range settings {
			if !q.Has(kv[0]) {
				q.Set(kv[0], kv[1])
			}
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	url = strings.TrimSpace(url)
	for _, kv := range settings {
		if !strings.Contains(url, kv[0]) {
			url += " " + kv[0] + "=" + kv[1]
		}
	}
	return url
}

// ConfigurePool sizes db's connection pool. Connections are recycled after a while so
// that a database failover or a replaced proxy is picked up without restarting, and
// a broken connection is replaced on the next use (database/sql retries on a fresh one).
func ConfigurePool(db *sql.DB, maxConns int) {
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(30 * time.Minute)
}
