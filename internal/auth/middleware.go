package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"inkwell/internal/apperr"
)

const graphQLResponseType = "application/graphql-response+json"

// SessionCheck returns nil when v's session is live, an UNAUTHENTICATED *apperr.Error when
// it has ended or never existed, and any other error when it cannot tell.
type SessionCheck func(ctx context.Context, v Viewer) error

// Authenticate verifies token and checks that its session is live.
func Authenticate(ctx context.Context, t *Tokens, live SessionCheck, token string) (Viewer, error) {
	v, err := t.Verify(token)
	if err != nil {
		return Viewer{}, err
	}
	if err := live(ctx, v); err != nil {
		return Viewer{}, err
	}
	return v, nil
}

// Middleware authenticates each request from its Authorization header. Without one the
// request continues as the anonymous viewer. With one it must be "Bearer <token>" holding a
// valid access token of a live session, and the request continues with that viewer in its
// context; otherwise the request ends with 401 and an UNAUTHENTICATED GraphQL error, rather
// than running as anonymous, so that a client with a stale token learns to refresh instead
// of silently seeing less.
func Middleware(t *Tokens, live SessionCheck) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Values("Authorization")
			r = r.WithContext(WithSignIns(r.Context()))
			if len(header) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			token, ok := bearerToken(header)
			if !ok {
				unauthorized(w, r, "malformed authorization header, want Bearer token")
				return
			}
			v, err := Authenticate(r.Context(), t, live, token)
			if err != nil {
				var e *apperr.Error
				if !errors.As(err, &e) || e.Code != apperr.CodeUnauthenticated {
					// The session store could not answer (the check logs why): not the
					// client's fault.
					WriteGraphQLError(w, r, http.StatusInternalServerError, apperr.CodeInternal, "internal server error")
					return
				}
				unauthorized(w, r, e.Message)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithViewer(r.Context(), v)))
		})
	}
}

// bearerToken extracts the token from the values of the Authorization header. More than
// one header is ambiguous, so it is rejected rather than guessed at.
func bearerToken(header []string) (string, bool) {
	if len(header) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(header[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}

func unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate",
		`Bearer error="invalid_token", error_description="`+authParam(msg)+`"`)
	WriteGraphQLError(w, r, http.StatusUnauthorized, apperr.CodeUnauthenticated, msg)
}

// authParam keeps only the characters RFC 6750 allows in error_description.
func authParam(s string) string {
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return -1
		}
		return c
	}, s)
}

// WriteGraphQLError answers r with status and a GraphQL response holding one error with
// msg and extensions.code. It is for failures before the GraphQL handler runs. The content
// type is application/graphql-response+json when the client accepts it, as the GraphQL over
// HTTP spec asks, and application/json otherwise.
func WriteGraphQLError(w http.ResponseWriter, r *http.Request, status int, code apperr.Code, msg string) {
	type gqlError struct {
		Message    string            `json:"message"`
		Extensions map[string]string `json:"extensions"`
	}
	body, err := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{[]gqlError{{Message: msg, Extensions: map[string]string{"code": string(code)}}}})
	if err != nil {
		// Unreachable for strings; answer anyway rather than leave the client hanging.
		body = []byte(`{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	contentType := "application/json; charset=utf-8"
	if r != nil && accepts(r, graphQLResponseType) {
		contentType = graphQLResponseType + "; charset=utf-8"
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// accepts reports whether r's Accept header lists mediaType, ignoring parameters.
func accepts(r *http.Request, mediaType string) bool {
	for _, header := range r.Header.Values("Accept") {
		for _, item := range strings.Split(header, ",") {
			typ, _, _ := strings.Cut(item, ";")
			if strings.EqualFold(strings.TrimSpace(typ), mediaType) {
				return true
			}
		}
	}
	return false
}
