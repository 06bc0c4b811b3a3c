package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"

	"inkwell/internal/server"
)

// A resolver that cannot reach the database makes the whole answer a 503 with
// Retry-After, so that proxies and clients retry rather than keep a partial answer.
func TestDatabaseUnavailableIs503(t *testing.T) {
	t.Parallel()
	refused := func(context.Context) (any, error) {
		return nil, fmt.Errorf("load viewer: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	}
	h, _ := newHandler(t, server.Config{}, withViewer(refused))
	for name, r := range map[string]*http.Request{"POST": post("{ viewer { id } }"), "GET": get("{ viewer { id } }")} {
		t.Run(name, func(t *testing.T) {
			rec := serve(h, r)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After; body %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			resp := decode(t, rec)
			if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "DATABASE_UNAVAILABLE" {
				t.Fatalf("errors %+v, want one DATABASE_UNAVAILABLE", resp.Errors)
			}
			if msg := resp.Errors[0].Message; msg != "the database is unavailable; retry later" {
				t.Errorf("message %q leaks the cause", msg)
			}
		})
	}
}
