package auth

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"inkwell/internal/apperr"
)

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
				switch {
				case !errors.As(err, &e) || e.Code == apperr.CodeInternal:
					// The session could not be checked (the check logs why).
					apperr.Write(w, r, apperr.CodeInternal, "internal server error")
				case e.Code == apperr.CodeUnauthenticated:
					unauthorized(w, r, e.Message)
				default:
					// Not the client's fault, and passing (the database is unavailable).
					if e.RetryAfter > 0 {
						w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
					}
					apperr.Write(w, r, e.Code, e.Message)
				}
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
	apperr.Write(w, r, apperr.CodeUnauthenticated, msg)
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
