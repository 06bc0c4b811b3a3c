// Package oauthtest runs a real OAuth2 and OpenID Connect provider on loopback
// so tests can drive sign-in end to end through golang.org/x/oauth2 and
// coreos/go-oidc: discovery, PKCE, the code exchange, JWKS and ID tokens.
//
// One Provider plays two kinds of provider at once: a generic OIDC issuer
// (like Google or Keycloak) at /authorize and /token, and a GitHub-style
// OAuth2 server (no ID token, the user comes from a REST API) at
// /login/oauth/... and /api/.... Codes and access tokens of one kind are not
// accepted by the other kind's endpoints, as with two real providers.
package oauthtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	codeTTL    = 60 * time.Second
	tokenTTL   = time.Hour
	idTokenTTL = 5 * time.Minute
)

// User is the account that signs in at the provider.
type User struct {
	Subject       string // OIDC "sub" / GitHub numeric id as string
	Email         string
	EmailVerified bool
	Login         string // GitHub login / OIDC preferred_username
	Name          string
	Picture       string
}

// Tamper selects a defect to put into ID tokens, for negative tests.
type Tamper int

const (
	// TamperNone issues correct ID tokens.
	TamperNone Tamper = iota
	// TamperBadSignature signs with a key that is not in the JWKS but carries
	// the current key's kid, so only the signature check can catch it.
	TamperBadSignature
	// TamperWrongAudience issues tokens for another client.
	TamperWrongAudience
	// TamperExpired issues tokens that expired five minutes ago.
	TamperExpired
	// TamperWrongNonce puts a nonce other than the one sent at authorize.
	TamperWrongNonce
	// TamperWrongIssuer names an issuer other than Provider.URL.
	TamperWrongIssuer
)

// Provider is an OAuth2 / OpenID Connect provider listening on loopback.
// Its methods are safe for concurrent use.
type Provider struct {
	URL          string // issuer URL = server base URL, no trailing slash
	ClientID     string // "test-client"
	ClientSecret string // "test-secret"

	mu        sync.Mutex
	now       func() time.Time
	user      *User
	tamper    Tamper
	keys      []signingKey // all are served in the JWKS; the last one signs
	rogue     *rsa.PrivateKey
	codes     map[string]*authCode
	tokens    map[string]*accessToken
	exchanges int
}

type kind int

const (
	kindOIDC kind = iota
	kindGitHub
)

type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

type authCode struct {
	kind        kind
	user        User
	clientID    string
	redirectURI string
	nonce       string
	scope       string
	challenge   string
	issued      time.Time
	used        bool
	accessToken string // issued from this code, revoked if the code is replayed
}

type accessToken struct {
	kind    kind
	user    User
	expires time.Time
}

// New starts a provider with one signing key and no user signed in, and
// closes it when the test ends.
func New(t testing.TB) *Provider {
	t.Helper()
	key, err := newSigningKey()
	if err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	p := &Provider{
		ClientID:     "test-client",
		ClientSecret: "test-secret",
		now:          time.Now,
		keys:         []signingKey{key},
		codes:        make(map[string]*authCode),
		tokens:       make(map[string]*accessToken),
	}
	srv := httptest.NewServer(p.routes())
	t.Cleanup(srv.Close)
	p.URL = strings.TrimSuffix(srv.URL, "/")
	return p
}

// SetUser sets the user who signs in, consenting automatically, at the
// following authorize requests. The zero User signs the user out, so
// authorize redirects with error=access_denied. Codes already issued keep the
// user they were issued for.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u == (User{}) {
		p.user = nil
		return
	}
	p.user = &u
}

// SetIDTokenTamper makes ID tokens issued from now on defective in the way tm
// says; TamperNone restores correct tokens.
func (p *Provider) SetIDTokenTamper(tm Tamper) {
	var rogue *rsa.PrivateKey
	if tm == TamperBadSignature {
		// Generated outside the lock: key generation is slow enough to stall
		// the handlers of a parallel sign-in.
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(fmt.Sprintf("oauthtest: generate key: %v", err))
		}
		rogue = k
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tamper = tm
	if rogue != nil && p.rogue == nil {
		p.rogue = rogue
	}
}

// RotateKey signs ID tokens from now on with a new key under a new kid. The
// JWKS keeps serving the old keys too, so tokens issued before still verify.
func (p *Provider) RotateKey() {
	key, err := newSigningKey()
	if err != nil {
		panic(fmt.Sprintf("oauthtest: %v", err))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, key)
}

// Exchanges reports how many code exchanges succeeded, at either token
// endpoint.
func (p *Provider) Exchanges() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exchanges
}

// GitHubAuthURL is the authorize endpoint of the GitHub kind.
func (p *Provider) GitHubAuthURL() string { return p.URL + "/login/oauth/authorize" }

// GitHubTokenURL is the token endpoint of the GitHub kind.
func (p *Provider) GitHubTokenURL() string { return p.URL + "/login/oauth/access_token" }

// GitHubAPIURL is the REST API base of the GitHub kind, standing in for
// https://api.github.com: it serves /user and /user/emails.
func (p *Provider) GitHubAPIURL() string { return p.URL + "/api" }

func newSigningKey() (signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, fmt.Errorf("generate key: %w", err)
	}
	return signingKey{kid: rand.Text(), priv: priv}, nil
}

// jwks returns the public half of every key ever used for signing.
func (p *Provider) jwks() jose.JSONWebKeySet {
	p.mu.Lock()
	defer p.mu.Unlock()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(p.keys))}
	for _, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       &k.priv.PublicKey,
			KeyID:     k.kid,
			Algorithm: string(jose.RS256),
			Use:       "sig",
		})
	}
	return set
}

// userClaims are the standard claims shared by ID tokens and /userinfo.
// Empty values are left out, as OIDC asks for claims without a value.
func userClaims(u User) map[string]any {
	c := map[string]any{"sub": u.Subject}
	if u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	for name, v := range map[string]string{
		"name":               u.Name,
		"preferred_username": u.Login,
		"picture":            u.Picture,
	} {
		if v != "" {
			c[name] = v
		}
	}
	return c
}

// idToken signs an ID token for c with the tamper in force. p.mu must be held.
func (p *Provider) idToken(c *authCode, now time.Time) (string, error) {
	claims := userClaims(c.user)
	claims["iss"] = p.URL
	claims["aud"] = p.ClientID
	claims["iat"] = now.Unix()
	claims["exp"] = now.Add(idTokenTTL).Unix()
	claims["auth_time"] = c.issued.Unix()
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	key := p.keys[len(p.keys)-1]
	priv := key.priv
	switch p.tamper {
	case TamperBadSignature:
		priv = p.rogue
	case TamperWrongAudience:
		claims["aud"] = "another-client"
	case TamperExpired:
		claims["iat"] = now.Add(-2 * idTokenTTL).Unix()
		claims["exp"] = now.Add(-idTokenTTL).Unix()
	case TamperWrongNonce:
		claims["nonce"] = "not-" + c.nonce + rand.Text()
	case TamperWrongIssuer:
		claims["iss"] = "https://issuer.invalid"
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.RS256,
		Key:       jose.JSONWebKey{Key: priv, KeyID: key.kid},
	}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("new signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign id token: %w", err)
	}
	return sig.CompactSerialize()
}
