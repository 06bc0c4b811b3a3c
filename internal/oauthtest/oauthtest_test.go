package oauthtest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"inkwell/internal/oauthtest"
)

const callback = "http://127.0.0.1/callback"

var alice = oauthtest.User{
	Subject:       "12345",
	Email:         "alice@example.com",
	EmailVerified: true,
	Login:         "alice",
	Name:          "Alice Liddell",
	Picture:       "https://example.com/alice.png",
}

// noFollow stops at the authorize redirect, where our server's callback
// would take over.
var noFollow = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// oidcSetup discovers p the way our server does and returns a config for it
// and an ID-token verifier.
func oidcSetup(t *testing.T, p *oauthtest.Provider) (*oidc.Provider, *oauth2.Config, *oidc.IDTokenVerifier) {
	t.Helper()
	op, err := oidc.NewProvider(t.Context(), p.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     op.Endpoint(),
		RedirectURL:  callback,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
	return op, cfg, op.Verifier(&oidc.Config{ClientID: p.ClientID})
}

func githubConfig(p *oauthtest.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     p.ClientID,
		ClientSecret: p.ClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: p.GitHubAuthURL(), TokenURL: p.GitHubTokenURL()},
		RedirectURL:  callback,
		Scopes:       []string{"read:user", "user:email"},
	}
}

// authorize visits the authorize URL with PKCE and a nonce and returns the
// query the provider redirected back with.
func authorize(t *testing.T, cfg *oauth2.Config, verifier, nonce string) url.Values {
	t.Helper()
	authURL := cfg.AuthCodeURL("state-xyz", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce))
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize status = %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("redirect: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callback {
		t.Fatalf("redirected to %s, want %s", got, callback)
	}
	q := loc.Query()
	if q.Get("state") != "state-xyz" {
		t.Fatalf("state = %q, want state-xyz", q.Get("state"))
	}
	return q
}

// signIn runs authorize and the exchange and returns the token.
func signIn(t *testing.T, cfg *oauth2.Config, nonce string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, cfg, verifier, nonce).Get("code")
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return tok
}

func rawIDToken(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response has no id_token")
	}
	return raw
}

func wantGrantError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RetrieveError %s", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("error code = %q, want %q (%s)", re.ErrorCode, code, re.ErrorDescription)
	}
}

func TestOIDC(t *testing.T) {
	t.Parallel()

	t.Run("sign-in verifies and the nonce matches", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		op, cfg, verifier := oidcSetup(t, p)

		tok := signIn(t, cfg, "nonce-1")
		idt, err := verifier.Verify(t.Context(), rawIDToken(t, tok))
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		if idt.Nonce != "nonce-1" {
			t.Fatalf("nonce = %q, want nonce-1", idt.Nonce)
		}
		var claims struct {
			Email         string `json:"email"`
			EmailVerified bool   `json:"email_verified"`
			Name          string `json:"name"`
			Username      string `json:"preferred_username"`
			Picture       string `json:"picture"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if idt.Subject != alice.Subject || claims.Email != alice.Email || !claims.EmailVerified ||
			claims.Name != alice.Name || claims.Username != alice.Login || claims.Picture != alice.Picture {
			t.Fatalf("claims = %s %+v, want alice", idt.Subject, claims)
		}

		info, err := op.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		if info.Subject != alice.Subject || info.Email != alice.Email || !info.EmailVerified {
			t.Fatalf("userinfo = %+v, want alice", info)
		}
		if got := p.Exchanges(); got != 1 {
			t.Fatalf("Exchanges() = %d, want 1", got)
		}
	})

	t.Run("a token without openid scope has no ID token", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		cfg.Scopes = []string{"email"}
		if raw, _ := signIn(t, cfg, "").Extra("id_token").(string); raw != "" {
			t.Fatalf("id_token = %q, want none", raw)
		}
	})

	t.Run("client authentication works in the header and in the form", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			_, cfg, _ := oidcSetup(t, p)
			cfg.Endpoint.AuthStyle = style
			signIn(t, cfg, "n")
		}
		if got := p.Exchanges(); got != 2 {
			t.Fatalf("Exchanges() = %d, want 2", got)
		}
	})

	t.Run("a replayed code fails and revokes its token", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		op, cfg, _ := oidcSetup(t, p)
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, cfg, verifier, "n").Get("code")
		tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatalf("first exchange: %v", err)
		}
		_, err = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		wantGrantError(t, err, "invalid_grant")
		if _, err := op.UserInfo(t.Context(), oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatal("userinfo with a token from a replayed code succeeded")
		}
		if got := p.Exchanges(); got != 1 {
			t.Fatalf("Exchanges() = %d, want 1", got)
		}
	})

	t.Run("a wrong verifier fails", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		code := authorize(t, cfg, oauth2.GenerateVerifier(), "n").Get("code")
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		wantGrantError(t, err, "invalid_grant")
	})

	t.Run("a missing verifier fails", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		code := authorize(t, cfg, oauth2.GenerateVerifier(), "n").Get("code")
		_, err := cfg.Exchange(t.Context(), code)
		wantGrantError(t, err, "invalid_grant")
	})

	t.Run("a different redirect_uri fails", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, cfg, verifier, "n").Get("code")
		cfg.RedirectURL = callback + "/elsewhere"
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		wantGrantError(t, err, "invalid_grant")
	})

	t.Run("a code older than a minute fails", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, cfg, verifier, "n").Get("code")
		oauthtest.SetNow(p, func() time.Time { return time.Now().Add(61 * time.Second) })
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		wantGrantError(t, err, "invalid_grant")
	})

	t.Run("a wrong secret is invalid_client", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, cfg, verifier, "n").Get("code")
		cfg.ClientSecret = "wrong"
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
		wantGrantError(t, err, "invalid_client")
		var re *oauth2.RetrieveError
		if errors.As(err, &re); re.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", re.Response.StatusCode)
		}
		// Failed client authentication must not burn the code.
		cfg.ClientSecret = p.ClientSecret
		if _, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); err != nil {
			t.Fatalf("exchange with the right secret: %v", err)
		}
	})

	t.Run("no signed-in user is access_denied", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		_, cfg, _ := oidcSetup(t, p)
		q := authorize(t, cfg, oauth2.GenerateVerifier(), "n")
		if q.Get("error") != "access_denied" || q.Has("code") {
			t.Fatalf("redirect query = %v, want error=access_denied and no code", q)
		}
	})

	t.Run("authorize without PKCE is 400", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		for name, authURL := range map[string]string{
			"no challenge": cfg.AuthCodeURL("s"),
			"plain":        cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier())),
		} {
			resp, err := noFollow.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status = %d, want 400", name, resp.StatusCode)
			}
		}
	})
}

func TestIDTokenTamper(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tamper oauthtest.Tamper
	}{
		{"a foreign key fails", oauthtest.TamperBadSignature},
		{"a wrong audience fails", oauthtest.TamperWrongAudience},
		{"an expired token fails", oauthtest.TamperExpired},
		{"a wrong nonce fails", oauthtest.TamperWrongNonce},
		{"a wrong issuer fails", oauthtest.TamperWrongIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := oauthtest.New(t)
			p.SetUser(alice)
			_, cfg, verifier := oidcSetup(t, p)
			p.SetIDTokenTamper(tc.tamper)
			idt, err := verifier.Verify(t.Context(), rawIDToken(t, signIn(t, cfg, "nonce-1")))
			if err == nil && idt.Nonce == "nonce-1" {
				t.Fatal("tampered ID token verified and its nonce matched")
			}
			// Only the nonce is left to the caller; everything else go-oidc
			// must reject by itself.
			if tc.tamper != oauthtest.TamperWrongNonce && err == nil {
				t.Fatal("Verify accepted a tampered ID token")
			}

			p.SetIDTokenTamper(oauthtest.TamperNone)
			idt, err = verifier.Verify(t.Context(), rawIDToken(t, signIn(t, cfg, "nonce-2")))
			if err != nil {
				t.Fatalf("after TamperNone: %v", err)
			}
			if idt.Nonce != "nonce-2" {
				t.Fatalf("after TamperNone: nonce = %q, want nonce-2", idt.Nonce)
			}
		})
	}
}

func kid(t *testing.T, raw string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	p := oauthtest.New(t)
	p.SetUser(alice)
	_, cfg, verifier := oidcSetup(t, p)

	before := rawIDToken(t, signIn(t, cfg, "n"))
	if _, err := verifier.Verify(t.Context(), before); err != nil {
		t.Fatalf("verify before rotation: %v", err)
	}
	p.RotateKey()
	after := rawIDToken(t, signIn(t, cfg, "n"))
	if kid(t, before) == kid(t, after) {
		t.Fatal("rotation kept the kid")
	}
	// This verifier has cached the old JWKS, so it must refetch for the new kid.
	if _, err := verifier.Verify(t.Context(), after); err != nil {
		t.Fatalf("verify after rotation: %v", err)
	}
	_, _, fresh := oidcSetup(t, p)
	for name, raw := range map[string]string{"before": before, "after": after} {
		if _, err := fresh.Verify(t.Context(), raw); err != nil {
			t.Errorf("fresh verifier, token from %s rotation: %v", name, err)
		}
	}
}

// getJSON calls the GitHub API with the given Authorization header.
func getJSON(t *testing.T, url, authorization string, v any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("decode %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

type githubUser struct {
	ID        int64   `json:"id"`
	Login     string  `json:"login"`
	Name      string  `json:"name"`
	AvatarURL string  `json:"avatar_url"`
	Email     *string `json:"email"`
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

func TestGitHub(t *testing.T) {
	t.Parallel()

	t.Run("sign-in reads the user and emails from the API", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		tok := signIn(t, githubConfig(p), "")
		// Extra gives "" for a missing field of a form-encoded reply.
		if raw, _ := tok.Extra("id_token").(string); raw != "" {
			t.Fatal("GitHub kind issued an ID token")
		}

		var u githubUser
		if code := getJSON(t, p.GitHubAPIURL()+"/user", "Bearer "+tok.AccessToken, &u); code != http.StatusOK {
			t.Fatalf("/user status = %d", code)
		}
		if u.ID != 12345 || u.Login != alice.Login || u.Name != alice.Name || u.AvatarURL != alice.Picture ||
			u.Email == nil || *u.Email != alice.Email {
			t.Fatalf("/user = %+v, want alice", u)
		}
		var emails []githubEmail
		if code := getJSON(t, p.GitHubAPIURL()+"/user/emails", "token "+tok.AccessToken, &emails); code != http.StatusOK {
			t.Fatalf("/user/emails status = %d", code)
		}
		if len(emails) != 1 || emails[0] != (githubEmail{alice.Email, true, true}) {
			t.Fatalf("/user/emails = %+v, want alice's verified primary", emails)
		}
		if got := p.Exchanges(); got != 1 {
			t.Fatalf("Exchanges() = %d, want 1", got)
		}
	})

	t.Run("an unverified email is hidden from /user", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		bob := oauthtest.User{Subject: "777", Email: "bob@example.com", Login: "bob"}
		p.SetUser(bob)
		tok := signIn(t, githubConfig(p), "")
		var u githubUser
		getJSON(t, p.GitHubAPIURL()+"/user", "Bearer "+tok.AccessToken, &u)
		if u.ID != 777 || u.Email != nil {
			t.Fatalf("/user = %+v, want id 777 and a null email", u)
		}
		var emails []githubEmail
		getJSON(t, p.GitHubAPIURL()+"/user/emails", "Bearer "+tok.AccessToken, &emails)
		if len(emails) != 1 || emails[0].Verified {
			t.Fatalf("/user/emails = %+v, want one unverified", emails)
		}
	})

	t.Run("an unknown token is 401", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		for _, path := range []string{"/user", "/user/emails"} {
			if code := getJSON(t, p.GitHubAPIURL()+path, "Bearer nope", nil); code != http.StatusUnauthorized {
				t.Errorf("%s status = %d, want 401", path, code)
			}
		}
	})

	t.Run("an OIDC token is not a GitHub token", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		_, cfg, _ := oidcSetup(t, p)
		tok := signIn(t, cfg, "n")
		if code := getJSON(t, p.GitHubAPIURL()+"/user", "Bearer "+tok.AccessToken, nil); code != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", code)
		}
	})

	t.Run("the token endpoint answers JSON only when asked", func(t *testing.T) {
		t.Parallel()
		p := oauthtest.New(t)
		p.SetUser(alice)
		cfg := githubConfig(p)
		for accept, wantType := range map[string]string{
			"application/json": "application/json",
			"":                 "application/x-www-form-urlencoded",
		} {
			verifier := oauth2.GenerateVerifier()
			code := authorize(t, cfg, verifier, "").Get("code")
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.GitHubTokenURL(), strings.NewReader(url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {code},
				"redirect_uri":  {callback},
				"code_verifier": {verifier},
				"client_id":     {p.ClientID},
				"client_secret": {p.ClientSecret},
			}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), wantType) {
				t.Fatalf("Accept %q: status %d, type %q, want 200 %s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), wantType)
			}
			if !strings.Contains(string(body), "access_token") {
				t.Fatalf("Accept %q: body %s has no access_token", accept, body)
			}
		}
	})
}
