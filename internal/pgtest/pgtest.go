// Package pgtest gives each test a real PostgreSQL database of its own,
// cloned from a migrated template database, so tests can run in parallel.
//
// A package opts in with
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and each test calls New for the URL of its database.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"

	"inkwell/internal/dbmigrate"
	"inkwell/internal/localpg"
)

// envURL points the tests at an existing server instead of a throw-away one:
// a superuser URL such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const envURL = "INKWELL_TEST_DATABASE_URL"

var (
	server    *url.URL // set by Main before any test runs
	throwAway bool     // server dies with this process, and kept databases with it

	adminOnce sync.Once
	adminDB   *sql.DB

	templateMu    sync.Mutex
	templateReady string // name of the template known to exist
)

// Main runs a package's tests and returns the exit code. If
// INKWELL_TEST_DATABASE_URL is set it uses that server; otherwise it starts a
// throw-away localpg server in a temporary folder, and stops it and removes
// the folder after the tests.
func Main(m *testing.M) int {
	if u := os.Getenv(envURL); u != "" {
		if err := setServer(u); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %s: %v\n", envURL, err)
			return 1
		}
		defer closeAdmin()
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "inkwell-pgtest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := localpg.Start(ctx, localpg.Options{Dir: dir, Fast: true})
	cancel()
	if err != nil {
		// Tests that need a database must not silently pass: fail the package.
		fmt.Fprintf(os.Stderr, "pgtest: starting PostgreSQL (or set %s): %v\n", envURL, err)
		return 1
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}()
	if err := setServer(srv.URL("postgres")); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	throwAway = true
	defer closeAdmin()
	return m.Run()
}

func setServer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return fmt.Errorf("want a URL like postgres://user@host:port/db, got %q", raw)
	}
	server = u
	return nil
}

// dbURL returns the server's URL with the database name replaced.
func dbURL(name string) string {
	u := *server
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// AdminURL returns the URL of the server's maintenance database, postgres,
// for tests that need it; "" if Main has not set up a server.
func AdminURL() string {
	if server == nil {
		return ""
	}
	return dbURL("postgres")
}

func admin() *sql.DB {
	adminOnce.Do(func() {
		adminDB, _ = sql.Open("postgres", AdminURL()) // lib/pq only fails here on driver name
		adminDB.SetMaxOpenConns(8)                    // plenty for CREATE/DROP DATABASE; leaves room for the tests
		adminDB.SetMaxIdleConns(8)
	})
	return adminDB
}

func closeAdmin() {
	if adminDB != nil {
		adminDB.Close()
	}
}

// New returns the URL of a fresh database for this test alone, cloned from
// the template "inkwell_tpl_" + dbmigrate.Fingerprint(), which it builds with
// dbmigrate.Up first if the server lacks it. When the test passes the
// database is dropped; when it fails it is kept and its URL logged. Without a
// server (Main not called, or PostgreSQL unreachable) the test fails.
func New(t testing.TB) string {
	t.Helper()
	if server == nil {
		t.Fatal("pgtest: no PostgreSQL server; call pgtest.Main from the package's TestMain")
	}
	ctx := t.Context()
	db := admin()
	tpl, err := ensureTemplate(ctx, db)
	if err != nil {
		t.Fatalf("pgtest: template database: %v", err)
	}
	name := newName(t.Name())
	if err := createFrom(ctx, db, name, tpl); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	u := dbURL(name)
	t.Cleanup(func() {
		if t.Failed() {
			if throwAway {
				t.Logf("pgtest: kept database of failed test until the test binary exits (set %s to keep it longer): %s", envURL, u)
			} else {
				t.Logf("pgtest: kept database of failed test: %s", u)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE (PostgreSQL 13+) ends sessions the test left open.
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return u
}

// templateLockKey is the pg_advisory_lock key that serialises template builds
// across test processes (go test runs packages in parallel) sharing a server.
const templateLockKey int64 = 0x696e6b77656c6c // "inkwell"

// ensureTemplate returns the name of the migrated template database, building
// it if the server does not have it yet.
func ensureTemplate(ctx context.Context, db *sql.DB) (string, error) {
	fp := dbmigrate.Fingerprint()
	name, scratch := maxName("inkwell_tpl_"+fp), maxName("inkwell_tmp_"+fp)

	templateMu.Lock()
	defer templateMu.Unlock()
	if templateReady == name {
		return name, nil
	}
	// A transaction-level lock is released however we leave (commit, rollback,
	// lost connection), so a failed build cannot leave the lock held.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", templateLockKey); err != nil {
		return "", err
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		// CREATE/ALTER DATABASE cannot run inside a transaction: use other
		// connections while tx holds the lock.
		if err := buildTemplate(ctx, db, name, scratch); err != nil {
			return "", err
		}
	}
	templateReady = name
	return name, nil
}

// buildTemplate migrates a scratch database and only then gives it the
// template's name, so the name never denotes a half-built template. The
// caller holds the advisory lock, so nobody else is using scratch.
func buildTemplate(ctx context.Context, db *sql.DB, name, scratch string) error {
	exec := func(stmts ...string) error {
		for _, stmt := range stmts {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	}
	q := pq.QuoteIdentifier

	// A build that died can leave scratch behind, possibly already marked
	// as a template, which DROP DATABASE refuses.
	var leftover bool
	if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", scratch).Scan(&leftover); err != nil {
		return err
	}
	if leftover {
		if err := exec(
			"ALTER DATABASE "+q(scratch)+" WITH IS_TEMPLATE false",
			"DROP DATABASE "+q(scratch)+" WITH (FORCE)",
		); err != nil {
			return err
		}
	}
	if err := exec("CREATE DATABASE " + q(scratch) + " TEMPLATE template0"); err != nil {
		return err
	}
	if err := dbmigrate.Up(ctx, dbURL(scratch)); err != nil {
		return fmt.Errorf("migrating %s: %w", scratch, err)
	}
	return exec(
		// CREATE DATABASE ... TEMPLATE and RENAME both fail while anyone is
		// connected, so keep sessions out and end any that Up left open.
		"ALTER DATABASE "+q(scratch)+" WITH ALLOW_CONNECTIONS false",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "+pq.QuoteLiteral(scratch),
		// Marking it a template first and renaming last makes the final step atomic.
		"ALTER DATABASE "+q(scratch)+" WITH IS_TEMPLATE true",
		"ALTER DATABASE "+q(scratch)+" RENAME TO "+q(name),
	)
}

// createFrom creates database name as a copy of tpl, retrying briefly while
// PostgreSQL reports the template "is being accessed by other users".
func createFrom(ctx context.Context, db *sql.DB, name, tpl string) error {
	stmt := "CREATE DATABASE " + pq.QuoteIdentifier(name) + " TEMPLATE " + pq.QuoteIdentifier(tpl)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || pq.As(err, pqerror.ObjectInUse) == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newName returns a unique database name that shows which test it belongs
// to: "t_" + the lower-cased test name (at most 40 bytes) + "_" + random hex.
func newName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	underscore := true
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 42 {
			break
		}
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	if !underscore {
		b.WriteByte('_')
	}
	var random [6]byte
	rand.Read(random[:])
	b.WriteString(hex.EncodeToString(random[:]))
	return b.String()
}

// maxName truncates s to PostgreSQL's 63-byte identifier limit, which the
// server would otherwise apply silently, making lookups by the long name fail.
func maxName(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// Replica starts a streaming replica of the test server for t, stopped when t ends, and
// returns how to reach a database of the server (by its URL from New) on the replica.
// Replay follows the server within milliseconds; tests that need it behind pause it
// with pg_wal_replay_pause().
func Replica(t testing.TB) (onReplica func(dbURL string) string, srv *localpg.Server) {
	t.Helper()
	if server == nil {
		t.Fatal("pgtest: no server (call pgtest.Main from TestMain)")
	}
	port, err := strconv.Atoi(server.Port())
	if err != nil {
		t.Fatalf("pgtest: server port: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A slot of its own, so that the busy test server keeps the log the copy and the
	// replica still need.
	slot := "replica_" + randomHex(8)
	if _, err := admin().ExecContext(ctx, "SELECT pg_create_physical_replication_slot($1, true)", slot); err != nil {
		t.Fatalf("pgtest: replication slot: %v", err)
	}
	dropSlot := func() {
		// The server's walsender lets go of the slot a moment after the replica stops.
		for range 50 {
			if _, err := admin().Exec("SELECT pg_drop_replication_slot($1)", slot); err == nil ||
				!strings.Contains(err.Error(), "is active") {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	srv, err = localpg.StartReplica(ctx, port, slot, localpg.Options{Dir: t.TempDir(), Fast: true})
	if err != nil {
		dropSlot()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Stop()
		dropSlot()
	})
	return func(dbURL string) string {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		r, _ := url.Parse(srv.URL("postgres"))
		u.Host = r.Host
		return u.String()
	}, srv
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
