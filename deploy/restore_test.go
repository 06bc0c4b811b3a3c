//go:build restoretest

package deploy

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/localpg"
)

// TestBackupRestore proves the backups restore (make restore-test): on a throw-away
// PostgreSQL on loopback, it migrates and seeds a database, dumps it with one round of
// backup/pg-backup (the script the Compose service runs), restores the dump into a new
// database with pg_restore as deploy/README.md says, and compares every table's row count
// and contents, and every sequence's position.
func TestBackupRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin, err := localpg.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(tmp, "pg"), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	admin := open(t, srv.URL("postgres"))
	for _, db := range []string{"inkwell", "restored"} {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
	}

	inkwell := filepath.Join(tmp, "inkwell")
	run(ctx, t, nil, "go", "build", "-o", inkwell, "../cmd/inkwell")
	env := []string{"DATABASE_URL=" + srv.URL("inkwell")}
	run(ctx, t, env, inkwell, "migrate")
	run(ctx, t, env, inkwell, "seed", "-size", "S", "-seed", "7")

	// One round of the backup service, with its pg_dump command line.
	backups := filepath.Join(tmp, "backups")
	host, port := hostPort(t, srv.URL("inkwell"))
	run(ctx, t, []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"BACKUP_ONCE=1", "BACKUP_DIR=" + backups,
		"PGHOST=" + host, "PGPORT=" + port, "PGUSER=postgres", "PGDATABASE=inkwell",
	}, "backup/pg-backup")
	dumps, err := filepath.Glob(filepath.Join(backups, "inkwell-*.dump"))
	if err != nil || len(dumps) != 1 {
		t.Fatalf("dumps in %s: %v (%v), want one", backups, dumps, err)
	}
	if partial, _ := filepath.Glob(filepath.Join(backups, ".*.partial")); len(partial) != 0 {
		t.Errorf("partial dumps left behind: %v", partial)
	}

	run(ctx, t, nil, filepath.Join(bin, "pg_restore"), "--exit-on-error", "--no-owner",
		"--dbname="+srv.URL("restored"), dumps[0])

	src, dst := open(t, srv.URL("inkwell")), open(t, srv.URL("restored"))
	tables := strings.Fields(query(ctx, t, src, `SELECT string_agg(quote_ident(table_name), ' ' ORDER BY table_name)
		FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`))
	if len(tables) < 5 {
		t.Fatalf("tables %v: the migrations made fewer than expected", tables)
	}
	rows := 0
	for _, table := range tables {
		// Rows as text, in a fixed order: equal digests mean equal contents.
		q := `SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '-') FROM public.` + table + ` AS t`
		want, got := query(ctx, t, src, q), query(ctx, t, dst, q)
		if got != want {
			t.Errorf("table %s: restored %s, want %s (rows, digest)", table, got, want)
		}
		var n int
		if _, err := fmt.Sscan(want, &n); err == nil {
			rows += n
		}
	}
	if rows < 10_000 {
		t.Errorf("compared %d rows in all: the seed made fewer than expected", rows)
	}
	seqs := `SELECT coalesce(string_agg(sequencename || '=' || coalesce(last_value::text, 'unused'), ' ' ORDER BY sequencename), '')
		FROM pg_sequences WHERE schemaname = 'public'`
	if want, got := query(ctx, t, src, seqs), query(ctx, t, dst, seqs); got != want {
		t.Errorf("sequences: restored %q, want %q", got, want)
	}
	if fi, err := os.Stat(dumps[0]); err == nil {
		t.Logf("%d tables, %d rows: a dump of %d bytes restored them identical", len(tables), rows, fi.Size())
	}
}

// hostPort are the host and port of a postgres:// URL.
func hostPort(t *testing.T, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), u.Port()
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func query(ctx context.Context, t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(ctx, q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// run runs a command with extra environment, failing the test with its output.
func run(ctx context.Context, t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
