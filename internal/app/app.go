// Package app wires the parts of the server together: database, tokens, services,
// loaders, the GraphQL schema and the HTTP handler. cmd/inkwell and the end-to-end tests
// build the server through it, so tests run exactly what production runs.
package app

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	neturl "net/url"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"inkwell/ent"
	"inkwell/graph"
	"inkwell/internal/auth"
	"inkwell/internal/config"
	"inkwell/internal/dbstats"
	"inkwell/internal/loader"
	"inkwell/internal/oauth"
	"inkwell/internal/server"
	"inkwell/internal/service"
)

// App is a wired server.
type App struct {
	Client  *ent.Client
	Service *service.Service
	Tokens  *auth.Tokens
	OAuth   *oauth.Service
	Handler http.Handler
}

// New wires a server over an open database. cfg.SigningKey must be set.
func New(db *sql.DB, cfg config.Config, log *slog.Logger) (*App, error) {
	tokens, err := NewTokens(cfg)
	if err != nil {
		return nil, err
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
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{Service: svc, Providers: social.Providers}})
	scfg := server.DefaultConfig()
	scfg.CORSOrigins = cfg.CORSOrigins
	scfg.Introspection = cfg.Introspection
	h := server.New(scfg, server.Deps{
		Schema:     schema,
		Auth:       auth.Middleware(tokens),
		PerRequest: loader.PerRequest(client),
		Ready:      db.PingContext,
		Logger:     log,
		Routes:     map[string]http.Handler{"/auth/": social.Handler()},
	})
	return &App{Client: client, Service: svc, Tokens: tokens, OAuth: social, Handler: h}, nil
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
