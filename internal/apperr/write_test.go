package apperr

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteContentTypeAndStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept []string
		want   string
	}{
		{"no Accept", nil, "application/json; charset=utf-8"},
		{"json only", []string{"application/json"}, "application/json; charset=utf-8"},
		{"graphql-response", []string{"application/graphql-response+json"}, "application/graphql-response+json; charset=utf-8"},
		{"graphql-response among others", []string{"application/json;q=0.9, application/graphql-response+json;charset=utf-8"},
			"application/graphql-response+json; charset=utf-8"},
		{"graphql-response in a second header", []string{"text/html", "Application/GraphQL-Response+JSON"},
			"application/graphql-response+json; charset=utf-8"},
		{"a lookalike type", []string{"application/graphql-response+json-x"}, "application/json; charset=utf-8"},
		{"graphql-response with q=0", []string{"application/graphql-response+json;q=0, application/json"}, "application/json; charset=utf-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
			for _, a := range tc.accept {
				r.Header.Add("Accept", a)
			}
			w := httptest.NewRecorder()
			Write(w, r, CodeRequestTooLarge, `body "too" large`)
			if got := w.Header().Get("Content-Type"); got != tc.want {
				t.Errorf("Content-Type = %q, want %q", got, tc.want)
			}
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413", w.Code)
			}
			want := `{"errors":[{"message":"body \"too\" large","extensions":{"code":"REQUEST_TOO_LARGE"}}]}`
			if got := w.Body.String(); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
		})
	}
}

// A code outside Table is a bug; it is still answered, as an internal error's status.
func TestWriteUnknownCodeIs500(t *testing.T) {
	w := httptest.NewRecorder()
	Write(w, httptest.NewRequest(http.MethodGet, "/", nil), Code("NOT_IN_THE_TABLE"), "x")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
}
