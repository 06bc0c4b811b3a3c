package localpg_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/localpg"
)

func TestFindBinDir(t *testing.T) {
	dir, err := localpg.FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"postgres", "initdb"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	t.Setenv("PG_BINDIR", t.TempDir())
	if _, err := localpg.FindBinDir(); err == nil {
		t.Error("FindBinDir accepted a PG_BINDIR without postgres")
	}
}

func start(t *testing.T, dir string) *localpg.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	began := time.Now()
	s, err := localpg.Start(ctx, localpg.Options{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server ready in %v", time.Since(began))
	t.Cleanup(func() { _ = s.Stop() })
	return s
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

func queryString(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func TestStartStopRestart(t *testing.T) {
	dir := t.TempDir()

	s := start(t, dir) // fresh cluster: initdb + start
	db := open(t, s.URL("postgres"))
	if _, err := db.Exec(`CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')`); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"SHOW listen_addresses":        "127.0.0.1",
		"SHOW unix_socket_directories": "",
		"SHOW max_connections":         "200",
		"SHOW fsync":                   "off",
		"SHOW server_encoding":         "UTF8",
		"SELECT current_user":          "postgres",
	} {
		if got := queryString(t, db, q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
	db.Close()

	// A second server on the same data folder must be refused clearly, naming the process
	// that holds it; a second process can share it instead.
	_, err := localpg.Start(t.Context(), localpg.Options{Dir: dir})
	var running *localpg.RunningError
	if !errors.As(err, &running) || !strings.Contains(err.Error(), "already running") ||
		!strings.Contains(running.Holder, fmt.Sprintf("(PID %d)", os.Getpid())) {
		t.Errorf("second Start on a live data dir: err = %v, want 'already running' naming this process", err)
	}
	attached, err := localpg.Attach(t.Context(), dir, "postgres")
	if err != nil || attached != s.URL("postgres") {
		t.Fatalf("Attach = %q, %v; want %q", attached, err, s.URL("postgres"))
	}
	if got := queryString(t, open(t, attached), "SELECT v FROM kept"); got != "hello" {
		t.Errorf("attached to the wrong server: got %q", got)
	}

	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	stalePid, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := open(t, s.URL("postgres")).Ping(); err == nil {
		t.Fatal("server still answers after Stop")
	}

	// Restart after a "crash": the old postmaster.pid is back, its PID dead.
	writeLike(t, pidFile, stalePid)
	s = start(t, dir)
	if got := queryString(t, open(t, s.URL("postgres")), "SELECT v FROM kept"); got != "hello" {
		t.Errorf("data did not persist: got %q", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	// The stale postmaster.pid names a live, unrelated process (a recycled PID).
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	_, rest, _ := strings.Cut(string(stalePid), "\n")
	writeLike(t, pidFile, []byte(strconv.Itoa(sleeper.Process.Pid)+"\n"+rest))
	s = start(t, dir)
	if got := queryString(t, open(t, s.URL("postgres")), "SELECT v FROM kept"); got != "hello" {
		t.Errorf("data did not persist: got %q", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// writeLike writes a file owned like its folder, as postgres would have.
func writeLike(t *testing.T, path string, b []byte) {
	t.Helper()
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

func TestFixedPortInUse(t *testing.T) {
	s := start(t, t.TempDir())
	port := strings.TrimPrefix(strings.Split(s.URL("x"), "/")[2], "postgres@127.0.0.1:")
	p, _ := strconv.Atoi(port)
	_, err := localpg.Start(t.Context(), localpg.Options{Dir: t.TempDir(), Port: p, Fast: true})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("Start on a busy port: err = %v, want 'already in use'", err)
	}
	t.Logf("as expected: %v", err)
}

func TestSettingsOverrideDefaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := localpg.Start(ctx, localpg.Options{Dir: t.TempDir(), Fast: true, Settings: map[string]string{
		"shared_buffers":   "32MB",
		"random_page_cost": "1.1",
		"max_connections":  "50",
		"fsync":            "on",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	db := open(t, s.URL("postgres"))
	for q, want := range map[string]string{
		"SHOW shared_buffers":          "32MB",
		"SHOW random_page_cost":        "1.1",
		"SHOW max_connections":         "50",
		"SHOW fsync":                   "on",
		"SHOW full_page_writes":        "off",
		"SHOW unix_socket_directories": "",
	} {
		if got := queryString(t, db, q); got != want {
			t.Errorf("%s = %q, want %q", q, got, want)
		}
	}
}

// Two servers handed one port would answer as one: FreePort never repeats itself, even
// when the kernel offers a port it offered before.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 1000 {
		port, err := localpg.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[port] {
			t.Fatalf("FreePort returned %d twice", port)
		}
		seen[port] = true
	}
}
