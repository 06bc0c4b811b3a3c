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
	"net/http"
	neturl "net/url"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/golang-jwt/jwt/v5"

	"inkwell/ent"
	"inkwell/graph"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/config"
	"inkwell/internal/dbstats"
	"inkwell/internal/events"
	"inkwell/internal/loader"
	"inkwell/internal/oauth"
	"inkwell/internal/server"
	"inkwell/internal/service"
)

// App is a wired server. Close it when it stops serving.
type App struct {
	Client  *ent.Client
	Service *service.Service
	Tokens  *auth.Tokens
	OAuth   *oauth.Service
	Handler http.Handler
	// Events is this instance's event hub. It listens from the first subscription, or
	// from Events.Start, until Close.
	Events *events.Hub

	stopSockets context.CancelFunc
}

// New wires a server over an open database. cfg.SigningKey must be set, and
// cfg.DatabaseURL must name the same database: subscriptions listen for events on a
// connection of their own.
func New(db *sql.DB, cfg config.Config, log *slog.Logger) (*App, error) {
	tokens, err := NewTokens(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return nil, errors.New("app: DatabaseURL is required to listen for events")
	}
	client := ent.NewClient(ent.Driver(dbstats.Wrap(entsql.OpenDB(dialect.Postgres, db))))
	svc := service.New(client, tokens, service.Config{RefreshTTL: cfg.RefreshTTL})
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
	hub := events.New(events.Config{DSN: cfg.DatabaseURL, Buffer: cfg.SubscriptionBuffer, Logger: log})
	perRequest := loader.PerRequest(client)
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{
		Service: svc, Providers: social.Providers, Events: hub, Loaders: perRequest,
	}})
	scfg := server.DefaultConfig()
	scfg.CORSOrigins = cfg.CORSOrigins
	scfg.Introspection = cfg.Introspection
	scfg.DisablePlayground = !cfg.Playground
	scfg.PersistedQueries = server.PersistedQueries(cfg.PersistedQueries)
	scfg.PublicCacheMaxAge = cfg.PublicCacheMaxAge
	if scfg.PersistedQueries == server.PersistedAllowList {
		// Checked against the schema now, so that a stale list stops the start rather
		// than failing its clients one operation at a time.
		if scfg.Manifest, err = server.LoadManifest(cfg.PersistedQueriesFile, schema.Schema()); err != nil {
			return nil, err
		}
	}
	stopped, stopSockets := context.WithCancel(context.Background())
	h := server.New(scfg, server.Deps{
		Schema:     schema,
		Auth:       auth.Middleware(tokens),
		PerRequest: loader.PerRequest(client),
		Ready:      db.PingContext,
		Logger:     log,
		Routes:     map[string]http.Handler{"/auth/": social.Handler()},
		Subscriptions: &server.Subscriptions{
			Authenticate: authenticateSocket(tokens),
			Connection: func(ctx context.Context) context.Context {
				return events.WithLimit(ctx, cfg.MaxSubscriptionsPerConnection)
			},
			PerOperation: func(ctx context.Context) context.Context {
				return perRequest(auth.WithSignIns(ctx))
			},
			Stopped: stopped,
		},
	})
	return &App{Client: client, Service: svc, Tokens: tokens, OAuth: social, Handler: h, Events: hub, stopSockets: stopSockets}, nil
}

// Close closes the open WebSockets (code 1001, going away, so clients reconnect
// elsewhere) and stops the event hub. Call it before shutting the HTTP server down,
// which does not wait for WebSockets. Close may be called more than once.
func (a *App) Close() {
	a.stopSockets()
	a.Events.Close()
}

// authenticateSocket checks the token of a WebSocket's connection_init with the rules of
// the Authorization header, and says when it expires so the socket can close then.
func authenticateSocket(tokens *auth.Tokens) func(context.Context, string) (context.Context, time.Time, error) {
	return func(ctx context.Context, token string) (context.Context, time.Time, error) {
		v, err := tokens.Verify(token)
		if err != nil {
			return ctx, time.Time{}, err
		}
		// Verify has checked signature and claims; exp is read again only for its time.
		var claims jwt.RegisteredClaims
		if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil || claims.ExpiresAt == nil {
			return ctx, time.Time{}, apperr.Unauthenticated("invalid access token")
		}
		return auth.WithViewer(ctx, v), claims.ExpiresAt.Time, nil
	}
}

// accounts lets the sign-in flow hand verified identities to the service.
type accounts struct{ svc *service.Service }

func (a accounts) LoginCode(ctx context.Context, id oauth.Identity) (string, error) {
	return a.svc.LoginCode(ctx, service.ExternalIdentity{
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

// DatabaseURL returns url with the driver settings Inkwell runs best with, unless the
// URL sets them itself: binary_parameters=yes lets lib/pq send a query with its
// arguments in one round trip instead of preparing it first (measured with bench/: W2
// +25 % req/s).
func DatabaseURL(url string) string {
	if strings.Contains(url, "binary_parameters") {
		return url
	}
	if u, err := neturl.Parse(url); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("binary_parameters", "yes")
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(url) + " binary_parameters=yes"
}
