package oauth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"inkwell/internal/apperr"
)

// cookieName names the cookie that carries one flow from start to callback.
const cookieName = "inkwell_oauth"

// Error codes sent to the SPA in the error query parameter or the JSON body.
const (
	errInvalidReturnTo = "invalid_return_to"
	errInvalidState    = "invalid_state"
	errAccessDenied    = "access_denied"
	errExchangeFailed  = "exchange_failed"
	errInvalidIDToken  = "invalid_id_token"
	errProviderError   = "provider_error"
	errAccountConflict = "account_conflict"
	errInvalidTicket   = "invalid_link_ticket"
	errInvalidRequest  = "invalid_request"
	errServerError     = "server_error"
)

// flow is what start remembers for callback. It lives only in an encrypted, authenticated
// cookie, which binds the state to the browser that began the flow and keeps the PKCE
// verifier out of reach of anyone who sees the authorize URL.
type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n,omitempty"`
	ReturnTo string `json:"r"`
	Issued   int64  `json:"i"` // unix seconds
	// LinkUser is the signed-in user who started the flow with a link ticket: the
	// provider account is linked to them rather than signed in.
	LinkUser int `json:"l,omitempty"`
	// Challenge is the client's PKCE challenge, which the login code is bound to.
	Challenge string `json:"c,omitempty"`
}

// checkChallenge accepts an S256 PKCE challenge (RFC 7636): the unpadded base64url of a
// SHA-256, 43 characters. "plain" is refused: the challenge travels in a URL.
func checkChallenge(q url.Values) (string, bool) {
	c := q.Get("code_challenge")
	if m := q.Get("code_challenge_method"); m != "" && m != "S256" {
		return "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(c); err != nil || len(b) != 32 {
		return "", false
	}
	return c, true
}

// failure is a refused sign-in: a code and a short text for the SPA, and a cause for the log.
type failure struct {
	code  string
	desc  string
	cause error
}

func (s *Service) start(w http.ResponseWriter, r *http.Request, p *provider) {
	returnTo := r.URL.Query().Get("return_to")
	// Exact match only: any normalisation would be a way to smuggle in another target.
	if !s.returnURLs[returnTo] {
		writeError(w, http.StatusBadRequest, errInvalidReturnTo, "return_to is missing or not an allowed URL")
		return
	}
	var linkUser int
	if ticket := r.URL.Query().Get("link_ticket"); ticket != "" {
		uid, err := s.accounts.SpendLinkTicket(r.Context(), ticket)
		if err != nil {
			s.log.InfoContext(r.Context(), "oauth start refused", "provider", p.Name, "code", errInvalidTicket, "err", err)
			redirect(w, r, returnTo, url.Values{"error": {errInvalidTicket},
				"error_description": {"the link ticket is invalid, used or expired; ask for a new one"}})
			return
		}
		linkUser = uid
	}
	// A sign-in's login code is bound to the client that started it; a link flow hands
	// out no code.
	var challenge string
	if linkUser == 0 {
		var ok bool
		if challenge, ok = checkChallenge(r.URL.Query()); !ok {
			redirect(w, r, returnTo, url.Values{"error": {errInvalidRequest},
				"error_description": {"code_challenge must be the base64url SHA-256 of a code verifier (code_challenge_method S256)"}})
			return
		}
	}
	conf, _, err := s.config(r.Context(), p)
	if err != nil {
		s.log.WarnContext(r.Context(), "oauth start", "provider", p.Name, "err", err)
		redirect(w, r, returnTo, url.Values{"error": {errProviderError}, "error_description": {"the sign-in provider is unavailable; please try again later"}})
		return
	}
	f := flow{
		Provider:  p.Name,
		State:     randomToken(),
		Verifier:  oauth2.GenerateVerifier(),
		ReturnTo:  returnTo,
		Issued:    time.Now().Unix(),
		LinkUser:  linkUser,
		Challenge: challenge,
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}
	if p.Kind == KindOIDC {
		f.Nonce = randomToken()
		opts = append(opts, oidc.Nonce(f.Nonce))
	}
	value, err := s.codec.Encode(cookieName, f)
	if err != nil {
		s.log.ErrorContext(r.Context(), "oauth start: encode cookie", "provider", p.Name, "err", err)
		redirect(w, r, returnTo, url.Values{"error": {errServerError}, "error_description": {"something went wrong; please try again"}})
		return
	}
	http.SetCookie(w, s.cookie(value, int(flowLifetime/time.Second)))
	http.Redirect(w, r, conf.AuthCodeURL(f.State, opts...), http.StatusFound)
}

func (s *Service) callback(w http.ResponseWriter, r *http.Request, p *provider) {
	f, err := s.readFlow(r, p)
	// The cookie is good for one attempt, whatever its outcome, so a code cannot be replayed
	// against it and a failed attempt starts over cleanly.
	http.SetCookie(w, s.cookie("", -1))
	if err != nil {
		s.log.InfoContext(r.Context(), "oauth callback refused", "provider", p.Name, "code", errInvalidState, "err", err)
		// Without a valid cookie there is no trusted place to send the browser back to.
		writeError(w, http.StatusBadRequest, errInvalidState, "the sign-in request expired or was started in another browser; please try again")
		return
	}
	code, fail := s.signIn(r, p, f)
	if fail != nil {
		log := s.log.InfoContext
		if fail.code == errServerError {
			log = s.log.ErrorContext
		}
		log(r.Context(), "oauth callback refused", "provider", p.Name, "code", fail.code, "err", fail.cause)
		redirect(w, r, f.ReturnTo, url.Values{"error": {fail.code}, "error_description": {fail.desc}})
		return
	}
	if f.LinkUser != 0 {
		redirect(w, r, f.ReturnTo, url.Values{"linked": {p.Name}})
		return
	}
	redirect(w, r, f.ReturnTo, url.Values{"login_code": {code}})
}

// readFlow decodes the flow cookie and checks that it belongs to this provider.
func (s *Service) readFlow(r *http.Request, p *provider) (*flow, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, errors.New("no flow cookie")
	}
	var f flow
	// securecookie enforces the MaxAge too; the check of Issued keeps the rule visible here.
	if err := s.codec.Decode(cookieName, c.Value, &f); err != nil {
		return nil, fmt.Errorf("decode flow cookie: %w", err)
	}
	if f.Provider != p.Name {
		return nil, fmt.Errorf("flow cookie is for provider %q", f.Provider)
	}
	if age := time.Since(time.Unix(f.Issued, 0)); age > flowLifetime || age < -time.Minute {
		return nil, fmt.Errorf("flow cookie issued %s ago", age)
	}
	if !s.returnURLs[f.ReturnTo] {
		// Only possible if the allow-list changed since start.
		return nil, fmt.Errorf("return_to %q no longer allowed", f.ReturnTo)
	}
	return &f, nil
}

// signIn checks the callback against the flow, trades the code for tokens, learns the
// identity and asks Accounts for a login code, or, for a flow started with a link
// ticket, to link the identity to the ticket's user (the code is then "").
func (s *Service) signIn(r *http.Request, p *provider, f *flow) (string, *failure) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return "", &failure{errInvalidState, "the sign-in request did not match; please try again", errors.New("state mismatch")}
	}
	if e := q.Get("error"); e != "" {
		// The provider's own description is not repeated: it is text an attacker can choose.
		return "", &failure{errAccessDenied, "sign-in was cancelled or refused by the provider", fmt.Errorf("provider error %q: %s", e, q.Get("error_description"))}
	}
	code := q.Get("code")
	if code == "" {
		return "", &failure{errExchangeFailed, "the provider sent no authorization code", errors.New("no code")}
	}
	conf, verifier, err := s.config(r.Context(), p)
	if err != nil {
		return "", &failure{errProviderError, "the sign-in provider is unavailable; please try again later", err}
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, s.client)
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return "", &failure{errExchangeFailed, "the provider did not accept the sign-in; please try again", fmt.Errorf("exchange code: %w", err)}
	}

	var id Identity
	switch p.Kind {
	case KindOIDC:
		id, err = oidcIdentity(ctx, verifier, tok, f.Nonce)
		if err != nil {
			return "", &failure{errInvalidIDToken, "the provider's identity token could not be verified", err}
		}
	case KindGitHub:
		id, err = s.githubIdentity(r.Context(), p, tok)
		if err != nil {
			return "", &failure{errProviderError, "your profile could not be read from the provider", err}
		}
	}
	id.Provider = p.Name

	var loginCode string
	if f.LinkUser != 0 {
		err = s.accounts.LinkIdentity(r.Context(), f.LinkUser, id)
	} else if loginCode, err = s.accounts.LoginCode(r.Context(), id, f.Challenge); err == nil && loginCode == "" {
		err = errors.New("empty login code")
	}
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Code == apperr.CodeConflict {
			return "", &failure{errAccountConflict, ae.Message, err}
		}
		return "", &failure{errServerError, "something went wrong; please try again", fmt.Errorf("login code: %w", err)}
	}
	return loginCode, nil
}

func (s *Service) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     cookieName,
		Value:    value,
		Path:     "/auth/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   s.secure,
		// Lax, not Strict: the callback is a top-level navigation from the provider's site.
		SameSite: http.SameSiteLaxMode,
	}
}

// redirect sends the browser to target, an allow-listed URL, with params set in its query.
func redirect(w http.ResponseWriter, r *http.Request, target string, params url.Values) {
	u, err := url.Parse(target)
	if err != nil {
		// New accepted only parseable return URLs, so this is unreachable; fail closed anyway.
		writeError(w, http.StatusInternalServerError, errServerError, "bad return url")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// writeError answers a browser that cannot be sent back to the app (no trusted return_to)
// with the sign-in flow's own error document, {"error": code, "message": msg}: an OAuth
// error code, not a GraphQL one. It goes out through apperr's writer like every refusal.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(struct { // strings only: it cannot fail
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, msg})
	apperr.WriteBody(w, apperr.MediaJSON, status, b)
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	// crypto/rand.Read never fails; it crashes the program rather than return short.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
