package server

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/lib/pq"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
)

func TestPresentDatabaseUnavailable(t *testing.T) {
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"connection refused", context.Background(), fmt.Errorf("query users: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), codeDatabaseUnavailable},
		{"bad connection", context.Background(), fmt.Errorf("commit: %w", driver.ErrBadConn), codeDatabaseUnavailable},
		{"closed by the server", context.Background(), io.ErrUnexpectedEOF, codeDatabaseUnavailable},
		{"admin shutdown", context.Background(), &pq.Error{Code: "57P01", Message: "terminating connection due to administrator command"}, codeDatabaseUnavailable},
		{"starting up", context.Background(), &pq.Error{Code: "57P03", Message: "the database system is starting up"}, codeDatabaseUnavailable},
		{"connection exception", context.Background(), &pq.Error{Code: "08006"}, codeDatabaseUnavailable},
		{"too many connections", context.Background(), &pq.Error{Code: "53300"}, codeDatabaseUnavailable},
		{"a write on a node demoted by a failover", context.Background(), &pq.Error{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}, codeDatabaseUnavailable},
		{"pool wait past the deadline", context.Background(), fmt.Errorf("load: %w", context.DeadlineExceeded), codeDatabaseUnavailable},
		{"canceled at the deadline", expired, &pq.Error{Code: "57014", Message: "canceling statement due to user request"}, codeDatabaseUnavailable},
		{"wrapped as internal", context.Background(), apperr.Internal(driver.ErrBadConn), codeDatabaseUnavailable},
		{"statement timeout", context.Background(), &pq.Error{Code: "57014", Message: "canceling statement due to statement timeout"}, codeInternal},
		{"unique violation", context.Background(), &pq.Error{Code: "23505"}, codeInternal},
		{"other error", context.Background(), errors.New("boom"), codeInternal},
		{"coded by a service", context.Background(), &apperr.Error{Code: apperr.CodeConflict, Message: "lost", Err: driver.ErrBadConn}, string(apperr.CodeConflict)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PresentError(tc.ctx, tc.err)
			if code := got.Extensions["code"]; code != tc.want {
				t.Fatalf("code = %v, want %s", code, tc.want)
			}
			if tc.want == codeDatabaseUnavailable && got.Message != msgDatabaseUnavailable {
				t.Fatalf("message = %q, want the generic one", got.Message)
			}
		})
	}
}

func TestStatusForErrors(t *testing.T) {
	coded := func(code string) *gqlerror.Error {
		return &gqlerror.Error{Message: code, Extensions: map[string]any{"code": code}}
	}
	if s, ra := statusForErrors(gqlerror.List{coded("NOT_FOUND"), coded(codeDatabaseUnavailable)}); s != http.StatusServiceUnavailable || ra != retryAfterUnavailable {
		t.Errorf("with DATABASE_UNAVAILABLE: %d %q, want 503 %q", s, ra, retryAfterUnavailable)
	}
	if s, ra := statusForErrors(gqlerror.List{coded("NOT_FOUND"), coded(codeInternal)}); s != 0 || ra != "" {
		t.Errorf("without: %d %q, want 0 and no Retry-After", s, ra)
	}
}

func TestReadyzWhileDraining(t *testing.T) {
	var draining atomic.Bool
	h := closeWhenDraining(draining.Load, readyz(func(context.Context) error { return nil }, draining.Load, nil))
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK || rec.Header().Get("Connection") != "" {
		t.Fatalf("serving: %d, Connection %q; want 200 and keep-alive", rec.Code, rec.Header().Get("Connection"))
	}
	draining.Store(true)
	rec := get()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Connection") != "close" {
		t.Fatalf("draining: %d, Connection %q; want 503 and close", rec.Code, rec.Header().Get("Connection"))
	}
	if body := rec.Body.String(); body != "{\"status\":\"draining\"}\n" {
		t.Fatalf("draining body %q", body)
	}
}
