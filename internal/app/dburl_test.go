package app_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"inkwell/internal/app"
	"inkwell/internal/pgtest"
)

func TestDatabaseURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?binary_parameters=yes&connect_timeout=5&sslmode=disable"},
		{"postgresql://h/db", "postgresql://h/db?binary_parameters=yes&connect_timeout=5"},
		{"postgres://h/db?binary_parameters=no&connect_timeout=1", "postgres://h/db?binary_parameters=no&connect_timeout=1"},
		{"host=h dbname=db", "host=h dbname=db binary_parameters=yes connect_timeout=5"},
		{"host=h connect_timeout=2", "host=h connect_timeout=2 binary_parameters=yes"},
	} {
		if got := app.DatabaseURL(tc.in); got != tc.want {
			t.Errorf("DatabaseURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Through a pooler the server's pool sends no statement_timeout (PgBouncer would refuse
// the connection); otherwise its sessions run with it.
func TestPoolURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		pooled bool
		want   string
	}{
		{"postgres://h/db", false, "postgres://h/db?binary_parameters=yes&connect_timeout=5&statement_timeout=1500"},
		{"postgres://h/db", true, "postgres://h/db?binary_parameters=yes&connect_timeout=5"},
		{"host=h dbname=db", false, "host=h dbname=db binary_parameters=yes connect_timeout=5 statement_timeout=1500"},
		{"host=h dbname=db", true, "host=h dbname=db binary_parameters=yes connect_timeout=5"},
	} {
		if got := app.PoolURL(tc.in, tc.pooled, 1500*time.Millisecond); got != tc.want {
			t.Errorf("PoolURL(%q, pooled %v) = %q, want %q", tc.in, tc.pooled, got, tc.want)
		}
	}

	url := pgtest.New(t)
	for pooled, want := range map[bool]time.Duration{false: 1500 * time.Millisecond, true: 0} {
		db, err := sql.Open("postgres", app.PoolURL(url, pooled, 1500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got, err := app.StatementTimeout(context.Background(), db)
		_ = db.Close()
		if err != nil || got != want {
			t.Errorf("pooled %v: statement_timeout = %v, %v; want %v", pooled, got, err, want)
		}
	}
}
