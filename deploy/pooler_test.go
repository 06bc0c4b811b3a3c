//go:build opstest

package deploy

import (
	"context"
	"database/sql"
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
	"inkwell/internal/pgcluster"
)

// TestComposeClusterPooler runs pgaf/pooler, the profile "cluster"'s PgBouncer, on
// loopback against internal/pgcluster's pg_auto_failover cluster (no container engine
// here): writes through it reach the primary with the statement_timeout it was given, and
// after a failover the new primary. Run by make cluster-test.
func TestComposeClusterPooler(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, t, pgcluster.Options{Dir: filepath.Join(t.TempDir(), "cluster")})
	if err != nil {
		t.Fatal(err)
	}
	port, err := localpg.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pooler")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// PgBouncer refuses to run as root: as root, the script runs as PostgreSQL's user.
	cred, err := localpg.ServerUser()
	if err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := localpg.GrantAccess(dir, cred); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs("pgaf/pooler")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", // Debian puts pgbouncer in /usr/sbin
		"MONITOR_URL=" + strings.Replace(c.MonitorURL(), "postgres@", "autoctl_node@", 1),
		"DBNAME=" + pgcluster.DBName,
		"POOL_SIZE=5",
		"STATEMENT_TIMEOUT_MS=1500",
		"PGBOUNCER_LISTEN=127.0.0.1",
		"PGBOUNCER_PORT=" + strconv.Itoa(port),
		"PGBOUNCER_DIR=" + dir,
	}
	log, err := os.Create(filepath.Join(t.TempDir(), "pooler.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = localpg.SysProcAttr(cred)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM, as docker stop sends: the script stops PgBouncer and exits 0.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pooler exited with %v after SIGTERM, want 0", err)
			}
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("pooler still running 30s after SIGTERM; killed: %v", <-done)
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("pooler's output:\n%s", b)
		}
	})

	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", port, pgcluster.DBName)
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE probe (id int)"); err != nil {
		// PgBouncer may still be starting: the script first waits for a primary.
		time.Sleep(2 * time.Second)
		if _, err := db.ExecContext(ctx, "CREATE TABLE probe (id int)"); err != nil {
			t.Fatal(err)
		}
	}
	var timeout string
	if err := db.QueryRowContext(ctx, "SHOW statement_timeout").Scan(&timeout); err != nil || timeout != "1500ms" {
		t.Errorf("statement_timeout through the pooler = %q, %v; want 1500ms (connect_query)", timeout, err)
	}
	writeLandsOn(ctx, t, c, db, pgcluster.Node1, 10*time.Second)

	monitor, err := sql.Open("postgres", c.MonitorURL())
	if err != nil {
		t.Fatal(err)
	}
	defer monitor.Close()
	if _, err := monitor.ExecContext(ctx, "SELECT pgautofailover.perform_failover()"); err != nil {
		t.Fatal(err)
	}
	// The monitor's failover takes seconds; the script looks each second.
	writeLandsOn(ctx, t, c, db, pgcluster.Node2, 90*time.Second)
}

// writeLandsOn waits until an insert through db succeeds on node, the primary.
func writeLandsOn(ctx context.Context, t *testing.T, c *pgcluster.Cluster, db *sql.DB, node pgcluster.Node, bound time.Duration) {
	t.Helper()
	direct, err := sql.Open("postgres", c.DirectURL(node))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	var want int
	if err := direct.QueryRowContext(ctx, "SELECT inet_server_port()").Scan(&want); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var got int
	var lastErr error
	for time.Since(began) < bound {
		lastErr = db.QueryRowContext(ctx, "INSERT INTO probe VALUES (1) RETURNING inet_server_port()").Scan(&got)
		if lastErr == nil && got == want {
			t.Logf("writes through the pooler land on %s (after %s)", node, time.Since(began).Round(100*time.Millisecond))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no write through the pooler landed on %s (port %d) within %s: last on port %d, error %v; monitor: %s",
		node, want, bound, got, lastErr, c.States(ctx))
}
