// Package oauth signs people in with GitHub, Google or any OpenID Connect provider, using
// the authorization-code flow with PKCE. It serves the two HTTP endpoints of that flow and
// hands the identity the provider vouched for to an Accounts implementation, which owns
// the database and answers with a one-time login code for the single-page app to trade.
package oauth

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/securecookie"
	"golang.org/x/oauth2"
)

// Identity is who a provider says the user is.
type Identity struct {
	Provider      string // our provider name, e.g. "github", "google", "oidc"
	Subject       string // the provider's stable user id
	Email         string // lower-cased; "" when the provider gives none
	EmailVerified bool
	Login         string // username hint: GitHub login, OIDC preferred_username, else email local part
	Name          string
	AvatarURL     string
}

// Accounts signs a provider identity in: it finds, links or creates the user and returns
// a one-time login code for the SPA to trade.
type Accounts interface {
	// LoginCode's code may be traded only with the verifier of challenge (PKCE, S256).
	LoginCode(ctx context.Context, id Identity, challenge string) (code string, err error)
	// SpendLinkTicket spends a signed-in user's one-time link ticket and returns the
	// user; a bad ticket is an error.
	SpendLinkTicket(ctx context.Context, ticket string) (userID int, err error)
	// LinkIdentity joins id to user userID; a conflict is an apperr CONFLICT.
	LinkIdentity(ctx context.Context, userID int, id Identity) error
}

// Kind is the protocol a provider speaks.
type Kind string

// The supported kinds. Google is an OpenID Connect provider like any other.
const (
	KindGitHub Kind = "github"
	KindOIDC   Kind = "oidc"
)

// ProviderConfig configures one sign-in provider.
type ProviderConfig struct {
	Name         string // URL segment and Identity.Provider: [a-z0-9-]+, e.g. "github", "google", "oidc"
	DisplayName  string // "GitHub", "Google", ...; defaults from Name
	Kind         Kind
	ClientID     string
	ClientSecret string   // required for GitHub; may be empty for a public OIDC client
	Scopes       []string // defaults: GitHub "read:user","user:email"; OIDC "openid","email","profile"

	// Issuer is the OIDC issuer URL. Its discovery document and keys are fetched on first
	// use and cached; a failed discovery is retried on the next request.
	Issuer string

	// GitHub endpoints, overridable for tests. Defaults:
	// https://github.com/login/oauth/authorize, https://github.com/login/oauth/access_token
	// and https://api.github.com.
	AuthURL, TokenURL, APIURL string
}

// Config configures the Service.
type Config struct {
	// PublicURL is this server's external base URL, e.g. "http://127.0.0.1:8080". The
	// redirect URI registered with a provider is PublicURL + "/auth/" + name + "/callback".
	PublicURL string
	// ReturnURLs is the exact allow-list of return_to values: absolute http(s) URLs, or
	// paths on this server.
	ReturnURLs []string
	// CookieKey is a secret of at least 32 bytes that protects the flow cookie.
	CookieKey  []byte
	Providers  []ProviderConfig
	HTTPClient *http.Client // for calls to providers; nil means a client with a 10s timeout
	Logger     *slog.Logger // nil discards
}

// ProviderInfo describes a configured provider for a sign-in page.
type ProviderInfo struct {
	Name        string
	DisplayName string
	StartURL    string // PublicURL + "/auth/" + name + "/start"; add ?return_to=
}

// Service runs the sign-in flow for the configured providers. It is safe for concurrent use.
type Service struct {
	publicURL  string
	returnURLs map[string]bool
	codec      *securecookie.SecureCookie
	secure     bool
	providers  []*provider
	byName     map[string]*provider
	client     *http.Client
	log        *slog.Logger
	accounts   Accounts
}

const (
	defaultGitHubAuthURL  = "https://github.com/login/oauth/authorize"
	defaultGitHubTokenURL = "https://github.com/login/oauth/access_token"
	defaultGitHubAPIURL   = "https://api.github.com"

	minCookieKey = 32
	flowLifetime = 10 * time.Minute
)

var nameRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// provider is one configured provider with what the flow needs at run time.
type provider struct {
	ProviderConfig
	redirectURL string

	// GitHub: set by New. OIDC: set by the first successful discovery, under mu, so a
	// provider that is down at boot does not stop the server and is retried later.
	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New validates cfg and returns a Service. With no providers configured, the cookie key
// and public URL are not needed, and the handler answers 404 to everything.
func New(cfg Config, accounts Accounts) (*Service, error) {
	if err := validate(cfg, accounts); err != nil {
		return nil, fmt.Errorf("oauth config: %w", err)
	}
	s := &Service{
		publicURL:  strings.TrimSuffix(cfg.PublicURL, "/"),
		returnURLs: make(map[string]bool, len(cfg.ReturnURLs)),
		byName:     make(map[string]*provider, len(cfg.Providers)),
		client:     cfg.HTTPClient,
		log:        cfg.Logger,
		accounts:   accounts,
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, u := range cfg.ReturnURLs {
		s.returnURLs[u] = true
	}
	if len(cfg.Providers) == 0 {
		return s, nil
	}
	if u, _ := url.Parse(s.publicURL); u.Scheme == "https" {
		s.secure = true
	}
	s.codec = securecookie.New(deriveKey(cfg.CookieKey, "inkwell oauth cookie mac"), deriveKey(cfg.CookieKey, "inkwell oauth cookie aes"))
	s.codec.MaxAge(int(flowLifetime / time.Second))
	s.codec.SetSerializer(securecookie.JSONEncoder{})

	for _, pc := range cfg.Providers {
		p := &provider{ProviderConfig: pc, redirectURL: s.publicURL + "/auth/" + pc.Name + "/callback"}
		// Copy the scopes so that a caller reusing its slice cannot change ours.
		p.Scopes = append([]string(nil), pc.Scopes...)
		if p.DisplayName == "" {
			p.DisplayName = defaultDisplayName(p.Name)
		}
		switch p.Kind {
		case KindGitHub:
			p.AuthURL = cmp.Or(p.AuthURL, defaultGitHubAuthURL)
			p.TokenURL = cmp.Or(p.TokenURL, defaultGitHubTokenURL)
			p.APIURL = strings.TrimSuffix(cmp.Or(p.APIURL, defaultGitHubAPIURL), "/")
			if len(p.Scopes) == 0 {
				p.Scopes = []string{"read:user", "user:email"}
			}
			p.oauth = &oauth2.Config{
				ClientID:     p.ClientID,
				ClientSecret: p.ClientSecret,
				Endpoint:     oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL},
				RedirectURL:  p.redirectURL,
				Scopes:       p.Scopes,
			}
		case KindOIDC:
			if len(p.Scopes) == 0 {
				p.Scopes = []string{oidc.ScopeOpenID, "email", "profile"}
			}
		}
		s.providers = append(s.providers, p)
		s.byName[p.Name] = p
	}
	return s, nil
}

// validate reports every problem in cfg at once, so a misconfigured deployment is fixed in
// one round.
func validate(cfg Config, accounts Accounts) error {
	if len(cfg.Providers) == 0 {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if accounts == nil {
		bad("accounts is nil")
	}
	if len(cfg.CookieKey) < minCookieKey {
		bad("cookie key has %d bytes, want at least %d", len(cfg.CookieKey), minCookieKey)
	}
	if err := checkURL(cfg.PublicURL); err != nil {
		bad("public url: %w", err)
	} else if u, _ := url.Parse(cfg.PublicURL); u.Path != "" && u.Path != "/" {
		// The flow cookie is scoped to /auth/ at the root, and the handler serves there.
		bad("public url %q must not have a path", cfg.PublicURL)
	}
	if len(cfg.ReturnURLs) == 0 {
		bad("no return urls: every sign-in would be refused")
	}
	for _, u := range cfg.ReturnURLs {
		if err := checkReturnURL(u); err != nil {
			bad("return url: %w", err)
		}
	}
	seen := make(map[string]bool, len(cfg.Providers))
	for i, p := range cfg.Providers {
		where := fmt.Sprintf("provider %d (%q)", i, p.Name)
		if !nameRE.MatchString(p.Name) {
			bad("%s: name must match %s", where, nameRE)
		} else if seen[p.Name] {
			bad("%s: duplicate name", where)
		}
		seen[p.Name] = true
		if p.ClientID == "" {
			bad("%s: client id is empty", where)
		}
		switch p.Kind {
		case KindGitHub:
			if p.ClientSecret == "" {
				bad("%s: client secret is empty", where)
			}
			for field, u := range map[string]string{"auth url": p.AuthURL, "token url": p.TokenURL, "api url": p.APIURL} {
				if u == "" {
					continue
				}
				if err := checkURL(u); err != nil {
					bad("%s: %s: %w", where, field, err)
				}
			}
		case KindOIDC:
			if p.Issuer == "" {
				bad("%s: issuer is empty", where)
			} else if err := checkURL(p.Issuer); err != nil {
				bad("%s: issuer: %w", where, err)
			}
		default:
			bad("%s: kind %q is neither %q nor %q", where, p.Kind, KindGitHub, KindOIDC)
		}
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute http or https URL without a fragment.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute http(s) url", raw)
	}
	return nil
}

// checkReturnURL accepts an absolute http(s) URL or a path on this server. A path must
// not start with // or /\, which browsers read as the start of another host.
func checkReturnURL(raw string) error {
	if strings.HasPrefix(raw, "/") {
		if strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/\\") {
			return fmt.Errorf("%q names another host", raw)
		}
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("parse %q: %w", raw, err)
		}
		if u.Fragment != "" {
			return fmt.Errorf("%q has a fragment", raw)
		}
		return nil
	}
	return checkURL(raw)
}

// deriveKey gives each use of the configured secret its own key, so that the MAC key
// and the encryption key are never the same bytes.
func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func defaultDisplayName(name string) string {
	switch name {
	case "github":
		return "GitHub"
	case "google":
		return "Google"
	case "oidc":
		return "OpenID Connect"
	}
	return name
}

// Providers lists the configured providers in configuration order.
func (s *Service) Providers() []ProviderInfo {
	out := make([]ProviderInfo, 0, len(s.providers))
	for _, p := range s.providers {
		out = append(out, ProviderInfo{
			Name:        p.Name,
			DisplayName: p.DisplayName,
			StartURL:    s.publicURL + "/auth/" + p.Name + "/start",
		})
	}
	return out
}

// Handler serves GET /auth/{provider}/start and GET /auth/{provider}/callback. Mount it at
// the root of the server (or under "/auth/"); an unknown provider is 404.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /auth/{provider}/start", s.withProvider(s.start))
	mux.HandleFunc("GET /auth/{provider}/callback", s.withProvider(s.callback))
	return mux
}

func (s *Service) withProvider(h func(http.ResponseWriter, *http.Request, *provider)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// These answers carry one-time secrets in cookies and URLs: never cache them, and
		// never leak the callback URL (with its code) to the next page as a Referer.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		p, ok := s.byName[r.PathValue("provider")]
		if !ok {
			writeError(w, http.StatusNotFound, "not_found", "unknown sign-in provider")
			return
		}
		h(w, r, p)
	}
}

// config returns the provider's OAuth2 configuration and, for OIDC, its ID token verifier,
// running discovery first if no earlier request has managed to.
func (s *Service) config(ctx context.Context, p *provider) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oauth != nil {
		return p.oauth, p.verifier, nil
	}
	// The provider keeps this client for fetching its keys later.
	d, err := oidc.NewProvider(oidc.ClientContext(ctx, s.client), p.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover %s: %w", p.Issuer, err)
	}
	p.verifier = d.Verifier(&oidc.Config{ClientID: p.ClientID})
	p.oauth = &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     d.Endpoint(),
		RedirectURL:  p.redirectURL,
		Scopes:       p.Scopes,
	}
	return p.oauth, p.verifier, nil
}
