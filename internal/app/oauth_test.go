package app_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"inkwell/internal/app"
	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/globalid"
	"inkwell/internal/oauth"
	"inkwell/internal/oauthtest"
)

// oaKinds names the configured providers: GitHub's protocol and two OpenID Connect
// issuers, all played by one oauthtest.Provider.
var oaKinds = []string{"github", "google", "oidc"}

// oaProviders configures p as GitHub, as Google and as a generic OIDC issuer.
func oaProviders(p *oauthtest.Provider) []oauth.ProviderConfig {
	return []oauth.ProviderConfig{
		{
			Name: "github", DisplayName: "GitHub", Kind: oauth.KindGitHub,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			AuthURL: p.GitHubAuthURL(), TokenURL: p.GitHubTokenURL(), APIURL: p.GitHubAPIURL(),
		},
		{
			Name: "google", DisplayName: "Google", Kind: oauth.KindOIDC,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, Issuer: p.URL,
		},
		{
			Name: "oidc", DisplayName: "Company SSO", Kind: oauth.KindOIDC,
			ClientID: p.ClientID, ClientSecret: p.ClientSecret, Issuer: p.URL,
		},
	}
}

// oaEnv starts a provider and a server offering it as all three providers. opts run after
// the providers are set, so they may change them.
func oaEnv(t *testing.T, opts ...apptest.Option) (*apptest.Env, *oauthtest.Provider) {
	t.Helper()
	p := oauthtest.New(t)
	withP := apptest.WithConfig(func(c *config.Config) { c.Providers = oaProviders(p) })
	return apptest.New(t, append([]apptest.Option{withP}, opts...)...), p
}

// oaBrowser keeps cookies like a browser but stops at every redirect, so a test sees, and
// may change, each hop of the sign-in.
type oaBrowser struct {
	c   *http.Client
	jar *cookiejar.Jar
}

func oaNewBrowser(t *testing.T) *oaBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &oaBrowser{jar: jar, c: &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// oaHop is one answer the browser got.
type oaHop struct {
	Status   int
	Header   http.Header
	Location *url.URL // nil when there is none
	Body     []byte
}

func (b *oaBrowser) get(t *testing.T, raw string) oaHop {
	t.Helper()
	res, err := b.c.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := oaHop{Status: res.StatusCode, Header: res.Header, Body: body}
	if loc, err := res.Location(); err == nil {
		h.Location = loc
	}
	return h
}

// flowCookie is the flow cookie the browser would send with a callback, or "".
func (b *oaBrowser) flowCookie(t *testing.T, e *apptest.Env) string {
	t.Helper()
	u, err := url.Parse(e.URL + "/auth/")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "inkwell_oauth" {
			return c.Value
		}
	}
	return ""
}

// oaVerifier is the PKCE code verifier the tests' client keeps; oaChallenge its S256
// challenge, sent to the start URL.
const oaVerifier = "the-test-client-code-verifier-0123456789-abcdefghij"

var oaChallenge = func() string {
	sum := sha256.Sum256([]byte(oaVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}()

func oaStartURL(e *apptest.Env, provider, returnTo string) string {
	return e.URL + "/auth/" + provider + "/start?return_to=" + url.QueryEscape(returnTo) +
		"&code_challenge=" + oaChallenge + "&code_challenge_method=S256"
}

// oaBase is u without query and fragment.
func oaBase(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	return c.String()
}

// oaWithQuery is u with key set to value in its query (removed when value is "").
func oaWithQuery(u *url.URL, key, value string) string {
	c := *u
	q := c.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// oaStart begins a sign-in through provider in b, returning to e.URL + "/", and returns the
// provider's authorize URL the server sends the browser to.
func oaStart(t *testing.T, e *apptest.Env, b *oaBrowser, provider string) *url.URL {
	t.Helper()
	h := b.get(t, oaStartURL(e, provider, e.URL+"/"))
	if h.Status != http.StatusFound || h.Location == nil || h.Location.Query().Get("state") == "" {
		t.Fatalf("start %s: %d to %v, want a redirect with a state: %s", provider, h.Status, h.Location, h.Body)
	}
	return h.Location
}

// oaAuthorize begins a sign-in in b and passes the provider's authorize page, returning
// the callback URL (with code and state, or error) the provider sends the browser to.
func oaAuthorize(t *testing.T, e *apptest.Env, b *oaBrowser, provider string) *url.URL {
	t.Helper()
	h := b.get(t, oaStart(t, e, b, provider).String())
	want := e.URL + "/auth/" + provider + "/callback"
	if h.Status != http.StatusFound || h.Location == nil || oaBase(h.Location) != want {
		t.Fatalf("authorize %s: %d to %v, want a redirect to %s: %s", provider, h.Status, h.Location, want, h.Body)
	}
	return h.Location
}

// oaReturned fails unless h sends the browser back to returnTo, and returns the parameters
// added to it.
func oaReturned(t *testing.T, h oaHop, returnTo string) url.Values {
	t.Helper()
	if h.Status != http.StatusFound || h.Location == nil || oaBase(h.Location) != returnTo {
		t.Fatalf("callback: %d to %v, want a redirect to %s: %s", h.Status, h.Location, returnTo, h.Body)
	}
	if cc := h.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("callback Cache-Control = %q, want no-store", cc)
	}
	if rp := h.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Fatalf("callback Referrer-Policy = %q, want no-referrer", rp)
	}
	return h.Location.Query()
}

// oaSignIn signs the provider's current user in through provider in a fresh browser and
// returns the parameters the browser comes back to e.URL + "/" with.
func oaSignIn(t *testing.T, e *apptest.Env, provider string) url.Values {
	t.Helper()
	b := oaNewBrowser(t)
	q := oaReturned(t, b.get(t, oaAuthorize(t, e, b, provider).String()), e.URL+"/")
	if c := b.flowCookie(t, e); c != "" {
		t.Fatalf("the flow cookie outlived the callback: %q", c)
	}
	return q
}

// oaLoginCode signs in and returns the login code, failing on a refusal.
func oaLoginCode(t *testing.T, e *apptest.Env, provider string) string {
	t.Helper()
	q := oaSignIn(t, e, provider)
	code := q.Get("login_code")
	if code == "" || q.Has("error") || len(q) != 1 {
		t.Fatalf("sign-in through %s came back with %v, want only a login_code", provider, q)
	}
	return code
}

// oaWantError fails unless q is a refusal coded code, with a description and no login code.
func oaWantError(t *testing.T, q url.Values, code string) {
	t.Helper()
	if q.Get("error") != code || q.Get("error_description") == "" || q.Has("login_code") {
		t.Fatalf("came back with %v, want error=%s with a description", q, code)
	}
}

// oaWantJSONError fails unless h is an error page with status and code, sending the
// browser nowhere and setting no flow cookie.
func oaWantJSONError(t *testing.T, h oaHop, status int, code string) {
	t.Helper()
	var body struct{ Error, Message string }
	if err := json.Unmarshal(h.Body, &body); err != nil || h.Status != status || body.Error != code || body.Message == "" {
		t.Fatalf("got %d %s, want %d with error %s", h.Status, h.Body, status, code)
	}
	if h.Location != nil {
		t.Fatalf("an error page redirects to %s", h.Location)
	}
	for _, c := range h.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "inkwell_oauth=") && !strings.Contains(c, "Max-Age=0") {
			t.Fatalf("an error page sets the flow cookie: %s", c)
		}
	}
}

// oaUnchanged fails when any table's row count differs from before.
func oaUnchanged(t *testing.T, e *apptest.Env, before map[string]int) {
	t.Helper()
	if after := e.Snapshot(t); !maps.Equal(before, after) {
		t.Fatalf("a refused sign-in changed rows: before %v, after %v", before, after)
	}
}

type oaIdentity struct {
	Provider  string
	Email     *string
	CreatedAt string
}

type oaUser struct {
	ID         string
	Username   string
	Email      *string
	Identities []oaIdentity // nil when null
}

type oaAuth struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    string
	User         oaUser
}

const oaUserFields = `id username email identities { provider email createdAt }`

func oaExchange(t *testing.T, e *apptest.Env, code string) *apptest.Response {
	t.Helper()
	return e.Query(t, "", `mutation($in: ExchangeLoginCodeInput!) { exchangeLoginCode(input: $in) {
		accessToken refreshToken expiresAt user { `+oaUserFields+` } } }`,
		map[string]any{"in": map[string]any{"code": code, "codeVerifier": oaVerifier}})
}

// oaSession signs in through provider and trades the login code for a session.
func oaSession(t *testing.T, e *apptest.Env, provider string) oaAuth {
	t.Helper()
	var out struct{ ExchangeLoginCode oaAuth }
	oaExchange(t, e, oaLoginCode(t, e, provider)).Decode(t, &out)
	a := out.ExchangeLoginCode
	if a.AccessToken == "" || a.RefreshToken == "" || a.User.ID == "" {
		t.Fatalf("exchangeLoginCode gave %+v", a)
	}
	if _, err := time.Parse(time.RFC3339, a.ExpiresAt); err != nil {
		t.Fatalf("expiresAt %q: %v", a.ExpiresAt, err)
	}
	return a
}

// oaViewer is the viewer token signs in as; nil for anonymous.
func oaViewer(t *testing.T, e *apptest.Env, token string) *oaUser {
	t.Helper()
	var out struct{ Viewer *oaUser }
	e.MustQuery(t, token, `{ viewer { `+oaUserFields+` } }`, nil, &out)
	return out.Viewer
}

// oaLinks renders identities as "provider email" strings, in order.
func oaLinks(ids []oaIdentity) []string {
	out := []string{}
	for _, i := range ids {
		email := "<null>"
		if i.Email != nil {
			email = *i.Email
		}
		out = append(out, i.Provider+" "+email)
	}
	return out
}

func oaWantLinks(t *testing.T, ids []oaIdentity, want ...string) {
	t.Helper()
	if ids == nil {
		t.Fatalf("identities = null, want %q", want)
	}
	if got := oaLinks(ids); !slices.Equal(got, want) {
		t.Fatalf("identities = %q, want %q", got, want)
	}
	for _, i := range ids {
		if _, err := time.Parse(time.RFC3339, i.CreatedAt); err != nil {
			t.Fatalf("identity createdAt %q: %v", i.CreatedAt, err)
		}
	}
}

// oaWantEmail fails unless u, as u sees itself, has the address want ("" for none), in the
// API and in the database.
func oaWantEmail(t *testing.T, e *apptest.Env, u oaUser, want string) {
	t.Helper()
	var stored *string
	if err := e.DB.QueryRow(`SELECT email FROM users WHERE id = $1`, oaDBID(t, u.ID)).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	switch {
	case want == "" && stored != nil:
		t.Fatalf("%s has email %q stored, want NULL", u.Username, *stored)
	case want != "" && (stored == nil || *stored != want):
		t.Fatalf("%s has email %v stored, want %q", u.Username, stored, want)
	case want == "" && u.Email != nil:
		t.Fatalf("%s has email %q, want null", u.Username, *u.Email)
	case want != "" && (u.Email == nil || *u.Email != want):
		t.Fatalf("%s has email %v, want %q", u.Username, u.Email, want)
	}
}

// oaWantCode fails unless r failed with one error coded code.
func oaWantCode(t *testing.T, r *apptest.Response, code string) {
	t.Helper()
	if len(r.Errors) != 1 || r.Code() != code {
		t.Fatalf("want one %s error, got %d %s", code, r.Status, r.Body)
	}
}

// oaDBID is the database id inside a user's global id.
func oaDBID(t *testing.T, id string) int {
	t.Helper()
	typ, n, ok := globalid.Decode(id)
	if !ok || typ != globalid.TypeUser {
		t.Fatalf("bad user id %q", id)
	}
	return n
}

func TestOAuthProviders(t *testing.T) {
	t.Parallel()
	const q = `{ authProviders { name displayName startURL } }`
	type info struct{ Name, DisplayName, StartURL string }

	t.Run("three configured", func(t *testing.T) {
		t.Parallel()
		e, p := oaEnv(t)
		var out struct{ AuthProviders []info }
		e.MustQuery(t, "", q, nil, &out)
		want := []info{
			{"github", "GitHub", e.URL + "/auth/github/start"},
			{"google", "Google", e.URL + "/auth/google/start"},
			{"oidc", "Company SSO", e.URL + "/auth/oidc/start"},
		}
		if !slices.Equal(out.AuthProviders, want) {
			t.Fatalf("authProviders = %+v, want %+v", out.AuthProviders, want)
		}

		// Each start URL sends the browser to its provider with PKCE, a state, the
		// registered callback and, for OpenID Connect, a nonce; the flow cookie is scoped
		// to /auth/ and out of reach of scripts.
		for _, pi := range want {
			b := oaNewBrowser(t)
			h := b.get(t, pi.StartURL+"?return_to="+url.QueryEscape(e.URL+"/")+"&code_challenge="+oaChallenge)
			if h.Status != http.StatusFound || h.Location == nil {
				t.Fatalf("%s start: %d %s", pi.Name, h.Status, h.Body)
			}
			wantAuth := p.URL + "/authorize"
			if pi.Name == "github" {
				wantAuth = p.GitHubAuthURL()
			}
			a := h.Location.Query()
			switch {
			case oaBase(h.Location) != wantAuth:
				t.Fatalf("%s start goes to %s, want %s", pi.Name, h.Location, wantAuth)
			case a.Get("client_id") != p.ClientID || a.Get("response_type") != "code":
				t.Fatalf("%s authorize query %v", pi.Name, a)
			case a.Get("redirect_uri") != e.URL+"/auth/"+pi.Name+"/callback":
				t.Fatalf("%s redirect_uri = %q", pi.Name, a.Get("redirect_uri"))
			case a.Get("code_challenge_method") != "S256" || len(a.Get("code_challenge")) != 43:
				t.Fatalf("%s has no S256 PKCE challenge: %v", pi.Name, a)
			case len(a.Get("state")) < 32:
				t.Fatalf("%s state %q is too short", pi.Name, a.Get("state"))
			case (pi.Name != "github") != (a.Get("nonce") != ""):
				t.Fatalf("%s nonce = %q", pi.Name, a.Get("nonce"))
			case (pi.Name != "github") != strings.Contains(a.Get("scope"), "openid"):
				t.Fatalf("%s scope = %q", pi.Name, a.Get("scope"))
			}
			var flow string
			for _, c := range h.Header.Values("Set-Cookie") {
				if strings.HasPrefix(c, "inkwell_oauth=") {
					flow = c
				}
			}
			for _, attr := range []string{"Path=/auth/", "HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(flow, attr) {
					t.Fatalf("%s flow cookie %q lacks %s", pi.Name, flow, attr)
				}
			}
			// The verifier travels only in the encrypted cookie, never in the URL.
			if strings.Contains(h.Location.String(), "code_verifier") {
				t.Fatalf("authorize URL carries the verifier: %s", h.Location)
			}
		}
	})

	t.Run("none configured", func(t *testing.T) {
		t.Parallel()
		e := apptest.New(t)
		r := e.Query(t, "", q, nil)
		if len(r.Errors) != 0 || string(r.Data) != `{"authProviders":[]}` {
			t.Fatalf("got %s", r.Body)
		}
		h := oaNewBrowser(t).get(t, oaStartURL(e, "github", e.URL+"/"))
		if h.Status != http.StatusNotFound || h.Location != nil {
			t.Fatalf("start with no providers: %d to %v", h.Status, h.Location)
		}
	})
}

func TestOAuthSignIn(t *testing.T) {
	t.Parallel()
	for _, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e, p := oaEnv(t)
			p.SetUser(oauthtest.User{Subject: "4242", Email: "Carol@Example.COM", EmailVerified: true, Login: "carol", Name: "Carol C"})

			a := oaSession(t, e, kind)
			if a.User.Username != "carol" {
				t.Fatalf("username = %q, want carol", a.User.Username)
			}
			oaWantEmail(t, e, a.User, "carol@example.com")
			oaWantLinks(t, a.User.Identities, kind+" carol@example.com")
			want := map[string]int{"users": 1, "identities": 1, "login_codes": 1, "refresh_tokens": 1}
			for tbl, n := range want {
				if got := e.Count(t, tbl); got != n {
					t.Fatalf("%s = %d, want %d", tbl, got, n)
				}
			}
			v := oaViewer(t, e, a.AccessToken)
			if v == nil || v.ID != a.User.ID || v.Username != "carol" {
				t.Fatalf("viewer = %+v, want carol", v)
			}
			oaWantLinks(t, v.Identities, kind+" carol@example.com")

			// The subject, not the login or the email, names the account: the same subject
			// with a new login and address is the same user, and the link learns the address.
			p.SetUser(oauthtest.User{Subject: "4242", Email: "carol@new.example", EmailVerified: true, Login: "carol-renamed"})
			again := oaSession(t, e, kind)
			if again.User.ID != a.User.ID || again.User.Username != "carol" {
				t.Fatalf("second sign-in is %+v, want the first user %s", again.User, a.User.ID)
			}
			oaWantEmail(t, e, again.User, "carol@example.com")
			oaWantLinks(t, again.User.Identities, kind+" carol@new.example")
			if n := e.Count(t, "users"); n != 1 {
				t.Fatalf("users = %d after the second sign-in, want 1", n)
			}
			if n := e.Count(t, "identities"); n != 1 {
				t.Fatalf("identities = %d after the second sign-in, want 1", n)
			}
			if again.AccessToken == a.AccessToken || again.RefreshToken == a.RefreshToken {
				t.Fatal("the second sign-in reused the first session's tokens")
			}
		})
	}
}

func TestOAuthNewUserNames(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	e.SignUp(t, "alice") // takes the name alice and alice@example.com

	// Run in order: each case sees the users the earlier ones made.
	for _, tc := range []struct {
		name, provider string
		user           oauthtest.User
		wantName       string
		wantEmail      string // "" for none
	}{
		{"taken login gets a suffix, unverified email is not kept", "github",
			oauthtest.User{Subject: "7001", Login: "alice", Email: "alice@elsewhere.example"}, "alice-2", ""},
		{"taken in another case, verified email is kept", "google",
			oauthtest.User{Subject: "g-7002", Login: "ALICE", Email: "Alice2@Elsewhere.example", EmailVerified: true}, "ALICE-3", "alice2@elsewhere.example"},
		{"odd characters become dashes", "oidc",
			oauthtest.User{Subject: "o-7003", Login: "  Bob Smith!! ", Email: "bob@elsewhere.example", EmailVerified: true}, "Bob-Smith", "bob@elsewhere.example"},
		{"no login: the email's local part", "oidc",
			oauthtest.User{Subject: "o-7004", Email: "dora.d+x@elsewhere.example", EmailVerified: true}, "dora-d-x", "dora.d+x@elsewhere.example"},
		{"no login and no email", "google",
			oauthtest.User{Subject: "g-7005", Name: "Nobody"}, "user", ""},
		{"long login is shortened", "github",
			oauthtest.User{Subject: "7006", Login: strings.Repeat("x", 40)}, strings.Repeat("x", 27), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.SetUser(tc.user)
			users := e.Count(t, "users")
			a := oaSession(t, e, tc.provider)
			if a.User.Username != tc.wantName {
				t.Fatalf("username = %q, want %q", a.User.Username, tc.wantName)
			}
			oaWantEmail(t, e, a.User, tc.wantEmail)
			if n := e.Count(t, "users"); n != users+1 {
				t.Fatalf("users = %d, want %d", n, users+1)
			}
			var linkEmail string
			if tc.user.Email != "" {
				linkEmail = strings.ToLower(tc.user.Email)
			}
			// GitHub and OIDC both report an unverified address; the link records it even
			// though the account does not take it.
			want := tc.provider + " " + linkEmail
			if linkEmail == "" {
				want = tc.provider + " <null>"
			}
			oaWantLinks(t, a.User.Identities, want)
		})
	}
}

func TestOAuthLinkVerifiedEmail(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	alice := e.SignUp(t, "alice") // alice@example.com
	if v := oaViewer(t, e, alice.Token); v == nil || v.Identities == nil || len(v.Identities) != 0 {
		t.Fatalf("a password user's identities = %+v, want []", v)
	}
	// As if alice had proved the address hers: only then may a provider join her account
	// (TestAccountPreHijacking has the unverified case).
	if _, err := e.DB.Exec(`UPDATE users SET email_verified = true WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}

	for i, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			p.SetUser(oauthtest.User{Subject: "50" + string(rune('1'+i)), Login: "someone-" + kind, Email: "ALICE@Example.com", EmailVerified: true})
			users := e.Count(t, "users")
			a := oaSession(t, e, kind)
			if a.User.ID != alice.ID || a.User.Username != "alice" {
				t.Fatalf("signed in as %+v, want alice %s", a.User, alice.ID)
			}
			if n := e.Count(t, "users"); n != users {
				t.Fatalf("users = %d, want %d: linking made a user", n, users)
			}
		})
	}
	v := oaViewer(t, e, alice.Token)
	if v == nil {
		t.Fatal("alice's token no longer works")
	}
	oaWantLinks(t, v.Identities, "github alice@example.com", "google alice@example.com", "oidc alice@example.com")
	var in struct {
		SignIn struct{ User struct{ ID string } }
	}
	e.MustQuery(t, "", `mutation($in: SignInInput!) { signIn(input: $in) { user { id } } }`,
		map[string]any{"in": map[string]any{"email": alice.Email, "password": alice.Password}}, &in)
	if in.SignIn.User.ID != alice.ID {
		t.Fatalf("password sign-in after linking is %s, want alice", in.SignIn.User.ID)
	}

	t.Run("a second account of a linked provider is refused", func(t *testing.T) {
		p.SetUser(oauthtest.User{Subject: "599", Login: "mallory", Email: "alice@example.com", EmailVerified: true})
		before := e.Snapshot(t)
		oaWantError(t, oaSignIn(t, e, "github"), "account_conflict")
		oaUnchanged(t, e, before)
	})
}

func TestOAuthLinkUnverifiedEmail(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	alice := e.SignUp(t, "alice")
	// An address the provider has not verified must never take over the account it names.
	p.SetUser(oauthtest.User{Subject: "601", Login: "mallory", Email: "Alice@Example.com"})
	for _, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			before := e.Snapshot(t)
			exchanges := p.Exchanges()
			oaWantError(t, oaSignIn(t, e, kind), "account_conflict")
			oaUnchanged(t, e, before)
			if p.Exchanges() != exchanges+1 {
				t.Fatalf("exchanges = %d, want %d: the refusal should come after the provider vouched", p.Exchanges(), exchanges+1)
			}
		})
	}
	if v := oaViewer(t, e, alice.Token); v == nil || len(v.Identities) != 0 {
		t.Fatalf("alice = %+v, want no identities", v)
	}
}

func TestOAuthInvalidState(t *testing.T) {
	t.Parallel()
	for _, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e, p := oaEnv(t)
			p.SetUser(oauthtest.User{Subject: "801", Login: "carol", Email: "carol@example.com", EmailVerified: true})
			other := "github"
			if kind == "github" {
				other = "google"
			}
			for _, tc := range []struct {
				name string
				// callback gets the browser to a callback, given the URL the provider sent it to.
				callback func(t *testing.T, b *oaBrowser, cb *url.URL) oaHop
				// jsonErr: no trusted cookie, so an error page rather than a redirect.
				jsonErr bool
			}{
				{"missing state", func(t *testing.T, b *oaBrowser, cb *url.URL) oaHop {
					return b.get(t, oaWithQuery(cb, "state", ""))
				}, false},
				{"wrong state", func(t *testing.T, b *oaBrowser, cb *url.URL) oaHop {
					return b.get(t, oaWithQuery(cb, "state", "x"+cb.Query().Get("state")))
				}, false},
				{"state of an earlier flow in the same browser", func(t *testing.T, b *oaBrowser, cb *url.URL) oaHop {
					oaStart(t, e, b, kind) // replaces the flow cookie
					return b.get(t, cb.String())
				}, false},
				{"another browser", func(t *testing.T, _ *oaBrowser, cb *url.URL) oaHop {
					return oaNewBrowser(t).get(t, cb.String())
				}, true},
				{"forged cookie", func(t *testing.T, b *oaBrowser, cb *url.URL) oaHop {
					u, _ := url.Parse(e.URL + "/auth/")
					v := []byte(b.flowCookie(t, e))
					v[len(v)/2] ^= 1
					b.jar.SetCookies(u, []*http.Cookie{{Name: "inkwell_oauth", Value: string(v), Path: "/auth/"}})
					return b.get(t, cb.String())
				}, true},
				{"cookie of another provider", func(t *testing.T, b *oaBrowser, cb *url.URL) oaHop {
					c := *cb
					c.Path = "/auth/" + other + "/callback"
					return b.get(t, c.String())
				}, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := e.Snapshot(t)
					exchanges := p.Exchanges()
					b := oaNewBrowser(t)
					cb := oaAuthorize(t, e, b, kind)
					h := tc.callback(t, b, cb)
					if tc.jsonErr {
						oaWantJSONError(t, h, http.StatusBadRequest, "invalid_state")
					} else {
						oaWantError(t, oaReturned(t, h, e.URL+"/"), "invalid_state")
					}
					if p.Exchanges() != exchanges {
						t.Fatal("the code was traded despite the bad state")
					}
					oaUnchanged(t, e, before)
					if tc.name == "another browser" {
						// The stranger spent neither the code nor the flow: the browser that
						// began it still finishes it.
						q := oaReturned(t, b.get(t, cb.String()), e.URL+"/")
						if q.Get("login_code") == "" {
							t.Fatalf("the real browser came back with %v", q)
						}
						return
					}
					// One attempt per cookie: the genuine callback now fails too.
					oaWantJSONError(t, b.get(t, cb.String()), http.StatusBadRequest, "invalid_state")
				})
			}
		})
	}
}

func TestOAuthExchangeFailed(t *testing.T) {
	t.Parallel()
	for _, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e, p := oaEnv(t)
			p.SetUser(oauthtest.User{Subject: "901", Login: "carol", Email: "carol@example.com", EmailVerified: true})

			t.Run("replayed code", func(t *testing.T) {
				b := oaNewBrowser(t)
				cb := oaAuthorize(t, e, b, kind)
				if q := oaReturned(t, b.get(t, cb.String()), e.URL+"/"); q.Get("login_code") == "" {
					t.Fatalf("first use of the code: %v", q)
				}
				before := e.Snapshot(t)
				// A fresh flow in the same browser, so state and cookie are good and only the
				// code is stale.
				state := oaStart(t, e, b, kind).Query().Get("state")
				oaWantError(t, oaReturned(t, b.get(t, oaWithQuery(cb, "state", state)), e.URL+"/"), "exchange_failed")
				oaUnchanged(t, e, before)
			})

			t.Run("wrong PKCE verifier", func(t *testing.T) {
				before := e.Snapshot(t)
				exchanges := p.Exchanges()
				b := oaNewBrowser(t)
				first := oaAuthorize(t, e, b, kind)
				// The second start's cookie holds another verifier; its state is made to match,
				// so only PKCE stands between the first flow's code and a session.
				state := oaStart(t, e, b, kind).Query().Get("state")
				oaWantError(t, oaReturned(t, b.get(t, oaWithQuery(first, "state", state)), e.URL+"/"), "exchange_failed")
				if p.Exchanges() != exchanges {
					t.Fatal("the provider accepted a code with the wrong verifier")
				}
				oaUnchanged(t, e, before)
			})

			t.Run("no code", func(t *testing.T) {
				before := e.Snapshot(t)
				b := oaNewBrowser(t)
				cb := oaAuthorize(t, e, b, kind)
				oaWantError(t, oaReturned(t, b.get(t, oaWithQuery(cb, "code", "")), e.URL+"/"), "exchange_failed")
				oaUnchanged(t, e, before)
			})
		})
	}
}

func TestOAuthInvalidIDToken(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"google", "oidc"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e, p := oaEnv(t)
			p.SetUser(oauthtest.User{Subject: "s-1", Login: "carol", Email: "carol@example.com", EmailVerified: true})
			for _, tc := range []struct {
				name   string
				tamper oauthtest.Tamper
			}{
				{"bad signature", oauthtest.TamperBadSignature},
				{"wrong audience", oauthtest.TamperWrongAudience},
				{"expired", oauthtest.TamperExpired},
				{"wrong nonce", oauthtest.TamperWrongNonce},
				{"wrong issuer", oauthtest.TamperWrongIssuer},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p.SetIDTokenTamper(tc.tamper)
					defer p.SetIDTokenTamper(oauthtest.TamperNone)
					before := e.Snapshot(t)
					exchanges := p.Exchanges()
					oaWantError(t, oaSignIn(t, e, kind), "invalid_id_token")
					if p.Exchanges() != exchanges+1 {
						t.Fatal("the code was not traded, so the ID token was never checked")
					}
					oaUnchanged(t, e, before)
				})
			}
			// The control: the same user signs in once the tokens are sound again.
			a := oaSession(t, e, kind)
			if a.User.Username != "carol" {
				t.Fatalf("after the tampering stopped: %+v", a.User)
			}
		})
	}
}

func TestOAuthReturnTo(t *testing.T) {
	t.Parallel()
	const appURL = "https://app.example/signed-in?from=inkwell"
	e, p := oaEnv(t, apptest.WithConfig(func(c *config.Config) {
		c.AuthReturnURLs = []string{c.PublicURL + "/", appURL}
	}))
	p.SetUser(oauthtest.User{Subject: "1101", Login: "carol"})

	t.Run("second allowed URL keeps its query", func(t *testing.T) {
		b := oaNewBrowser(t)
		h := b.get(t, oaStartURL(e, "google", appURL))
		if h.Status != http.StatusFound || h.Location == nil {
			t.Fatalf("start: %d %s", h.Status, h.Body)
		}
		h = b.get(t, h.Location.String())
		q := oaReturned(t, b.get(t, h.Location.String()), "https://app.example/signed-in")
		if q.Get("from") != "inkwell" || q.Get("login_code") == "" {
			t.Fatalf("came back with %v", q)
		}
	})

	for _, kind := range oaKinds {
		for _, tc := range []struct{ name, returnTo string }{
			{"missing", ""},
			{"another site", "https://evil.example/"},
			{"no trailing slash", e.URL},
			{"extra query", e.URL + "/?next=https://evil.example/"},
			{"extra path", e.URL + "/evil"},
			{"another case", strings.ToUpper(e.URL) + "/"},
			{"fragment", e.URL + "/#x"},
			{"relative path", "/"},
			{"scheme-relative", "//evil.example/"},
			{"allowed URL with its query dropped", "https://app.example/signed-in"},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				before := e.Snapshot(t)
				raw := e.URL + "/auth/" + kind + "/start"
				if tc.returnTo != "" {
					raw += "?return_to=" + url.QueryEscape(tc.returnTo)
				}
				b := oaNewBrowser(t)
				oaWantJSONError(t, b.get(t, raw), http.StatusBadRequest, "invalid_return_to")
				if c := b.flowCookie(t, e); c != "" {
					t.Fatal("a refused start set the flow cookie")
				}
				oaUnchanged(t, e, before)
			})
		}
	}

	t.Run("unknown provider", func(t *testing.T) {
		h := oaNewBrowser(t).get(t, oaStartURL(e, "gitlab", e.URL+"/"))
		oaWantJSONError(t, h, http.StatusNotFound, "not_found")
	})
}

func TestOAuthAccessDenied(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	p.SetUser(oauthtest.User{}) // nobody signs in: the provider refuses
	for _, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			before := e.Snapshot(t)
			exchanges := p.Exchanges()
			q := oaSignIn(t, e, kind)
			oaWantError(t, q, "access_denied")
			// The provider's own description is text an attacker can choose; it is not passed on.
			if strings.Contains(q.Get("error_description"), "no user is signed in") {
				t.Fatalf("the provider's description was passed on: %q", q.Get("error_description"))
			}
			if p.Exchanges() != exchanges {
				t.Fatal("a refused sign-in traded a code")
			}
			oaUnchanged(t, e, before)
		})
	}
}

func TestOAuthProviderError(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens at its address any more
	e, p := oaEnv(t, apptest.WithConfig(func(c *config.Config) {
		c.Providers = append(c.Providers, oauth.ProviderConfig{Name: "down", Kind: oauth.KindOIDC, ClientID: "x", Issuer: down.URL})
	}))

	t.Run("issuer unreachable", func(t *testing.T) {
		before := e.Snapshot(t)
		b := oaNewBrowser(t)
		oaWantError(t, oaReturned(t, b.get(t, oaStartURL(e, "down", e.URL+"/")), e.URL+"/"), "provider_error")
		if b.flowCookie(t, e) != "" {
			t.Fatal("a start that went nowhere set the flow cookie")
		}
		oaUnchanged(t, e, before)
	})

	t.Run("github profile without an id", func(t *testing.T) {
		// The stand-in reports a non-numeric subject as GitHub id 0.
		p.SetUser(oauthtest.User{Subject: "not-a-number", Login: "carol", Email: "carol@example.com", EmailVerified: true})
		before := e.Snapshot(t)
		exchanges := p.Exchanges()
		oaWantError(t, oaSignIn(t, e, "github"), "provider_error")
		if p.Exchanges() != exchanges+1 {
			t.Fatal("the code was not traded, so the profile was never read")
		}
		oaUnchanged(t, e, before)
	})
}

func TestOAuthLoginCode(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	p.SetUser(oauthtest.User{Subject: "1201", Login: "carol", Email: "carol@example.com", EmailVerified: true})
	hash := func(code string) []byte {
		sum := sha256.Sum256([]byte(code))
		return sum[:]
	}

	t.Run("stored hashed for a minute", func(t *testing.T) {
		code := oaLoginCode(t, e, "github")
		var ttl float64
		err := e.DB.QueryRow(`SELECT extract(epoch FROM expires_at - created_at) FROM login_codes WHERE code_hash = $1 AND used_at IS NULL`, hash(code)).Scan(&ttl)
		if err != nil {
			t.Fatalf("no unused row holds the code's hash: %v", err)
		}
		if ttl != 60 {
			t.Fatalf("login code lives %vs, want 60", ttl)
		}
		var raw int
		if err := e.DB.QueryRow(`SELECT count(*) FROM login_codes WHERE code_hash = convert_to($1, 'UTF8')`, code).Scan(&raw); err != nil || raw != 0 {
			t.Fatalf("the code is stored as is (%d rows, %v)", raw, err)
		}
	})

	t.Run("reused", func(t *testing.T) {
		code := oaLoginCode(t, e, "github")
		var out struct{ ExchangeLoginCode oaAuth }
		oaExchange(t, e, code).Decode(t, &out)
		if out.ExchangeLoginCode.User.Username != "carol" {
			t.Fatalf("first exchange: %+v", out.ExchangeLoginCode.User)
		}
		before := e.Snapshot(t)
		oaWantCode(t, oaExchange(t, e, code), "UNAUTHENTICATED")
		oaUnchanged(t, e, before)
	})

	t.Run("expired", func(t *testing.T) {
		code := oaLoginCode(t, e, "google")
		res, err := e.DB.Exec(`UPDATE login_codes SET expires_at = now() - interval '1 second' WHERE code_hash = $1`, hash(code))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("expired %d rows, want 1", n)
		}
		before := e.Snapshot(t)
		oaWantCode(t, oaExchange(t, e, code), "UNAUTHENTICATED")
		oaUnchanged(t, e, before)
	})

	for _, garbage := range []string{"garbage", "", strings.Repeat("A", 43)} {
		t.Run("garbage "+garbage, func(t *testing.T) {
			before := e.Snapshot(t)
			oaWantCode(t, oaExchange(t, e, garbage), "UNAUTHENTICATED")
			oaUnchanged(t, e, before)
		})
	}
}

func TestOAuthProviderKeyRotation(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	p.SetUser(oauthtest.User{Subject: "1301", Login: "carol", Email: "carol@example.com", EmailVerified: true})
	first := oaSession(t, e, "google") // caches the provider's first key
	p.RotateKey()
	for _, kind := range []string{"google", "oidc"} {
		a := oaSession(t, e, kind)
		if a.User.ID != first.User.ID {
			t.Fatalf("%s after the rotation signed in as %+v, want %s", kind, a.User, first.User.ID)
		}
	}
}

func TestOAuthSigningKeyRotation(t *testing.T) {
	t.Parallel()
	const k1 = "first-signing-key-0123456789abcdef-0123456789"
	const k2 = "second-signing-key-0123456789abcdef-012345678"

	b, p := oaEnv(t, apptest.WithConfig(func(c *config.Config) {
		c.SigningKey = k2
		c.PreviousSigningKeys = []string{k1}
	}))
	p.SetUser(oauthtest.User{Subject: "1401", Login: "carol", Email: "carol@example.com", EmailVerified: true})
	carol := oaSession(t, b, "github")

	old := b.Config
	old.SigningKey, old.PreviousSigningKeys = k1, nil
	oldTokens, err := app.NewTokens(old)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := oldTokens.Issue(oaDBID(t, carol.User.ID), tokSessionID(t, carol.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	if v := oaViewer(t, b, tok); v == nil || v.ID != carol.User.ID {
		t.Fatalf("with the previous key: viewer = %+v, want carol", v)
	}
	if v := oaViewer(t, b, carol.AccessToken); v == nil || v.ID != carol.User.ID {
		t.Fatalf("with the current key: viewer = %+v, want carol", v)
	}

	c := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.SigningKey = k2 }))
	// A user with the same database id, so the refusal can only be the retired key's.
	if u := c.SignUp(t, "dave"); oaDBID(t, u.ID) != oaDBID(t, carol.User.ID) {
		t.Logf("dave has id %d, carol %d", oaDBID(t, u.ID), oaDBID(t, carol.User.ID))
	}
	r := c.Query(t, tok, `{ viewer { id } }`, nil)
	if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" || len(r.Errors) != 1 {
		t.Fatalf("retired key: %d %s, want 401 UNAUTHENTICATED", r.Status, r.Body)
	}
	if len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("a refused request has data: %s", r.Data)
	}
	if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate = %q", got)
	}
}

func TestOAuthUnlink(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	const unlink = `mutation($in: UnlinkIdentityInput!) { unlinkIdentity(input: $in) { user { ` + oaUserFields + ` } } }`
	unlinkAs := func(t *testing.T, token, provider string) *apptest.Response {
		t.Helper()
		return e.Query(t, token, unlink, map[string]any{"in": map[string]any{"provider": provider}})
	}
	unlinked := func(t *testing.T, r *apptest.Response) oaUser {
		t.Helper()
		var out struct{ UnlinkIdentity struct{ User oaUser } }
		r.Decode(t, &out)
		return out.UnlinkIdentity.User
	}

	p.SetUser(oauthtest.User{Subject: "1501", Login: "carol", Email: "carol@example.com", EmailVerified: true})
	carol := oaSession(t, e, "github")
	p.SetUser(oauthtest.User{Subject: "o-1502", Login: "dave", Email: "dave@example.com", EmailVerified: true})
	dave := oaSession(t, e, "oidc")

	for _, tc := range []struct {
		name, token, provider, want string
	}{
		{"the only way to sign in", carol.AccessToken, "github", "CONFLICT"},
		{"a provider not linked", carol.AccessToken, "google", "NOT_FOUND"},
		{"an unknown provider", carol.AccessToken, "gitlab", "NOT_FOUND"},
		{"anonymous", "", "github", "UNAUTHENTICATED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			oaWantCode(t, unlinkAs(t, tc.token, tc.provider), tc.want)
			oaUnchanged(t, e, before)
			oaWantLinks(t, oaViewer(t, e, carol.AccessToken).Identities, "github carol@example.com")
		})
	}

	t.Run("identities of another user are null", func(t *testing.T) {
		const q = `query($u: String!) { user(username: $u) { username identities { provider } } }`
		for _, token := range []string{dave.AccessToken, ""} {
			var out struct{ User *oaUser }
			e.MustQuery(t, token, q, map[string]any{"u": "carol"}, &out)
			if out.User == nil || out.User.Identities != nil {
				t.Fatalf("carol as seen by %q: %+v, want identities null", token, out.User)
			}
		}
		var own struct{ User *oaUser }
		e.MustQuery(t, carol.AccessToken, `query($u: String!) { user(username: $u) { username identities { provider email createdAt } } }`,
			map[string]any{"u": "carol"}, &own)
		if own.User == nil {
			t.Fatal("carol cannot see herself")
		}
		oaWantLinks(t, own.User.Identities, "github carol@example.com")
	})

	t.Run("after linking a second provider", func(t *testing.T) {
		// Google vouches for the address carol's account has, so it links to her.
		p.SetUser(oauthtest.User{Subject: "g-1503", Login: "carol-g", Email: "carol@example.com", EmailVerified: true})
		if a := oaSession(t, e, "google"); a.User.ID != carol.User.ID {
			t.Fatalf("google signed in as %+v, want carol", a.User)
		}
		u := unlinked(t, unlinkAs(t, carol.AccessToken, "github"))
		if u.ID != carol.User.ID {
			t.Fatalf("unlink answered with %+v", u)
		}
		oaWantLinks(t, u.Identities, "google carol@example.com")
		oaWantLinks(t, oaViewer(t, e, carol.AccessToken).Identities, "google carol@example.com")
		// Google is now the last way in.
		before := e.Snapshot(t)
		oaWantCode(t, unlinkAs(t, carol.AccessToken, "google"), "CONFLICT")
		oaUnchanged(t, e, before)
	})

	t.Run("after setting a password", func(t *testing.T) {
		oaWantCode(t, unlinkAs(t, dave.AccessToken, "oidc"), "CONFLICT")
		var upd map[string]any
		e.MustQuery(t, dave.AccessToken, `mutation($in: UpdateViewerInput!) { updateViewer(input: $in) { user { id } } }`,
			map[string]any{"in": map[string]any{"password": "dave's new password"}}, &upd)
		// Setting a password may end the other sessions; sign in with it for a fresh token.
		var in struct{ SignIn struct{ AccessToken string } }
		e.MustQuery(t, "", `mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": "dave@example.com", "password": "dave's new password"}}, &in)
		u := unlinked(t, unlinkAs(t, in.SignIn.AccessToken, "oidc"))
		if u.ID != dave.User.ID {
			t.Fatalf("unlink answered with %+v", u)
		}
		oaWantLinks(t, u.Identities)
		if n := e.Count(t, "identities"); n != 1 {
			t.Fatalf("identities = %d, want 1 (carol's google)", n)
		}
	})
}

// oaRace sends every browser to its callback at once and returns where each was sent.
func oaRace(t *testing.T, browsers []*oaBrowser, callbacks []*url.URL) []oaHop {
	t.Helper()
	hops := make([]oaHop, len(browsers))
	errs := make([]error, len(browsers))
	var wg sync.WaitGroup
	startGun := make(chan struct{})
	for i := range browsers {
		wg.Go(func() {
			<-startGun
			res, err := browsers[i].c.Get(callbacks[i].String())
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			hops[i] = oaHop{Status: res.StatusCode, Header: res.Header, Body: body}
			if loc, err := res.Location(); err == nil {
				hops[i].Location = loc
			}
		})
	}
	close(startGun)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return hops
}

func TestOAuthConcurrentFirstSignIn(t *testing.T) {
	t.Parallel()

	t.Run("one new identity from many tabs is one user", func(t *testing.T) {
		t.Parallel()
		e, p := oaEnv(t)
		p.SetUser(oauthtest.User{Subject: "c-1", Login: "erin", Email: "erin@example.com", EmailVerified: true})
		const n = 6
		var browsers []*oaBrowser
		var callbacks []*url.URL
		for range n {
			b := oaNewBrowser(t)
			browsers, callbacks = append(browsers, b), append(callbacks, oaAuthorize(t, e, b, "google"))
		}
		var ids []string
		for _, h := range oaRace(t, browsers, callbacks) {
			code := oaReturned(t, h, e.URL+"/").Get("login_code")
			if code == "" {
				t.Fatalf("a racing callback came back with %v", h.Location)
			}
			var out struct{ ExchangeLoginCode oaAuth }
			oaExchange(t, e, code).Decode(t, &out)
			ids = append(ids, out.ExchangeLoginCode.User.ID)
		}
		if ids[0] == "" || len(slices.Compact(slices.Clone(ids))) != 1 {
			t.Fatalf("racing sign-ins of one identity gave users %v", ids)
		}
		if u, i := e.Count(t, "users"), e.Count(t, "identities"); u != 1 || i != 1 {
			t.Fatalf("users = %d, identities = %d, want 1 and 1", u, i)
		}
	})

	t.Run("new users wanting one name get different names", func(t *testing.T) {
		t.Parallel()
		e, p := oaEnv(t)
		const n = 3
		var browsers []*oaBrowser
		var callbacks []*url.URL
		for i := range n {
			// A code keeps the user it was issued for, so each browser is someone else.
			p.SetUser(oauthtest.User{Subject: "f-" + string(rune('1'+i)), Login: "frank"})
			b := oaNewBrowser(t)
			browsers, callbacks = append(browsers, b), append(callbacks, oaAuthorize(t, e, b, "oidc"))
		}
		var names []string
		for _, h := range oaRace(t, browsers, callbacks) {
			code := oaReturned(t, h, e.URL+"/").Get("login_code")
			if code == "" {
				t.Fatalf("a racing callback came back with %v", h.Location)
			}
			var out struct{ ExchangeLoginCode oaAuth }
			oaExchange(t, e, code).Decode(t, &out)
			names = append(names, out.ExchangeLoginCode.User.Username)
		}
		slices.Sort(names)
		if want := []string{"frank", "frank-2", "frank-3"}; !slices.Equal(names, want) {
			t.Fatalf("usernames = %q, want %q", names, want)
		}
	})
}
