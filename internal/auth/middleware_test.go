package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apperr"
)

func TestViewerContext(t *testing.T) {
	if v := ViewerFrom(context.Background()); !v.Anonymous() {
		t.Errorf("empty context: viewer %+v, want anonymous", v)
	}
	ctx := WithViewer(context.Background(), Viewer{UserID: 9})
	if v := ViewerFrom(ctx); v.UserID != 9 || v.Anonymous() {
		t.Errorf("viewer %+v, want user 9", v)
	}
}

type recorded struct {
	called bool
	viewer Viewer
}

// liveSessions is a session check for which only session-1 is live.
func liveSessions(_ context.Context, v Viewer) error {
	switch v.SessionID {
	case "session-1":
		return nil
	case "store-down":
		return errors.New("connection refused")
	case "db-unavailable":
		return &apperr.Error{Code: apperr.CodeDatabaseUnavailable, Message: "the database is unavailable; retry later",
			RetryAfter: 2 * time.Second}
	}
	return apperr.Unauthenticated("session has ended")
}

func serve(t *testing.T, tokens *Tokens, header http.Header) (*httptest.ResponseRecorder, recorded) {
	t.Helper()
	var rec recorded
	h := Middleware(tokens, liveSessions)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.called = true
		rec.viewer = ViewerFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query":"{ viewer { id } }"}`))
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w, rec
}

func TestMiddlewarePassesThrough(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, _, err := tokens.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no header is anonymous", nil, 0},
		{"a good token names the viewer", http.Header{"Authorization": {"Bearer " + token}}, 42},
		{"the scheme is case-insensitive", http.Header{"Authorization": {"bEARER " + token}}, 42},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, rec := serve(t, tokens, tc.header)
			if !rec.called {
				t.Fatalf("handler not called; status %d, body %s", w.Code, w.Body)
			}
			if rec.viewer.UserID != tc.want {
				t.Errorf("viewer %+v, want user %d", rec.viewer, tc.want)
			}
		})
	}
}

func TestMiddlewareRejects(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, _, err := tokens.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	past := newTestTokens(t, func(c *TokenConfig) { c.Now = func() time.Time { return testNow.Add(-time.Hour) } })
	expired, _, err := past.Issue(42, "session-1")
	if err != nil {
		t.Fatal(err)
	}
	ended, _, err := tokens.Issue(42, "session-2")
	if err != nil {
		t.Fatal(err)
	}
	const malformed = "malformed authorization header, want Bearer token"
	for _, tc := range []struct {
		name    string
		auth    []string
		wantMsg string
	}{
		{"a bad token", []string{"Bearer " + token + "x"}, msgInvalid},
		{"an expired token", []string{"Bearer " + expired}, msgExpired},
		{"a token of an ended session", []string{"Bearer " + ended}, "session has ended"},
		{"an empty header", []string{""}, malformed},
		{"another scheme", []string{"Basic dXNlcjpwYXNz"}, malformed},
		{"a scheme without token", []string{"Bearer"}, malformed},
		{"a scheme with a blank token", []string{"Bearer   "}, malformed},
		{"no space after the scheme", []string{"Bearer" + token}, malformed},
		{"two tokens", []string{"Bearer " + token + " " + token}, malformed},
		{"two headers", []string{"Bearer " + token, "Bearer " + token}, malformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, rec := serve(t, tokens, http.Header{"Authorization": tc.auth})
			if rec.called {
				t.Fatal("handler called for a rejected request")
			}
			if w.Code != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", w.Code)
			}
			wantAuth := `Bearer error="invalid_token", error_description="` + tc.wantMsg + `"`
			if got := w.Header().Get("WWW-Authenticate"); got != wantAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, wantAuth)
			}
			if got := w.Header().Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			var body struct {
				Data   json.RawMessage `json:"data"`
				Errors []struct {
					Message    string
					Extensions struct{ Code apperr.Code }
				}
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if body.Data != nil {
				t.Errorf("body has data: %s", body.Data)
			}
			if len(body.Errors) != 1 {
				t.Fatalf("body %s has %d errors, want 1", w.Body, len(body.Errors))
			}
			if e := body.Errors[0]; e.Message != tc.wantMsg || e.Extensions.Code != apperr.CodeUnauthenticated {
				t.Errorf("error = %+v, want %q with code %s", e, tc.wantMsg, apperr.CodeUnauthenticated)
			}
		})
	}
}

func TestMiddlewareDatabaseUnavailable(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, _, err := tokens.Issue(42, "db-unavailable")
	if err != nil {
		t.Fatal(err)
	}
	w, rec := serve(t, tokens, http.Header{"Authorization": {"Bearer " + token}})
	if rec.called || w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), `"DATABASE_UNAVAILABLE"`) {
		t.Fatalf("called %v, status %d, Retry-After %q, body %s", rec.called, w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestMiddlewareSessionStoreDown(t *testing.T) {
	tokens := newTestTokens(t, nil)
	token, _, err := tokens.Issue(42, "store-down")
	if err != nil {
		t.Fatal(err)
	}
	w, rec := serve(t, tokens, http.Header{"Authorization": {"Bearer " + token}})
	if rec.called {
		t.Fatal("handler called although the session could not be checked")
	}
	// Not the client's fault: no challenge that would send it to sign in again.
	if w.Code != http.StatusInternalServerError || w.Header().Get("WWW-Authenticate") != "" ||
		!strings.Contains(w.Body.String(), `"INTERNAL_SERVER_ERROR"`) || strings.Contains(w.Body.String(), "refused") {
		t.Fatalf("status %d, challenge %q, body %s", w.Code, w.Header().Get("WWW-Authenticate"), w.Body)
	}
}

func TestMiddlewareAcceptGraphQLResponse(t *testing.T) {
	tokens := newTestTokens(t, nil)
	w, rec := serve(t, tokens, http.Header{
		"Authorization": {"Bearer nope"},
		"Accept":        {"application/graphql-response+json, application/json"},
	})
	if rec.called || w.Code != http.StatusUnauthorized {
		t.Fatalf("called %v, status %d; want 401 without calling the handler", rec.called, w.Code)
	}
	if got, want := w.Header().Get("Content-Type"), "application/graphql-response+json; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
}

func TestAuthParam(t *testing.T) {
	if got, want := authParam("a \"quoted\" \\ line\nbreak é"), "a quoted  linebreak "; got != want {
		t.Errorf("authParam = %q, want %q", got, want)
	}
}
