// Package config reads the server's configuration from environment variables into one
// validated Config. README.md lists every variable with its default.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"inkwell/internal/oauth"
)

// Config is everything the server needs to start.
type Config struct {
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
	// Introspection answers schema introspection (INKWELL_INTROSPECTION, default true).
	Introspection bool
	// Playground serves GraphiQL at / (INKWELL_PLAYGROUND, default true).
	Playground bool
	// PublicURL is this server's external base URL, for provider redirect URIs
	// (INKWELL_PUBLIC_URL, default http://<INKWELL_ADDR>).
	PublicURL string
	// AuthReturnURLs are the exact URLs a provider sign-in may return to
	// (INKWELL_AUTH_RETURN_URLS, comma-separated; default the playground, PublicURL + "/").
	AuthReturnURLs []string
	// Providers are the configured sign-in providers, in the order GitHub, Google, OIDC.
	Providers []oauth.ProviderConfig
	// MetricsAddr is where /metrics and /debug/pprof/ listen (INKWELL_METRICS_ADDR;
	// empty, the default, serves neither). Keep it off the public network.
	MetricsAddr string
	// ShutdownGrace is how long in-flight requests may finish after SIGTERM
	// (INKWELL_SHUTDOWN_GRACE, default 10s).
	ShutdownGrace time.Duration
	// MaxSubscriptionsPerConnection caps the active subscriptions of one WebSocket
	// (INKWELL_MAX_SUBSCRIPTIONS_PER_CONNECTION, default 20).
	MaxSubscriptionsPerConnection int
	// SubscriptionBuffer is how many events a subscription may fall behind by before it
	// is ended as a slow consumer (INKWELL_SUBSCRIPTION_BUFFER, default 64).
	SubscriptionBuffer int
	// PersistedQueries is apq (automatic persisted queries, the default), allowlist
	// (only the operations of PersistedQueriesFile) or off (INKWELL_PERSISTED_QUERIES).
	PersistedQueries string
	// PersistedQueriesFile is the allow-list's manifest, a JSON object of SHA-256 hex to
	// operation text (INKWELL_PERSISTED_QUERIES_FILE; required by allowlist only).
	PersistedQueriesFile string
	// PublicCacheMaxAge lets shared caches keep anonymous GET /graphql answers without
	// errors (INKWELL_PUBLIC_CACHE_MAX_AGE, whole seconds; default 0, off).
	PublicCacheMaxAge time.Duration
}

// FromEnv reads the configuration from getenv (os.Getenv in production, a map in tests).
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
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
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 15m", name, v))
		}
		return d
	}
	list := func(name string) []string {
		var out []string
		for _, p := range strings.Split(getenv(name), ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	c := Config{
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
		Introspection:       boolean("INKWELL_INTROSPECTION", true),
		Playground:          boolean("INKWELL_PLAYGROUND", true),
		ShutdownGrace:       duration("INKWELL_SHUTDOWN_GRACE", 10*time.Second),
		MetricsAddr:         str("INKWELL_METRICS_ADDR", ""),
	}
	switch env := str("INKWELL_ENV", "development"); env {
	case "development":
	case "production":
		c.Production = true
	default:
		errs = append(errs, fmt.Errorf("INKWELL_ENV: %q is neither development nor production", env))
	}
	c.DemoData = boolean("INKWELL_DEMO_DATA", c.DatabaseURL == "")
	c.PublicURL = strings.TrimRight(str("INKWELL_PUBLIC_URL", defaultPublicURL(c.Addr)), "/")
	c.AuthReturnURLs = list("INKWELL_AUTH_RETURN_URLS")
	if len(c.AuthReturnURLs) == 0 {
		c.AuthReturnURLs = []string{c.PublicURL + "/"}
	}
	c.Providers = providers(str, list)
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
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d%time.Second != 0 {
			errs = append(errs, fmt.Errorf("INKWELL_PUBLIC_CACHE_MAX_AGE: %q is not a whole number of seconds such as 60s", v))
		}
		c.PublicCacheMaxAge = d
	}
	c.MaxSubscriptionsPerConnection, c.SubscriptionBuffer = 20, 64
	for _, p := range []struct {
		name string
		dst  *int
	}{
		{"INKWELL_MAX_SUBSCRIPTIONS_PER_CONNECTION", &c.MaxSubscriptionsPerConnection},
		{"INKWELL_SUBSCRIPTION_BUFFER", &c.SubscriptionBuffer},
	} {
		if v := str(p.name, ""); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive whole number", p.name, v))
			}
			*p.dst = n
		}
	}
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
		}
		if c.DatabaseURL == "" {
			errs = append(errs, errors.New("DATABASE_URL: required in production"))
		}
	}
	return c, errors.Join(errs...)
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
	raw := make([]byte, 32)
	if err := random(raw); err != nil {
		return "", err
	}
	key := hex.EncodeToString(raw)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep signing key: %w", err)
	}
	return key, nil
}
