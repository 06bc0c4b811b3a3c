package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"inkwell/internal/app"
	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/globalid"
)

func tokRefresh(t *testing.T, e *apptest.Env, refreshToken string) *apptest.Response {
	t.Helper()
	return e.Query(t, "", `mutation($in: RefreshSessionInput!) { refreshSession(input: $in) { `+acctAuthFields+` } }`,
		map[string]any{"in": map[string]any{"refreshToken": refreshToken}})
}

// tokSignOut signs out the session of refreshToken and fails unless ok is true.
func tokSignOut(t *testing.T, e *apptest.Env, refreshToken string) {
	t.Helper()
	var out struct{ SignOut struct{ Ok bool } }
	e.MustQuery(t, "", `mutation($in: SignOutInput!) { signOut(input: $in) { ok } }`,
		map[string]any{"in": map[string]any{"refreshToken": refreshToken}}, &out)
	if !out.SignOut.Ok {
		t.Fatal("signOut ok = false")
	}
}

// tokWant401 fails unless r is the bearer middleware's refusal: HTTP 401, one
// UNAUTHENTICATED error, a Bearer challenge, and no data, so nothing ran as anonymous.
func tokWant401(t *testing.T, r *apptest.Response) {
	t.Helper()
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401: %s", r.Status, r.Body)
	}
	if len(r.Errors) != 1 || r.Code() != "UNAUTHENTICATED" || r.Errors[0].Message == "" {
		t.Fatalf("want one UNAUTHENTICATED error: %s", r.Body)
	}
	if len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("a refused request has data: %s", r.Data)
	}
	if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Fatalf("WWW-Authenticate = %q, want a Bearer challenge", got)
	}
}

// tokUserID is the database id inside a user's global id.
func tokUserID(t *testing.T, u *apptest.User) int {
	t.Helper()
	typ, id, ok := globalid.Decode(u.ID)
	if !ok || typ != globalid.TypeUser {
		t.Fatalf("bad user id %q", u.ID)
	}
	return id
}

// tokSessionID is the session id (sid claim) in an access token the server issued.
func tokSessionID(t *testing.T, token string) string {
	t.Helper()
	var c struct {
		SessionID string `json:"sid"`
		jwt.RegisteredClaims
	}
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil || c.SessionID == "" {
		t.Fatalf("no session id in %q: %v", token, err)
	}
	return c.SessionID
}

// tokClaims are an access token's claims, as the server writes them.
type tokClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// tokSign signs claims with HS256 under kid with secret.
func tokSign(t *testing.T, kid, secret string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenBearer(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	sub := strconv.Itoa(tokUserID(t, alice))
	kid := config.KeyID(e.Config.SigningKey)
	now := time.Now()
	sid := tokSessionID(t, alice.Token)
	claims := func(change func(*jwt.RegisteredClaims)) jwt.Claims {
		c := jwt.RegisteredClaims{
			Issuer:    e.Config.Issuer,
			Audience:  jwt.ClaimStrings{e.Config.Audience},
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		}
		if change != nil {
			change(&c)
		}
		return tokClaims{RegisteredClaims: c, SessionID: sid}
	}
	const otherSecret = "another-signing-key-0123456789abcdef-01234"

	otherCfg := e.Config
	otherCfg.SigningKey = otherSecret
	otherTokens, err := app.NewTokens(otherCfg)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyToken, _, err := otherTokens.Issue(tokUserID(t, alice), sid)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	// The control: a token made here with the server's own key and claims is accepted, so
	// each refusal below is down to the one thing that case changes.
	t.Run("own key accepted", func(t *testing.T) {
		tok := tokSign(t, kid, e.Config.SigningKey, claims(nil))
		if v := acctViewer(t, e, tok); v == nil || v.ID != alice.ID {
			t.Fatalf("viewer = %+v, want alice", v)
		}
	})
	t.Run("no header is anonymous", func(t *testing.T) {
		r := e.Query(t, "", `{ viewer { id } }`, nil)
		if r.Status != http.StatusOK || len(r.Errors) != 0 || string(r.Data) != `{"viewer":null}` {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("lower-case scheme accepted", func(t *testing.T) {
		var out struct{ Viewer *acctUser }
		e.Do(t, apptest.Request{Query: `{ viewer { id username } }`, Header: map[string]string{"Authorization": "bearer " + alice.Token}}).
			Decode(t, &out)
		if out.Viewer == nil || out.Viewer.ID != alice.ID {
			t.Fatalf("viewer = %+v, want alice", out.Viewer)
		}
	})

	for _, tc := range []struct{ name, header string }{
		{"garbage token", "Bearer not-a-token"},
		{"garbage with dots", "Bearer a.b.c"},
		{"token signed with another key", "Bearer " + otherKeyToken},
		{"our key id, another secret", "Bearer " + tokSign(t, kid, otherSecret, claims(nil))},
		{"no key id", "Bearer " + tokSign(t, "", e.Config.SigningKey, claims(nil))},
		{"alg none", "Bearer " + unsigned},
		{"wrong issuer", "Bearer " + tokSign(t, kid, e.Config.SigningKey, claims(func(c *jwt.RegisteredClaims) { c.Issuer = "evil" }))},
		{"wrong audience", "Bearer " + tokSign(t, kid, e.Config.SigningKey, claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"evil"} }))},
		{"no expiry", "Bearer " + tokSign(t, kid, e.Config.SigningKey, claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }))},
		{"expired", "Bearer " + tokSign(t, kid, e.Config.SigningKey, claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }))},
		{"subject not a user id", "Bearer " + tokSign(t, kid, e.Config.SigningKey, claims(func(c *jwt.RegisteredClaims) { c.Subject = "alice" }))},
		{"no session id", "Bearer " + tokSign(t, kid, e.Config.SigningKey, jwt.RegisteredClaims{Issuer: e.Config.Issuer,
			Audience: jwt.ClaimStrings{e.Config.Audience}, Subject: sub, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))})},
		{"a session id that names no session", "Bearer " + tokSign(t, kid, e.Config.SigningKey, tokClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: e.Config.Issuer,
			Audience: jwt.ClaimStrings{e.Config.Audience}, Subject: sub, ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, SessionID: "forged"})},
		{"tampered payload", "Bearer " + tokTamper(alice.Token)},
		{"other scheme", "Token " + alice.Token},
		{"basic auth", "Basic YWxpY2U6cGFzc3dvcmQ="},
		{"scheme only", "Bearer"},
		{"token only", alice.Token},
		{"two tokens", "Bearer " + alice.Token + " " + alice.Token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(t, apptest.Request{Query: `{ viewer { id } }`, Header: map[string]string{"Authorization": tc.header}})
			tokWant401(t, r)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("Content-Type = %q, want application/json", ct)
			}
		})
	}

	t.Run("a refused mutation does not run", func(t *testing.T) {
		before := e.Snapshot(t)
		r := e.Do(t, apptest.Request{
			Query:     `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
			Variables: map[string]any{"in": map[string]any{"username": "bob", "email": "bob@example.com", "password": "long enough"}},
			Header:    map[string]string{"Authorization": "Bearer not-a-token"},
		})
		tokWant401(t, r)
		acctUnchanged(t, e, before)
	})
}

// tokTamper changes the subject of a JWT without re-signing it.
func tokTamper(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return token + "x"
	}
	parts[1] = "eyJzdWIiOiIyIn0" // {"sub":"2"}
	return strings.Join(parts, ".")
}

func TestTokenBearerGraphQLResponseType(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	for _, accept := range []string{
		"application/graphql-response+json",
		"application/graphql-response+json; charset=utf-8",
		"application/json;q=0.9, application/graphql-response+json",
	} {
		t.Run(accept, func(t *testing.T) {
			r := e.Do(t, apptest.Request{Query: `{ viewer { id } }`, Header: map[string]string{
				"Authorization": "Bearer not-a-token",
				"Accept":        accept,
			}})
			tokWant401(t, r)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/graphql-response+json") {
				t.Fatalf("Content-Type = %q, want application/graphql-response+json", ct)
			}
		})
	}
}

func TestTokenAccessExpiry(t *testing.T) {
	t.Parallel()
	// exp has whole-second precision, so a one-second token may live only a moment; two
	// seconds leave at least one in which it must work.
	e := apptest.New(t, apptest.WithAccessTTL(2*time.Second))
	e.SignUp(t, "alice")
	p := acctPayload(t, acctSignIn(t, e, "alice@example.com", "password-alice"), "signIn")
	exp, err := time.Parse(time.RFC3339, p.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d <= 0 || d > 2*time.Second {
		t.Fatalf("expiresAt is %s away, want within the 2s lifetime", d)
	}
	if v := acctViewer(t, e, p.AccessToken); v == nil || v.Username != "alice" {
		t.Fatalf("fresh token: viewer = %+v", v)
	}

	time.Sleep(time.Until(exp) + 100*time.Millisecond)
	tokWant401(t, e.Query(t, p.AccessToken, `{ viewer { id } }`, nil))

	// The remedy the 401 asks for works: refresh, then retry with the new token.
	fresh := acctPayload(t, tokRefresh(t, e, p.RefreshToken), "refreshSession")
	if fresh.AccessToken == p.AccessToken {
		t.Fatal("refresh returned the expired access token")
	}
	if v := acctViewer(t, e, fresh.AccessToken); v == nil || v.Username != "alice" {
		t.Fatalf("refreshed token: viewer = %+v", v)
	}
}

func TestTokenRefreshExpiry(t *testing.T) {
	t.Parallel()
	// Two seconds, not one, so the first refresh below cannot miss its window on a slow
	// machine; the wait overlaps TestTokenAccessExpiry's anyway.
	const ttl = 2 * time.Second
	e := apptest.New(t, apptest.WithRefreshTTL(ttl))
	alice := e.SignUp(t, "alice")
	p := acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
	// Taken once the refresh has answered: its token was issued no later, so it has
	// expired by the time slept below however long the refresh took.
	issued := time.Now()

	time.Sleep(time.Until(issued.Add(ttl + 100*time.Millisecond)))
	before := e.Snapshot(t)
	acctWantCode(t, tokRefresh(t, e, p.RefreshToken), "UNAUTHENTICATED")
	acctUnchanged(t, e, before)
	// Signing in again starts a session with a fresh lifetime.
	fresh := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	acctPayload(t, tokRefresh(t, e, fresh.RefreshToken), "refreshSession")
}

func TestTokenRefreshRotation(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")

	first := acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
	second := acctPayload(t, tokRefresh(t, e, first.RefreshToken), "refreshSession")
	for _, p := range []acctAuth{first, second} {
		if p.User.ID != alice.ID || p.User.Email == nil || *p.User.Email != alice.Email {
			t.Fatalf("refreshed user = %+v, want alice with her email", p.User)
		}
		if _, err := time.Parse(time.RFC3339, p.ExpiresAt); err != nil {
			t.Fatalf("expiresAt %q: %v", p.ExpiresAt, err)
		}
		if v := acctViewer(t, e, p.AccessToken); v == nil || v.ID != alice.ID {
			t.Fatalf("viewer with the refreshed token = %+v", v)
		}
	}
	seen := map[string]bool{alice.RefreshToken: true}
	for _, rt := range []string{first.RefreshToken, second.RefreshToken} {
		if seen[rt] {
			t.Fatalf("refresh token %q handed out twice", rt)
		}
		seen[rt] = true
	}

	// The first token is spent; presenting it again means it was copied, which ends the
	// whole session, including the newest token rotated from it.
	acctWantCode(t, tokRefresh(t, e, alice.RefreshToken), "UNAUTHENTICATED")
	acctWantCode(t, tokRefresh(t, e, second.RefreshToken), "UNAUTHENTICATED")
	acctWantCode(t, tokRefresh(t, e, first.RefreshToken), "UNAUTHENTICATED")

	// The account itself is fine: signing in starts a new session.
	fresh := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	acctPayload(t, tokRefresh(t, e, fresh.RefreshToken), "refreshSession")
}

func TestTokenRefreshUnknown(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	for _, tc := range []struct{ name, token string }{
		{"unknown", "bm90LWEtcmVhbC1yZWZyZXNoLXRva2VuLW5vdC1hLXJlYWw"},
		{"empty", ""},
		{"the access token", alice.Token},
		{"a refresh token with a changed letter", tokFlipLast(alice.RefreshToken)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			acctWantCode(t, tokRefresh(t, e, tc.token), "UNAUTHENTICATED")
			acctUnchanged(t, e, before)
		})
	}
	// None of the attempts touched the real session.
	acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
}

func tokFlipLast(s string) string {
	if strings.HasSuffix(s, "A") {
		return s[:len(s)-1] + "B"
	}
	return s[:len(s)-1] + "A"
}

func TestTokenSessionsIndependent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	laptop := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	phone := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
	if laptop.RefreshToken == phone.RefreshToken || laptop.RefreshToken == alice.RefreshToken {
		t.Fatal("two sign-ins share a refresh token")
	}

	// Reuse in the laptop's session ends it ...
	rotated := acctPayload(t, tokRefresh(t, e, laptop.RefreshToken), "refreshSession")
	acctWantCode(t, tokRefresh(t, e, laptop.RefreshToken), "UNAUTHENTICATED")
	acctWantCode(t, tokRefresh(t, e, rotated.RefreshToken), "UNAUTHENTICATED")

	// ... and no other.
	for name, rt := range map[string]string{"sign-up session": alice.RefreshToken, "phone session": phone.RefreshToken} {
		t.Run(name+" lives on", func(t *testing.T) {
			p := acctPayload(t, tokRefresh(t, e, rt), "refreshSession")
			acctPayload(t, tokRefresh(t, e, p.RefreshToken), "refreshSession")
		})
	}
}

func TestTokenSignOut(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")

	t.Run("ends the session", func(t *testing.T) {
		p := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
		tokSignOut(t, e, p.RefreshToken)
		acctWantCode(t, tokRefresh(t, e, p.RefreshToken), "UNAUTHENTICATED")
	})
	t.Run("an older token of the session ends it too", func(t *testing.T) {
		p := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
		rotated := acctPayload(t, tokRefresh(t, e, p.RefreshToken), "refreshSession")
		tokSignOut(t, e, p.RefreshToken)
		acctWantCode(t, tokRefresh(t, e, rotated.RefreshToken), "UNAUTHENTICATED")
	})
	t.Run("twice is fine", func(t *testing.T) {
		p := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn")
		tokSignOut(t, e, p.RefreshToken)
		tokSignOut(t, e, p.RefreshToken)
	})
	t.Run("unknown token is ok and writes nothing", func(t *testing.T) {
		before := e.Snapshot(t)
		tokSignOut(t, e, "bm90LWEtcmVhbC1yZWZyZXNoLXRva2VuLW5vdC1hLXJlYWw")
		tokSignOut(t, e, "")
		acctUnchanged(t, e, before)
	})
	// Other sessions, of alice and of bob, are untouched by all of the above.
	acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
	acctPayload(t, tokRefresh(t, e, bob.RefreshToken), "refreshSession")
}

func TestTokenRefreshConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	// The race is narrow, so it is run several times, each on a session of its own.
	const rounds, n = 8, 5
	for round := range rounds {
		rt := acctPayload(t, acctSignIn(t, e, alice.Email, alice.Password), "signIn").RefreshToken
		before := e.Count(t, "refresh_tokens")
		var (
			wg        sync.WaitGroup
			responses = make([]*apptest.Response, n)
			start     = make(chan struct{})
		)
		for i := range n {
			wg.Go(func() {
				<-start
				responses[i] = tokRefresh(t, e, rt)
			})
		}
		close(start)
		wg.Wait()

		var won []string
		for i, r := range responses {
			switch {
			case r.Status >= 500:
				t.Errorf("round %d, refresh %d: HTTP %d %s", round, i, r.Status, r.Body)
			case len(r.Errors) == 0:
				var out map[string]acctAuth
				r.Decode(t, &out)
				won = append(won, out["refreshSession"].RefreshToken)
			case r.Code() != "UNAUTHENTICATED":
				t.Errorf("round %d, refresh %d: %s", round, i, r.Body)
			}
		}
		if len(won) > 1 {
			t.Errorf("round %d: %d refreshes of one token succeeded, want at most 1", round, len(won))
		}
		// One token spent once yields at most one new token.
		if got := e.Count(t, "refresh_tokens") - before; got > 1 {
			t.Errorf("round %d: %d new refresh tokens, want at most 1", round, got)
		}
		// The others presented a spent token, which ends the session, the winner's new
		// token included.
		for _, w := range won {
			acctWantCode(t, tokRefresh(t, e, w), "UNAUTHENTICATED")
		}
	}
	// The sign-up session was never involved.
	acctPayload(t, tokRefresh(t, e, alice.RefreshToken), "refreshSession")
}
