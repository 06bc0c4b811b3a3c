// Package server is the HTTP wiring of Inkwell: middleware order, the gqlgen handler with
// its transports and limits, the error presenter, the playground and health endpoints.
package server

import (
	"context"
	"encoding/json"
	"golang.org/x/sync/semaphore"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"go.opentelemetry.io/otel/trace"

	"inkwell/internal/buildinfo"
	"inkwell/internal/cache"
	"inkwell/internal/dbroute"
	"inkwell/internal/playground"
	"inkwell/internal/respcache"
	"inkwell/internal/telemetry"
)

// Defaults for the zero values of Config's limits.
const (
	defaultMaxBodyBytes          = 1 << 20
	defaultRequestTimeout        = 15 * time.Second
	defaultComplexityLimit       = 10000
	defaultMaxResponse           = 4 << 20
	defaultOperationsPerSocket   = 8
	defaultMaxConnections        = 10000
	defaultConnectionsPerAddress = 32
	defaultQueryCacheBytes       = 8 << 20
	defaultDepthLimit            = 12
	defaultTokenLimit            = 5000
	defaultFieldLimit            = 1000
	defaultAliasLimit            = 30
	defaultDirectiveLimit        = 50
	defaultAuthFieldLimit        = 1
	defaultErrorLimit            = 10
)

// readyTimeout bounds a readiness check: an orchestrator polling /readyz wants a quick no
// rather than a hung probe.
const readyTimeout = 2 * time.Second

// Config holds the HTTP limits and switches. A zero or negative limit takes its default.
type Config struct {
	// CORSOrigins are the browser origins allowed to call the API, matched exactly.
	// Empty sends no CORS headers at all.
	CORSOrigins []string
	// MaxBodyBytes caps a request body (default 1 MiB); a larger one gets 413.
	MaxBodyBytes int64
	// RequestTimeout is the deadline of one /graphql request (default 15s).
	RequestTimeout time.Duration
	// CostReceipts adds extensions.cost to every executed operation's HTTP answer, not
	// only to those of requests with "Inkwell-Cost: on" (development).
	CostReceipts bool
	// ComplexityLimit refuses operations of a higher gqlgen complexity (default 10000).
	// With graph.Complexity a field costs 1 and a list multiplies its selection by its
	// page size: 100 articles of 30 fields pass, 100 articles of 100 comments do not.
	ComplexityLimit int
	// MaxOperationsPerConnection caps the queries and mutations one WebSocket runs at
	// once (default 8); more are TOO_MANY_OPERATIONS.
	MaxOperationsPerConnection int
	// MaxConnections and MaxConnectionsPerAddress cap the open WebSockets, in all
	// (default 10000; more are OVERLOADED) and per client address (default 32; more are
	// TOO_MANY_CONNECTIONS).
	MaxConnections, MaxConnectionsPerAddress int
	// MaxResponseBytes caps the data of one query's or mutation's response (default
	// 4 MiB): past it the answer is RESPONSE_TOO_LARGE.
	MaxResponseBytes int64
	// QueryCacheBytes bounds the parsed-document cache by the size of the texts it keeps
	// (default 8 MiB).
	QueryCacheBytes int
	// DepthLimit refuses operations whose fields nest deeper (default 12).
	DepthLimit int
	// TokenLimit refuses documents of more lexical tokens (default 5000).
	TokenLimit int
	// FieldLimit refuses an operation or fragment of more fields, fragments expanded
	// (default 1000).
	FieldLimit int
	// AliasLimit refuses an operation or fragment of more aliased fields (default 30).
	AliasLimit int
	// DirectiveLimit refuses an operation or fragment of more directives (default 50).
	DirectiveLimit int
	// AuthFieldLimit is how many of signIn, signUp, refreshSession and exchangeLoginCode
	// one request may select (default 1).
	AuthFieldLimit int
	// ErrorLimit is the most errors one response lists (default 10); the last says how
	// many more were dropped.
	ErrorLimit int
	// DisableSuggestions leaves "Did you mean ...?" out of validation errors. They are
	// also left out whenever Introspection is off.
	DisableSuggestions bool
	// DisablePlayground stops serving GraphiQL at / and its assets under /playground/.
	// Served by default, so that a zero Config keeps the page.
	DisablePlayground bool
	// Introspection allows __schema and __type queries. A bool cannot default to true,
	// so start from DefaultConfig to get it on.
	Introspection bool
	// PersistedQueries is how hashed operations are served; empty is PersistedAPQ.
	PersistedQueries PersistedQueries
	// Manifest is the allow-list that PersistedAllowList serves (see LoadManifest).
	Manifest *Manifest
	// PublicCacheMaxAge, when positive, lets shared caches keep an anonymous GET /graphql
	// answer without errors that long (Cache-Control: public, max-age). Zero, the
	// default, marks every GET answer no-store.
	PublicCacheMaxAge time.Duration
	// MaxInFlight is how many /graphql requests are served at once (default 64); more
	// wait up to QueueWait (default 100ms) for a slot, then get 503 OVERLOADED.
	// WebSocket connections are not counted.
	MaxInFlight int
	QueueWait   time.Duration
	// TrustedProxies are the proxies whose X-Forwarded-For names the client address
	// (see ratelimit.ClientAddr); empty trusts none.
	TrustedProxies []netip.Prefix
}

// DefaultConfig returns the documented defaults, introspection on.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:     defaultMaxBodyBytes,
		RequestTimeout:   defaultRequestTimeout,
		ComplexityLimit:  defaultComplexityLimit,
		MaxResponseBytes: defaultMaxResponse,
		QueryCacheBytes:  defaultQueryCacheBytes,
		DepthLimit:       defaultDepthLimit,
		TokenLimit:       defaultTokenLimit,
		FieldLimit:       defaultFieldLimit,
		AliasLimit:       defaultAliasLimit,
		DirectiveLimit:   defaultDirectiveLimit,
		AuthFieldLimit:   defaultAuthFieldLimit,
		ErrorLimit:       defaultErrorLimit,
		Introspection:    true,
	}
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = defaultRequestTimeout
	}
	if c.ComplexityLimit <= 0 {
		c.ComplexityLimit = defaultComplexityLimit
	}
	if c.DepthLimit <= 0 {
		c.DepthLimit = defaultDepthLimit
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = defaultMaxConnections
	}
	if c.MaxConnectionsPerAddress <= 0 {
		c.MaxConnectionsPerAddress = defaultConnectionsPerAddress
	}
	if c.MaxOperationsPerConnection <= 0 {
		c.MaxOperationsPerConnection = defaultOperationsPerSocket
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = defaultMaxResponse
	}
	if c.QueryCacheBytes <= 0 {
		c.QueryCacheBytes = defaultQueryCacheBytes
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = defaultMaxInFlight
	}
	if c.QueueWait <= 0 {
		c.QueueWait = defaultQueueWait
	}
	for _, l := range []struct {
		v   *int
		def int
	}{
		{&c.TokenLimit, defaultTokenLimit},
		{&c.FieldLimit, defaultFieldLimit},
		{&c.AliasLimit, defaultAliasLimit},
		{&c.DirectiveLimit, defaultDirectiveLimit},
		{&c.AuthFieldLimit, defaultAuthFieldLimit},
		{&c.ErrorLimit, defaultErrorLimit},
	} {
		if *l.v <= 0 {
			*l.v = l.def
		}
	}
	return c
}

// Deps are what the server calls into. Only Schema is required.
type Deps struct {
	// Schema is graph.NewExecutableSchema(...).
	Schema graphql.ExecutableSchema
	// Auth is the bearer-token middleware; nil serves every request anonymously.
	Auth func(http.Handler) http.Handler
	// PerRequest installs per-request state such as dataloaders; nil installs nothing.
	PerRequest func(ctx context.Context) context.Context
	// Ready reports whether dependencies (the database) can serve; nil is always ready.
	Ready func(ctx context.Context) error
	// Logger receives access logs, hidden error causes and panics; nil is slog.Default().
	Logger *slog.Logger
	// Metrics records HTTP, GraphQL and SQL figures; nil records none.
	Metrics *telemetry.Metrics
	// TracerProvider, when set, traces each request: HTTP, GraphQL operation, resolver
	// spans. Nil, the default, adds no tracing code to the request path at all.
	TracerProvider trace.TracerProvider
	// Routes are more handlers by ServeMux pattern (e.g. "/auth/" for social sign-in).
	// They get recover, request ID, access log and CORS, but not the /graphql chain.
	Routes map[string]http.Handler
	// Subscriptions, when set, serves GraphQL over WebSocket on /graphql.
	Subscriptions *Subscriptions
	// Responses, when set, keeps queries' answers and serves them again while nothing
	// they were built from has changed (internal/respcache).
	Responses *respcache.Cache
	// Draining reports that the server is shutting down: /readyz answers 503 and every
	// response asks for its connection to be closed. nil never drains.
	Draining func() bool
	// Consistency, when set, lets queries read from replicas (by Inkwell-Min-LSN and the
	// token) and gives every mutation's answer extensions.consistency.lsn.
	Consistency *dbroute.Router
	// Horizon, with Caches, holds a query that names a log position until Caches have
	// heard of every change up to it, for up to HorizonWait, and past that answers it
	// without them (and without Responses).
	Horizon     Horizon
	Caches      *cache.Cache
	HorizonWait time.Duration
}

// New returns the handler for every route:
//
//	POST /graphql, GET /graphql   the API (GET for queries only)
//	GET  /graphql + Upgrade       GraphQL over WebSocket (graphql-transport-ws), with Deps.Subscriptions
//	GET  /                        the GraphiQL playground (unless DisablePlayground)
//	GET  /playground/             its scripts and styles, embedded
//	GET  /healthz                 200 while the process runs, with the build's version and commit
//	GET  /readyz                  200 when Deps.Ready succeeds within 2s, else 503 (and 503 while draining)
//
// Middleware runs recover, request ID, client address, access log, CORS for every route,
// then body limit, load shedding (MaxInFlight), timeout, Deps.Auth and Deps.PerRequest
// for /graphql only. WebSocket upgrades skip the shedding, timeout, Deps.Auth and
// Deps.PerRequest: they are long-lived (a slot each would starve requests), authenticate
// in connection_init and get per-request state per operation.
func New(cfg Config, deps Deps) http.Handler {
	if deps.Schema == nil {
		panic("server: Deps.Schema is nil")
	}
	cfg = cfg.withDefaults()
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}

	// One set of slots for HTTP requests and WebSocket operations alike.
	slots := semaphore.NewWeighted(int64(cfg.MaxInFlight))
	gql := newGraphQL(cfg, deps.Schema, log, newWebsocket(cfg, deps, log), slots, deps.Responses, deps.Consistency)
	observeGraphQL(gql, deps.Metrics, deps.TracerProvider)
	var api http.Handler = gql
	var horizon func(context.Context, http.Header) context.Context
	if deps.Horizon != nil && deps.Caches != nil {
		horizon = func(ctx context.Context, h http.Header) context.Context {
			return awaitHorizon(ctx, deps.Horizon, deps.Caches, deps.HorizonWait, h)
		}
	}
	if deps.Responses != nil || horizon != nil || deps.PerRequest != nil {
		api = unlessUpgrade(beforeExecution(deps.Responses, horizon, deps.PerRequest, api), api)
	}
	if deps.Auth != nil {
		api = unlessUpgrade(deps.Auth(api), api)
	}
	api = unlessUpgrade(withTimeout(cfg.RequestTimeout, api), api)
	// Inside limitBody: a slow upload does not hold a slot while its body trickles in.
	api = unlessUpgrade(shed(slots, cfg.QueueWait, api), api)
	api = limitBody(cfg.MaxBodyBytes, api)
	// Method and content type are checked first so that a request that cannot be served
	// is refused before its body is read or its token checked.
	api = checkGraphQLRequest(api)

	mux := http.NewServeMux()
	mux.Handle("/graphql", api)
	if !cfg.DisablePlayground {
		mux.Handle("GET /{$}", playground.Handler())
		mux.Handle("GET "+playground.AssetPath, playground.Handler())
	}
	mux.HandleFunc("GET /healthz", healthz)
	for pattern, h := range deps.Routes {
		mux.Handle(pattern, h)
	}
	mux.Handle("GET /readyz", readyz(deps.Ready, deps.Draining, log))

	var h http.Handler = mux
	if len(cfg.CORSOrigins) > 0 {
		h = cors(cfg.CORSOrigins, h)
	}
	h = closeWhenDraining(deps.Draining, h)
	h = accessLog(log, deps.Metrics, h)
	// Outside the access log, so that its line carries the trace ID.
	h = traceHTTP(deps.TracerProvider, h)
	h = requestContext(cfg.TrustedProxies, h)
	return recoverPanics(log, h)
}

// newGraphQL builds the gqlgen server. Extensions that refuse an operation run before
// execution, cheapest first: the document limits before gqlgen parses and validates,
// then introspection and complexity.
func newGraphQL(cfg Config, schema graphql.ExecutableSchema, log *slog.Logger, ws *websocketTransport, slots *semaphore.Weighted,
	responses *respcache.Cache, router *dbroute.Router,
) *handler.Server {
	srv := handler.New(schema)
	// First: a WebSocket upgrade is a GET, which getTransport would take.
	if ws != nil {
		srv.AddTransport(ws)
		srv.Use(websocketOperations{install: ws.subs.PerOperation, slots: slots, wait: cfg.QueueWait,
			timeout: cfg.RequestTimeout, perSocket: int32(cfg.MaxOperationsPerConnection)})
	}
	srv.Use(subscriptionsOverWebSocket{})
	// Our own transports: gqlgen's answer 422 rather than 200 to application/json
	// clients, 406 rather than 405 to a mutation over GET, pick the first Accept entry
	// rather than graphql-response+json wherever it is listed, and send "data": null
	// with request errors.
	srv.AddTransport(postTransport{responses: responses, costAlways: cfg.CostReceipts})
	srv.AddTransport(getTransport{publicMaxAge: cfg.PublicCacheMaxAge, responses: responses, costAlways: cfg.CostReceipts})
	cache := newQueryCache(cfg.QueryCacheBytes)
	srv.SetQueryCache(cache)
	srv.SetParserTokenLimit(cfg.TokenLimit)
	srv.SetErrorPresenter(presenter(log))
	srv.SetRecoverFunc(recoverFunc(log))
	srv.Use(newPersistedQueries(cfg.PersistedQueries, cfg.Manifest))
	// After persisted queries, which may put the text in place of a hash.
	srv.Use(documentLimits{cache: cache, limits: DocumentLimits{
		Tokens:     cfg.TokenLimit,
		Depth:      cfg.DepthLimit,
		Fields:     cfg.FieldLimit,
		Aliases:    cfg.AliasLimit,
		Directives: cfg.DirectiveLimit,
		AuthFields: cfg.AuthFieldLimit,
	}})
	srv.Use(errorLimit{max: cfg.ErrorLimit})
	srv.Use(responseBudget{max: cfg.MaxResponseBytes})
	// Inside the budget, whose refusal keeps the extensions.
	srv.Use(consistency{router: router})
	if cfg.DisableSuggestions {
		srv.SetDisableSuggestion(true)
	}

	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(refuseIntrospection{})
		// Suggestions ("Did you mean ...?") would reveal the schema piece by piece.
		srv.SetDisableSuggestion(true)
	}
	srv.Use(rejectNUL{})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	return srv
}

// healthz names the build too, so that whoever checks an instance sees what it runs.
func healthz(w http.ResponseWriter, _ *http.Request) {
	b := buildinfo.Get()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok", "version": b.Version, "commit": b.Commit})
}

func readyz(ready func(context.Context) error, draining func() bool, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if draining != nil && draining() {
			// Stopping: load balancers should send new requests elsewhere.
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "draining"})
			return
		}
		if ready == nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		// Ready runs aside so that a check ignoring its context still cannot hold the
		// probe past the deadline.
		done := make(chan error, 1)
		go func() { done <- ready(ctx) }()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err == nil {
			_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
			return
		}
		// The cause may name hosts and ports; it goes to the log, not to the prober.
		reason := "dependency check failed"
		if ctx.Err() != nil {
			reason = "dependency check timed out"
		}
		log.LogAttrs(r.Context(), slog.LevelWarn, "not ready",
			slog.String("request_id", RequestID(r.Context())), slog.Any("error", err))
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "reason": reason})
	})
}
