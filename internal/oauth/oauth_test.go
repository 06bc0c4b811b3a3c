package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"inkwell/internal/apperr"
)

const (
	testPublicURL = "http://127.0.0.1:8080"
	testReturnTo  = "http://127.0.0.1:5173/auth/done?from=oauth"
	testClientID  = "client-1"
	testSecret    = "secret-1"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// fakeAccounts records every identity it is handed.
type fakeAccounts struct {
	mu         sync.Mutex
	calls      []Identity
	challenges []string
	err        error
}

func (a *fakeAccounts) LoginCode(_ context.Context, id Identity, challenge string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, id)
	a.challenges = append(a.challenges, challenge)
	if a.err != nil {
		return "", a.err
	}
	return "lc-" + id.Subject, nil
}

// The linking flow runs against the real service (internal/app/oauth_test.go); here a
// ticket is never valid.
func (a *fakeAccounts) SpendLinkTicket(context.Context, string) (int, error) {
	return 0, errors.New("no tickets here")
}

func (a *fakeAccounts) LinkIdentity(context.Context, int, Identity) error {
	return errors.New("no linking here")
}

func (a *fakeAccounts) Calls() []Identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Identity(nil), a.calls...)
}

func testConfig(providers ...ProviderConfig) Config {
	return Config{
		PublicURL:  testPublicURL,
		ReturnURLs: []string{testReturnTo, "http://127.0.0.1:5173/other"},
		CookieKey:  testKey,
		Providers:  providers,
	}
}

func githubConfig(base string) ProviderConfig {
	return ProviderConfig{
		Name: "github", Kind: KindGitHub, ClientID: testClientID, ClientSecret: testSecret,
		AuthURL: base + "/authorize", TokenURL: base + "/token", APIURL: base + "/api",
	}
}

func oidcConfig(issuer string) ProviderConfig {
	return ProviderConfig{Name: "oidc", Kind: KindOIDC, ClientID: testClientID, ClientSecret: testSecret, Issuer: issuer}
}

func newService(t *testing.T, cfg Config) (*Service, *fakeAccounts) {
	t.Helper()
	acc := &fakeAccounts{}
	s, err := New(cfg, acc)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, acc
}

func serve(h http.Handler, target string, cookies ...*http.Cookie) *http.Response {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func flowCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == cookieName && c.MaxAge > 0 {
			return c
		}
	}
	t.Fatalf("no %s cookie set; Set-Cookie = %q", cookieName, resp.Header.Values("Set-Cookie"))
	return nil
}

func location(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status = %d, want 302", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("parse Location: %v", err)
	}
	return u
}

func jsonError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d", resp.StatusCode, status)
	}
	var body struct{ Error, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode body: %v", err)
	}
	if body.Error != code || body.Message == "" {
		t.Fatalf("body = %+v, want error %q with a message", body, code)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Fatalf("Location = %q, want none", loc)
	}
}

// returnedTo checks a redirect back to testReturnTo, keeping its own query, and returns
// the query.
func returnedTo(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	u := location(t, resp)
	want, _ := url.Parse(testReturnTo)
	if u.Scheme != want.Scheme || u.Host != want.Host || u.Path != want.Path {
		t.Fatalf("redirected to %s, want %s", u, testReturnTo)
	}
	q := u.Query()
	if q.Get("from") != "oauth" {
		t.Fatalf("redirect %s lost the return_to query", u)
	}
	return q
}

// testChallenge is the S256 challenge of the verifier "test-verifier", as a client sends it.
var testChallenge = func() string {
	sum := sha256.Sum256([]byte("test-verifier"))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

func startPath(name, returnTo string) string {
	return "/auth/" + name + "/start?return_to=" + url.QueryEscape(returnTo) + "&code_challenge=" + testChallenge
}

func TestNew(t *testing.T) {
	valid := func(mod func(*Config)) Config {
		c := testConfig(githubConfig("https://gh.example"), oidcConfig("https://id.example"))
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for success
	}{
		{"valid", valid(func(*Config) {}), ""},
		{"no providers needs nothing else", Config{}, ""},
		{"github defaults", valid(func(c *Config) { c.Providers[0].AuthURL, c.Providers[0].TokenURL, c.Providers[0].APIURL = "", "", "" }), ""},
		{"public oidc client without secret", valid(func(c *Config) { c.Providers[1].ClientSecret = "" }), ""},
		{"short cookie key", valid(func(c *Config) { c.CookieKey = testKey[:31] }), "cookie key"},
		{"relative public url", valid(func(c *Config) { c.PublicURL = "/app" }), "public url"},
		{"public url with path", valid(func(c *Config) { c.PublicURL = "https://x.example/app" }), "public url"},
		{"no return urls", valid(func(c *Config) { c.ReturnURLs = nil }), "return urls"},
		{"return path on this server", valid(func(c *Config) { c.ReturnURLs = []string{"/done?x=1"} }), ""},
		{"return url without scheme", valid(func(c *Config) { c.ReturnURLs = []string{"app.example/done"} }), "return url"},
		{"protocol-relative return url", valid(func(c *Config) { c.ReturnURLs = []string{"//evil.example/"} }), "return url"},
		{"backslash return url", valid(func(c *Config) { c.ReturnURLs = []string{"/\\evil.example/"} }), "return url"},
		{"javascript return url", valid(func(c *Config) { c.ReturnURLs = []string{"javascript:alert(1)"} }), "return url"},
		{"empty name", valid(func(c *Config) { c.Providers[0].Name = "" }), "name must match"},
		{"upper-case name", valid(func(c *Config) { c.Providers[0].Name = "GitHub" }), "name must match"},
		{"name with slash", valid(func(c *Config) { c.Providers[0].Name = "a/b" }), "name must match"},
		{"duplicate name", valid(func(c *Config) { c.Providers[1].Name = "github" }), "duplicate"},
		{"no client id", valid(func(c *Config) { c.Providers[0].ClientID = "" }), "client id"},
		{"github without secret", valid(func(c *Config) { c.Providers[0].ClientSecret = "" }), "client secret"},
		{"github bad token url", valid(func(c *Config) { c.Providers[0].TokenURL = "token" }), "token url"},
		{"oidc without issuer", valid(func(c *Config) { c.Providers[1].Issuer = "" }), "issuer"},
		{"oidc relative issuer", valid(func(c *Config) { c.Providers[1].Issuer = "id.example" }), "issuer"},
		{"unknown kind", valid(func(c *Config) { c.Providers[1].Kind = "saml" }), "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, &fakeAccounts{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("New succeeded, want error about %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("New: %v, want error about %q", err, tc.want)
			}
		})
	}

	t.Run("nil accounts", func(t *testing.T) {
		if _, err := New(testConfig(githubConfig("https://gh.example")), nil); err == nil {
			t.Fatal("New succeeded with nil accounts")
		}
	})
	t.Run("reports every problem", func(t *testing.T) {
		_, err := New(valid(func(c *Config) { c.CookieKey = nil; c.Providers[0].ClientID = "" }), &fakeAccounts{})
		if err == nil || !strings.Contains(err.Error(), "cookie key") || !strings.Contains(err.Error(), "client id") {
			t.Fatalf("New: %v, want both problems", err)
		}
	})
}

func TestProviders(t *testing.T) {
	cfg := testConfig(
		oidcConfig("https://accounts.google.com"),
		githubConfig("https://gh.example"),
		ProviderConfig{Name: "corp-sso", DisplayName: "Corp SSO", Kind: KindOIDC, ClientID: "x", Issuer: "https://sso.example"},
	)
	cfg.Providers[0].Name = "google"
	cfg.PublicURL += "/"
	s, _ := newService(t, cfg)
	got := s.Providers()
	want := []ProviderInfo{
		{"google", "Google", testPublicURL + "/auth/google/start"},
		{"github", "GitHub", testPublicURL + "/auth/github/start"},
		{"corp-sso", "Corp SSO", testPublicURL + "/auth/corp-sso/start"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Providers() = %v, want %v", got, want)
	}

	t.Run("none configured", func(t *testing.T) {
		s, _ := newService(t, Config{})
		if got := s.Providers(); len(got) != 0 {
			t.Fatalf("Providers() = %v, want none", got)
		}
		if resp := serve(s.Handler(), startPath("github", testReturnTo)); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", resp.StatusCode)
		}
	})
}

func TestStart(t *testing.T) {
	t.Run("github redirects with PKCE and a sealed cookie", func(t *testing.T) {
		s, _ := newService(t, testConfig(githubConfig("https://gh.example")))
		resp := serve(s.Handler(), startPath("github", testReturnTo))
		u := location(t, resp)
		if got := u.Scheme + "://" + u.Host + u.Path; got != "https://gh.example/authorize" {
			t.Fatalf("redirected to %s", u)
		}
		q := u.Query()
		for k, want := range map[string]string{
			"client_id":             testClientID,
			"redirect_uri":          testPublicURL + "/auth/github/callback",
			"response_type":         "code",
			"code_challenge_method": "S256",
			"scope":                 "read:user user:email",
		} {
			if got := q.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if q.Has("nonce") {
			t.Errorf("github authorize URL has a nonce")
		}
		for k, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}

		c := flowCookie(t, resp)
		if !c.HttpOnly || c.Secure || c.Path != "/auth/" || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 {
			t.Fatalf("cookie = %+v, want HttpOnly, not Secure, Path /auth/, Lax, MaxAge 600", c)
		}
		var f flow
		if err := s.codec.Decode(cookieName, c.Value, &f); err != nil {
			t.Fatalf("decode cookie: %v", err)
		}
		if f.Provider != "github" || f.ReturnTo != testReturnTo || f.Nonce != "" {
			t.Fatalf("flow = %+v", f)
		}
		if len(f.State) != 43 || q.Get("state") != f.State {
			t.Fatalf("state = %q, cookie state %q", q.Get("state"), f.State)
		}
		if q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(f.Verifier) {
			t.Fatalf("code_challenge does not match the verifier in the cookie")
		}
		outer, _ := base64.URLEncoding.DecodeString(c.Value)
		for _, secret := range []string{f.Verifier, f.State, testReturnTo, "github"} {
			if strings.Contains(c.Value, secret) || strings.Contains(string(outer), secret) {
				t.Fatalf("cookie reveals %q", secret)
			}
		}
	})

	t.Run("each start gets a fresh state and verifier", func(t *testing.T) {
		s, _ := newService(t, testConfig(githubConfig("https://gh.example")))
		a := location(t, serve(s.Handler(), startPath("github", testReturnTo))).Query()
		b := location(t, serve(s.Handler(), startPath("github", testReturnTo))).Query()
		if a.Get("state") == b.Get("state") || a.Get("code_challenge") == b.Get("code_challenge") {
			t.Fatal("two starts share a state or a challenge")
		}
	})

	t.Run("https public url makes the cookie Secure", func(t *testing.T) {
		cfg := testConfig(githubConfig("https://gh.example"))
		cfg.PublicURL = "https://inkwell.example"
		s, _ := newService(t, cfg)
		if c := flowCookie(t, serve(s.Handler(), startPath("github", testReturnTo))); !c.Secure {
			t.Fatal("cookie is not Secure")
		}
	})

	t.Run("oidc sends a nonce and uses discovery", func(t *testing.T) {
		fp := newFakeProvider(t)
		s, _ := newService(t, testConfig(oidcConfig(fp.URL())))
		resp := serve(s.Handler(), startPath("oidc", testReturnTo))
		u := location(t, resp)
		if got := u.Scheme + "://" + u.Host + u.Path; got != fp.URL()+"/authorize" {
			t.Fatalf("redirected to %s", u)
		}
		q := u.Query()
		var f flow
		if err := s.codec.Decode(cookieName, flowCookie(t, resp).Value, &f); err != nil {
			t.Fatalf("decode cookie: %v", err)
		}
		if q.Get("nonce") == "" || q.Get("nonce") != f.Nonce {
			t.Fatalf("nonce = %q, cookie nonce %q", q.Get("nonce"), f.Nonce)
		}
		if q.Get("code_challenge_method") != "S256" || q.Get("state") != f.State || q.Get("scope") != "openid email profile" {
			t.Fatalf("authorize query = %v", q)
		}
	})

	t.Run("failed discovery is retried", func(t *testing.T) {
		fp := newFakeProvider(t)
		fp.setDown(true)
		s, _ := newService(t, testConfig(oidcConfig(fp.URL())))
		resp := serve(s.Handler(), startPath("oidc", testReturnTo))
		if q := returnedTo(t, resp); q.Get("error") != errProviderError {
			t.Fatalf("query = %v, want error=%s", q, errProviderError)
		}
		if len(resp.Cookies()) != 0 {
			t.Fatalf("cookie set although discovery failed")
		}
		fp.setDown(false)
		if u := location(t, serve(s.Handler(), startPath("oidc", testReturnTo))); !strings.HasPrefix(u.String(), fp.URL()+"/authorize?") {
			t.Fatalf("redirected to %s after discovery recovered", u)
		}
	})

	for _, tc := range []struct{ name, target string }{
		{"missing return_to", "/auth/github/start"},
		{"unlisted return_to", startPath("github", "https://evil.example/")},
		{"return_to differing only by a slash", startPath("github", "http://127.0.0.1:5173/other/")},
		{"return_to differing only in case", startPath("github", "HTTP://127.0.0.1:5173/other")},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			s, _ := newService(t, testConfig(githubConfig("https://gh.example")))
			resp := serve(s.Handler(), tc.target)
			jsonError(t, resp, http.StatusBadRequest, errInvalidReturnTo)
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("Set-Cookie = %q, want none", sc)
			}
		})
	}

	// Without a challenge of its own the client could be handed someone else's login
	// code (login CSRF): a sign-in cannot start without one.
	for _, tc := range []struct{ name, query string }{
		{"no code_challenge", ""},
		{"method plain", "&code_challenge=" + testChallenge + "&code_challenge_method=plain"},
		{"a challenge that is not a SHA-256", "&code_challenge=" + testChallenge[:40]},
		{"a challenge that is not base64url", "&code_challenge=" + strings.Repeat("+", 43)},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			s, _ := newService(t, testConfig(githubConfig("https://gh.example")))
			resp := serve(s.Handler(), "/auth/github/start?return_to="+url.QueryEscape(testReturnTo)+tc.query)
			if q := returnedTo(t, resp); q.Get("error") != errInvalidRequest || q.Get("error_description") == "" {
				t.Fatalf("query = %v, want error=%s", q, errInvalidRequest)
			}
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("Set-Cookie = %q, want none", sc)
			}
		})
	}

	t.Run("unknown provider is 404", func(t *testing.T) {
		s, _ := newService(t, testConfig(githubConfig("https://gh.example")))
		if resp := serve(s.Handler(), startPath("gitlab", testReturnTo)); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", resp.StatusCode)
		}
	})
}

func TestCallbackRefusals(t *testing.T) {
	cfg := testConfig(githubConfig("https://gh.example"), oidcConfig("https://id.example"))
	s, acc := newService(t, cfg)
	h := s.Handler()
	start := serve(h, startPath("github", testReturnTo))
	cookie := flowCookie(t, start)
	state := location(t, start).Query().Get("state")

	encoded := func(f flow) *http.Cookie {
		v, err := s.codec.Encode(cookieName, f)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: cookieName, Value: v}
	}
	tampered := *cookie
	tampered.Value = cookie.Value[:len(cookie.Value)-2] + "AA"
	otherKey, _ := newService(t, func() Config { c := cfg; c.CookieKey = []byte(strings.Repeat("k", 32)); return c }())
	otherKeyCookie := flowCookie(t, serve(otherKey.Handler(), startPath("github", testReturnTo)))

	for _, tc := range []struct {
		name   string
		target string
		cookie *http.Cookie
		status int
		code   string
	}{
		{"no cookie", "/auth/github/callback?code=c&state=" + state, nil, 400, errInvalidState},
		{"tampered cookie", "/auth/github/callback?code=c&state=" + state, &tampered, 400, errInvalidState},
		{"cookie sealed with another key", "/auth/github/callback?code=c&state=" + state, otherKeyCookie, 400, errInvalidState},
		{"cookie for another provider", "/auth/oidc/callback?code=c&state=" + state, cookie, 400, errInvalidState},
		{"expired cookie", "/auth/github/callback?code=c&state=s", encoded(flow{Provider: "github", State: "s", Verifier: "v", ReturnTo: testReturnTo, Issued: time.Now().Add(-11 * time.Minute).Unix()}), 400, errInvalidState},
		{"wrong state", "/auth/github/callback?code=c&state=" + state + "x", cookie, 302, errInvalidState},
		{"missing state", "/auth/github/callback?code=c", cookie, 302, errInvalidState},
		{"provider error", "/auth/github/callback?error=access_denied&error_description=%3Cscript%3E&state=" + state, cookie, 302, errAccessDenied},
		{"provider error without state", "/auth/github/callback?error=access_denied", cookie, 302, errInvalidState},
		{"no code", "/auth/github/callback?state=" + state, cookie, 302, errExchangeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cookies []*http.Cookie
			if tc.cookie != nil {
				cookies = append(cookies, tc.cookie)
			}
			resp := serve(h, tc.target, cookies...)
			if tc.status == 400 {
				jsonError(t, resp, 400, tc.code)
			} else {
				q := returnedTo(t, resp)
				if q.Get("error") != tc.code || q.Get("error_description") == "" || q.Has("login_code") {
					t.Fatalf("query = %v, want error=%s with a description", q, tc.code)
				}
				if strings.Contains(q.Get("error_description"), "<") {
					t.Fatalf("provider text reflected: %q", q.Get("error_description"))
				}
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("headers = %v", resp.Header)
			}
			cleared := false
			for _, c := range resp.Cookies() {
				cleared = cleared || (c.Name == cookieName && c.MaxAge < 0 && c.Path == "/auth/")
			}
			if !cleared {
				t.Fatalf("cookie not cleared; Set-Cookie = %q", resp.Header.Values("Set-Cookie"))
			}
		})
	}
	if calls := acc.Calls(); len(calls) != 0 {
		t.Fatalf("Accounts called with %v", calls)
	}

	// Without a challenge of its own the client could be handed someone else's login
	// code (login CSRF): a sign-in cannot start without one.
	for _, tc := range []struct{ name, query string }{
		{"no code_challenge", ""},
		{"method plain", "&code_challenge=" + testChallenge + "&code_challenge_method=plain"},
		{"a challenge that is not a SHA-256", "&code_challenge=" + testChallenge[:40]},
		{"a challenge that is not base64url", "&code_challenge=" + strings.Repeat("+", 43)},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			s, _ := newService(t, testConfig(githubConfig("https://gh.example")))
			resp := serve(s.Handler(), "/auth/github/start?return_to="+url.QueryEscape(testReturnTo)+tc.query)
			if q := returnedTo(t, resp); q.Get("error") != errInvalidRequest || q.Get("error_description") == "" {
				t.Fatalf("query = %v, want error=%s", q, errInvalidRequest)
			}
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Fatalf("Set-Cookie = %q, want none", sc)
			}
		})
	}

	t.Run("unknown provider is 404", func(t *testing.T) {
		if resp := serve(h, "/auth/nope/callback?code=c&state="+state, cookie); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", resp.StatusCode)
		}
	})
}

// signIn runs start, the provider's authorize step and the callback, returning the
// callback's response.
func signIn(t *testing.T, h http.Handler, fp *fakeProvider, name string) *http.Response {
	t.Helper()
	start := serve(h, startPath(name, testReturnTo))
	cookie := flowCookie(t, start)
	cb := fp.authorize(t, location(t, start))
	return serve(h, cb.RequestURI(), cookie)
}

func TestGitHubFlow(t *testing.T) {
	t.Run("signs in with the verified primary email", func(t *testing.T) {
		fp := newFakeProvider(t)
		s, acc := newService(t, testConfig(githubConfig(fp.URL())))
		q := returnedTo(t, signIn(t, s.Handler(), fp, "github"))
		if q.Get("login_code") != "lc-4242" || q.Has("error") {
			t.Fatalf("query = %v, want login_code", q)
		}
		want := Identity{Provider: "github", Subject: "4242", Email: "octo@example.com", EmailVerified: true, Login: "octocat", Name: "The Octocat", AvatarURL: "https://avatars.example/4242"}
		if calls := acc.Calls(); len(calls) != 1 || calls[0] != want {
			t.Fatalf("Accounts got %+v, want %+v", calls, want)
		}
		// The login code is bound to the challenge the client started with.
		if acc.challenges[0] != testChallenge {
			t.Fatalf("challenge %q, want the client's %q", acc.challenges[0], testChallenge)
		}
	})

	t.Run("a path on this server works as return_to", func(t *testing.T) {
		fp := newFakeProvider(t)
		cfg := testConfig(githubConfig(fp.URL()))
		cfg.ReturnURLs = []string{"/app/signed-in?tab=1"}
		s, _ := newService(t, cfg)
		h := s.Handler()
		start := serve(h, startPath("github", "/app/signed-in?tab=1"))
		cb := fp.authorize(t, location(t, start))
		u := location(t, serve(h, cb.RequestURI(), flowCookie(t, start)))
		if u.Host != "" || u.Path != "/app/signed-in" || u.Query().Get("tab") != "1" || u.Query().Get("login_code") != "lc-4242" {
			t.Fatalf("redirected to %s", u)
		}
	})

	t.Run("an unverified primary email is passed on as unverified", func(t *testing.T) {
		fp := newFakeProvider(t)
		fp.emails = `[{"email":"alt@example.com","primary":false,"verified":true},{"email":"Octo@Example.com","primary":true,"verified":false}]`
		s, acc := newService(t, testConfig(githubConfig(fp.URL())))
		returnedTo(t, signIn(t, s.Handler(), fp, "github"))
		if c := acc.Calls(); len(c) != 1 || c[0].Email != "octo@example.com" || c[0].EmailVerified {
			t.Fatalf("Accounts got %+v", c)
		}
	})

	t.Run("a replayed code is refused", func(t *testing.T) {
		fp := newFakeProvider(t)
		s, acc := newService(t, testConfig(githubConfig(fp.URL())))
		h := s.Handler()
		start := serve(h, startPath("github", testReturnTo))
		cookie := flowCookie(t, start)
		cb := fp.authorize(t, location(t, start))
		returnedTo(t, serve(h, cb.RequestURI(), cookie))
		// Even with the old cookie still in hand, the provider has spent the code.
		if q := returnedTo(t, serve(h, cb.RequestURI(), cookie)); q.Get("error") != errExchangeFailed {
			t.Fatalf("query = %v, want error=%s", q, errExchangeFailed)
		}
		if n := len(acc.Calls()); n != 1 {
			t.Fatalf("Accounts called %d times, want 1", n)
		}
	})

	t.Run("a code from another flow fails PKCE", func(t *testing.T) {
		fp := newFakeProvider(t)
		s, acc := newService(t, testConfig(githubConfig(fp.URL())))
		h := s.Handler()
		victim := serve(h, startPath("github", testReturnTo))
		victimCB := fp.authorize(t, location(t, victim))
		attacker := serve(h, startPath("github", testReturnTo))
		attackerState := location(t, attacker).Query().Get("state")
		// The attacker's own cookie and state, with the victim's code.
		target := "/auth/github/callback?code=" + victimCB.Query().Get("code") + "&state=" + attackerState
		if q := returnedTo(t, serve(h, target, flowCookie(t, attacker))); q.Get("error") != errExchangeFailed {
			t.Fatalf("query = %v, want error=%s", q, errExchangeFailed)
		}
		if n := len(acc.Calls()); n != 0 {
			t.Fatalf("Accounts called %d times", n)
		}
	})

	t.Run("a wrong client secret fails the exchange", func(t *testing.T) {
		fp := newFakeProvider(t)
		cfg := testConfig(githubConfig(fp.URL()))
		cfg.Providers[0].ClientSecret = "wrong"
		s, _ := newService(t, cfg)
		if q := returnedTo(t, signIn(t, s.Handler(), fp, "github")); q.Get("error") != errExchangeFailed {
			t.Fatalf("query = %v, want error=%s", q, errExchangeFailed)
		}
	})

	t.Run("an API failure is a provider error", func(t *testing.T) {
		fp := newFakeProvider(t)
		fp.emails = "" // 403, as for a token without user:email
		s, acc := newService(t, testConfig(githubConfig(fp.URL())))
		if q := returnedTo(t, signIn(t, s.Handler(), fp, "github")); q.Get("error") != errProviderError {
			t.Fatalf("query = %v, want error=%s", q, errProviderError)
		}
		if n := len(acc.Calls()); n != 0 {
			t.Fatalf("Accounts called %d times", n)
		}
	})

	for _, tc := range []struct {
		name, code, desc string
		err              error
	}{
		{"a conflict is shown to the user", errAccountConflict, "email belongs to another account", apperr.Conflict("email belongs to another account")},
		{"any other error is hidden", errServerError, "", errors.New("database is down")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := newFakeProvider(t)
			s, acc := newService(t, testConfig(githubConfig(fp.URL())))
			acc.err = fmt.Errorf("link: %w", tc.err)
			q := returnedTo(t, signIn(t, s.Handler(), fp, "github"))
			if q.Get("error") != tc.code || q.Has("login_code") {
				t.Fatalf("query = %v, want error=%s", q, tc.code)
			}
			if tc.desc != "" && q.Get("error_description") != tc.desc {
				t.Fatalf("description = %q, want %q", q.Get("error_description"), tc.desc)
			}
			if strings.Contains(q.Get("error_description"), "database") {
				t.Fatalf("cause leaked: %q", q.Get("error_description"))
			}
		})
	}
}

func TestOIDCFlow(t *testing.T) {
	t.Run("signs in from the id token", func(t *testing.T) {
		fp := newFakeProvider(t)
		s, acc := newService(t, testConfig(oidcConfig(fp.URL())))
		q := returnedTo(t, signIn(t, s.Handler(), fp, "oidc"))
		if q.Get("login_code") != "lc-sub-1" {
			t.Fatalf("query = %v, want login_code", q)
		}
		want := Identity{Provider: "oidc", Subject: "sub-1", Email: "ada@example.com", EmailVerified: true, Login: "ada", Name: "Ada", AvatarURL: "https://pics.example/ada"}
		if c := acc.Calls(); len(c) != 1 || c[0] != want {
			t.Fatalf("Accounts got %+v, want %+v", c, want)
		}
	})

	for _, tc := range []struct {
		name   string
		tamper func(claims map[string]any)
		noID   bool
		key    *rsa.PrivateKey
	}{
		{"wrong nonce", func(c map[string]any) { c["nonce"] = "other" }, false, nil},
		{"no nonce", func(c map[string]any) { delete(c, "nonce") }, false, nil},
		{"wrong audience", func(c map[string]any) { c["aud"] = "someone-else" }, false, nil},
		{"wrong issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, false, nil},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, false, nil},
		{"signed with an unknown key", nil, false, strangerKey()},
		{"no id token", nil, true, nil},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			fp := newFakeProvider(t)
			fp.tamper, fp.noIDToken, fp.signWith = tc.tamper, tc.noID, tc.key
			s, acc := newService(t, testConfig(oidcConfig(fp.URL())))
			if q := returnedTo(t, signIn(t, s.Handler(), fp, "oidc")); q.Get("error") != errInvalidIDToken {
				t.Fatalf("query = %v, want error=%s", q, errInvalidIDToken)
			}
			if n := len(acc.Calls()); n != 0 {
				t.Fatalf("Accounts called %d times", n)
			}
		})
	}

	t.Run("login hint falls back to the email, then user", func(t *testing.T) {
		for _, tc := range []struct {
			tamper func(map[string]any)
			login  string
		}{
			{func(c map[string]any) { delete(c, "preferred_username") }, "ada"},
			{func(c map[string]any) { delete(c, "preferred_username"); delete(c, "email") }, "user"},
		} {
			fp := newFakeProvider(t)
			fp.tamper = tc.tamper
			s, acc := newService(t, testConfig(oidcConfig(fp.URL())))
			returnedTo(t, signIn(t, s.Handler(), fp, "oidc"))
			if c := acc.Calls(); len(c) != 1 || c[0].Login != tc.login {
				t.Fatalf("Accounts got %+v, want login %q", c, tc.login)
			}
		}
	})
}

func TestLooseBool(t *testing.T) {
	for in, want := range map[string]bool{`true`: true, `"true"`: true, `"TRUE"`: true, `false`: false, `"false"`: false, `null`: false, `1`: false, `"yes"`: false} {
		var b looseBool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("%s: got %v, %v; want %v", in, b, err, want)
		}
	}
}

// RSA keys are slow to make under -race, so the tests share two.
var (
	providerKey = sync.OnceValue(func() *rsa.PrivateKey { return newKey() })
	strangerKey = sync.OnceValue(func() *rsa.PrivateKey { return newKey() })
)

func newKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// fakeProvider is just enough of GitHub and of an OpenID Connect provider to run the flow:
// it checks the client, the redirect URI and PKCE, and spends each code once.
type fakeProvider struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey

	emails    string // body of /api/user/emails; "" answers 403
	tamper    func(claims map[string]any)
	noIDToken bool
	signWith  *rsa.PrivateKey

	mu    sync.Mutex
	down  bool
	codes map[string]grant
	n     int
}

type grant struct{ challenge, redirectURI, nonce string }

func newFakeProvider(t *testing.T) *fakeProvider {
	fp := &fakeProvider{
		t:      t,
		key:    providerKey(),
		emails: `[{"email":"other@example.com","primary":false,"verified":true},{"email":"Octo@Example.com","primary":true,"verified":true}]`,
		codes:  map[string]grant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", fp.discovery)
	mux.HandleFunc("GET /jwks", fp.jwks)
	mux.HandleFunc("POST /token", fp.token)
	mux.HandleFunc("GET /api/user", fp.api(`{"id":4242,"login":"octocat","name":"The Octocat","avatar_url":"https://avatars.example/4242","email":"public@example.com"}`))
	mux.HandleFunc("GET /api/user/emails", func(w http.ResponseWriter, r *http.Request) { fp.api(fp.emails)(w, r) })
	fp.srv = httptest.NewServer(mux)
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *fakeProvider) URL() string { return fp.srv.URL }

func (fp *fakeProvider) setDown(down bool) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.down = down
}

func (fp *fakeProvider) discovery(w http.ResponseWriter, _ *http.Request) {
	fp.mu.Lock()
	down := fp.down
	fp.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                fp.URL(),
		"authorization_endpoint":                fp.URL() + "/authorize",
		"token_endpoint":                        fp.URL() + "/token",
		"jwks_uri":                              fp.URL() + "/jwks",
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (fp *fakeProvider) jwks(w http.ResponseWriter, _ *http.Request) {
	_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &fp.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authorize plays the user consenting at the provider: it records the request and returns
// the callback URL the provider would redirect the browser to.
func (fp *fakeProvider) authorize(t *testing.T, u *url.URL) *url.URL {
	t.Helper()
	q := u.Query()
	if q.Get("client_id") != testClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Fatalf("bad authorize request %s", u)
	}
	fp.mu.Lock()
	fp.n++
	code := fmt.Sprintf("code-%d", fp.n)
	fp.codes[code] = grant{q.Get("code_challenge"), q.Get("redirect_uri"), q.Get("nonce")}
	fp.mu.Unlock()
	cb, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		t.Fatal(err)
	}
	cb.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	return cb
}

func (fp *fakeProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if id != testClientID || secret != testSecret {
		fail("invalid_client")
		return
	}
	fp.mu.Lock()
	g, found := fp.codes[r.PostForm.Get("code")]
	pkceOK := found && subtle.ConstantTimeCompare([]byte(oauth2.S256ChallengeFromVerifier(r.PostForm.Get("code_verifier"))), []byte(g.challenge)) == 1
	if pkceOK {
		delete(fp.codes, r.PostForm.Get("code"))
	}
	fp.mu.Unlock()
	if !pkceOK || r.PostForm.Get("redirect_uri") != g.redirectURI {
		fail("invalid_grant")
		return
	}
	resp := map[string]any{"access_token": "at-" + r.PostForm.Get("code"), "token_type": "Bearer", "expires_in": 3600}
	if !fp.noIDToken {
		resp["id_token"] = fp.idToken(g.nonce)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (fp *fakeProvider) idToken(nonce string) string {
	claims := map[string]any{
		"iss": fp.URL(), "sub": "sub-1", "aud": testClientID, "nonce": nonce,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
		"email": "Ada@Example.com", "email_verified": "true", "preferred_username": "ada",
		"name": "Ada", "picture": "https://pics.example/ada",
	}
	if fp.tamper != nil {
		fp.tamper(claims)
	}
	key := fp.key
	if fp.signWith != nil {
		key = fp.signWith
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		fp.t.Error(err)
		return ""
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		fp.t.Error(err)
		return ""
	}
	raw, _ := jws.CompactSerialize()
	return raw
}

func (fp *fakeProvider) api(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer at-") || r.Header.Get("Accept") != "application/vnd.github+json" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		if body == "" {
			http.Error(w, `{"message":"Resource not accessible by integration"}`, http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}
