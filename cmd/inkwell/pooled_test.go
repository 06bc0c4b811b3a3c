package main

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"

	"inkwell/internal/app"
)

// Through a pooler the server cannot send statement_timeout itself: it warns at start
// when the pooled sessions run with another one, and says nothing when they match. Here
// a URL that sets it stands in for the pooler's connect_query.
func TestCheckPooledTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	srv := startPostgres(t, ctx)
	for _, tc := range []struct {
		pooler time.Duration // what the pooled sessions run with; 0: PostgreSQL's default
		warn   bool
	}{
		{0, true},
		{2 * time.Second, true},
		{5 * time.Second, false},
	} {
		db, err := sql.Open("postgres", app.WithStatementTimeout(srv.URL("postgres"), tc.pooler))
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		checkPooledTimeout(ctx, db, 5*time.Second, slog.New(slog.NewJSONHandler(&logs, nil)))
		_ = db.Close()
		warned := strings.Contains(logs.String(), `"level":"WARN"`) && strings.Contains(logs.String(), "connect_query")
		if warned != tc.warn || strings.Contains(logs.String(), "could not check") {
			t.Errorf("pooled sessions at %v, INKWELL_STATEMENT_TIMEOUT 5s: logged %q, want a warning %v", tc.pooler, logs.String(), tc.warn)
		}
	}
}
