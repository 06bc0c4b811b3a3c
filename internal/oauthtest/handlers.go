package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("GET /authorize", p.authorize(kindOIDC))
	mux.HandleFunc("GET /login/oauth/authorize", p.authorize(kindGitHub))
	mux.HandleFunc("POST /token", p.token(kindOIDC))
	mux.HandleFunc("POST /login/oauth/access_token", p.token(kindGitHub))
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("POST /userinfo", p.userinfo)
	mux.HandleFunc("GET /api/user", p.githubUser)
	mux.HandleFunc("GET /api/user/emails", p.githubEmails)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.URL,
		"authorization_endpoint":                p.URL + "/authorize",
		"token_endpoint":                        p.URL + "/token",
		"userinfo_endpoint":                     p.URL + "/userinfo",
		"jwks_uri":                              p.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"grant_types_supported":                 []string{"authorization_code"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
			"email", "email_verified", "name", "preferred_username", "picture",
		},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, p.jwks())
}

// authorize answers errors it cannot send back through a verified
// redirect_uri, and PKCE errors, with a 400 page; the rest redirects.
func (p *Provider) authorize(k kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		clientID := q.Get("client_id")
		if clientID == "" || clientID != p.ClientID {
			http.Error(w, "invalid_request: unknown or missing client_id", http.StatusBadRequest)
			return
		}
		redirect, err := url.Parse(q.Get("redirect_uri"))
		if q.Get("redirect_uri") == "" || err != nil || !redirect.IsAbs() || redirect.Fragment != "" {
			http.Error(w, "invalid_request: redirect_uri must be an absolute URL without a fragment", http.StatusBadRequest)
			return
		}
		if q.Get("response_type") != "code" {
			http.Error(w, "unsupported_response_type: only response_type=code", http.StatusBadRequest)
			return
		}
		challenge := q.Get("code_challenge")
		if challenge == "" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "invalid_request: PKCE is required: code_challenge with code_challenge_method=S256", http.StatusBadRequest)
			return
		}
		if !validChallenge(challenge) {
			http.Error(w, "invalid_request: code_challenge is not a base64url SHA-256", http.StatusBadRequest)
			return
		}

		back := redirect.Query()
		if state := q.Get("state"); state != "" {
			back.Set("state", state)
		}
		p.mu.Lock()
		if p.user == nil {
			p.mu.Unlock()
			back.Set("error", "access_denied")
			back.Set("error_description", "no user is signed in at the provider")
		} else {
			code := rand.Text()
			p.codes[code] = &authCode{
				kind:        k,
				user:        *p.user,
				clientID:    clientID,
				redirectURI: q.Get("redirect_uri"),
				nonce:       q.Get("nonce"),
				scope:       q.Get("scope"),
				challenge:   challenge,
				issued:      p.now(),
			}
			p.mu.Unlock()
			back.Set("code", code)
		}
		redirect.RawQuery = back.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
}

// validChallenge reports whether c can be an S256 challenge: the unpadded
// base64url form of 32 bytes.
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validVerifier follows RFC 7636 section 4.1.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range v {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c)
		if !ok {
			return false
		}
	}
	return true
}

func (p *Provider) token(k kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			p.tokenError(w, r, k, http.StatusBadRequest, "invalid_request", "unreadable form")
			return
		}
		f := r.PostForm
		clientID, secret, basic := r.BasicAuth()
		if basic {
			// RFC 6749 section 2.3.1 form-encodes both before Basic
			// encoding, and x/oauth2 does so.
			var err1, err2 error
			clientID, err1 = url.QueryUnescape(clientID)
			secret, err2 = url.QueryUnescape(secret)
			if err1 != nil || err2 != nil {
				clientID = ""
			}
		} else {
			clientID, secret = f.Get("client_id"), f.Get("client_secret")
		}
		if clientID != p.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) != 1 {
			if basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="oauthtest"`)
			}
			p.tokenError(w, r, k, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
			return
		}
		if f.Get("grant_type") != "authorization_code" {
			p.tokenError(w, r, k, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code")
			return
		}

		p.mu.Lock()
		defer p.mu.Unlock()
		now := p.now()
		c := p.codes[f.Get("code")]
		if c == nil || c.kind != k {
			p.tokenError(w, r, k, http.StatusBadRequest, "invalid_grant", "unknown code")
			return
		}
		if c.used {
			// RFC 6749 section 4.1.2: a replayed code may have been stolen,
			// so what it bought is revoked too.
			delete(p.tokens, c.accessToken)
			p.tokenError(w, r, k, http.StatusBadRequest, "invalid_grant", "code already used")
			return
		}
		// Burnt by any attempt, failed or not, so a verifier cannot be guessed
		// at leisure.
		c.used = true
		var problem string
		switch {
		case now.Sub(c.issued) > codeTTL:
			problem = "code expired"
		case c.clientID != clientID:
			problem = "code was issued to another client"
		case f.Get("redirect_uri") != c.redirectURI:
			problem = "redirect_uri differs from the one at authorize"
		case !validVerifier(f.Get("code_verifier")):
			problem = "missing or malformed code_verifier"
		default:
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				problem = "code_verifier does not match code_challenge"
			}
		}
		if problem != "" {
			p.tokenError(w, r, k, http.StatusBadRequest, "invalid_grant", problem)
			return
		}

		access := rand.Text()
		reply := map[string]any{
			"access_token": access,
			"token_type":   "Bearer",
			"expires_in":   int(tokenTTL.Seconds()),
		}
		if c.scope != "" || k == kindGitHub {
			reply["scope"] = c.scope
		}
		if k == kindGitHub {
			reply["token_type"] = "bearer" // GitHub's spelling
		}
		if k == kindOIDC && slices.Contains(strings.Fields(c.scope), "openid") {
			idt, err := p.idToken(c, now)
			if err != nil {
				p.tokenError(w, r, k, http.StatusInternalServerError, "server_error", err.Error())
				return
			}
			reply["id_token"] = idt
		}
		p.tokens[access] = &accessToken{kind: k, user: c.user, expires: now.Add(tokenTTL)}
		c.accessToken = access
		p.exchanges++
		p.tokenReply(w, r, k, http.StatusOK, reply)
	}
}

func (p *Provider) tokenError(w http.ResponseWriter, r *http.Request, k kind, status int, code, desc string) {
	p.tokenReply(w, r, k, status, map[string]any{"error": code, "error_description": desc})
}

// tokenReply answers JSON, except that the GitHub kind answers form-encoded
// unless asked for JSON, as GitHub does.
func (p *Provider) tokenReply(w http.ResponseWriter, r *http.Request, k kind, status int, body map[string]any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if k == kindGitHub && !strings.Contains(r.Header.Get("Accept"), "application/json") {
		v := url.Values{}
		for name, val := range body {
			v.Set(name, fmt.Sprint(val))
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(v.Encode()))
		return
	}
	writeJSON(w, status, body)
}

// bearer looks up the access token in the Authorization header. GitHub also
// accepts the older "token" scheme.
func (p *Provider) bearer(r *http.Request, k kind) (User, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	ok := strings.EqualFold(scheme, "Bearer") || k == kindGitHub && strings.EqualFold(scheme, "token")
	if !ok {
		return User{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.tokens[strings.TrimSpace(tok)]
	if t == nil || t.kind != k || !p.now().Before(t.expires) {
		return User{}, false
	}
	return t.user, true
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearer(r, kindOIDC)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, userClaims(u))
}

func githubUnauthorized(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, map[string]string{
		"message":           "Bad credentials",
		"documentation_url": "https://docs.github.com/rest",
	})
}

// nullable gives JSON null for "", as GitHub does for unset fields.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (p *Provider) githubUser(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearer(r, kindGitHub)
	if !ok {
		githubUnauthorized(w)
		return
	}
	id, _ := strconv.ParseInt(u.Subject, 10, 64)
	// GitHub shows only the public email here, and never an unverified one.
	var email any
	if u.EmailVerified {
		email = nullable(u.Email)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":         id,
		"login":      u.Login,
		"name":       nullable(u.Name),
		"avatar_url": u.Picture,
		"email":      email,
		"type":       "User",
	})
}

func (p *Provider) githubEmails(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearer(r, kindGitHub)
	if !ok {
		githubUnauthorized(w)
		return
	}
	emails := []map[string]any{}
	if u.Email != "" {
		emails = append(emails, map[string]any{
			"email":      u.Email,
			"primary":    true,
			"verified":   u.EmailVerified,
			"visibility": "private",
		})
	}
	writeJSON(w, http.StatusOK, emails)
}
