// Package pgcluster starts, on this machine and on 127.0.0.1 only, a PostgreSQL topology
// under pg_auto_failover for failover, routing and load tests: a monitor, a primary, a
// secondary that the monitor promotes when the primary fails, a read replica that is never
// promoted (a commit waits until either standby has it), and PgBouncer in transaction
// pooling mode in front of the writable node. Every process is ours, run in a process group of its own, and Stop
// ends them. It needs pg_autoctl and pgbouncer (.ci/install-cluster installs them) besides
// PostgreSQL's server binaries. Its tests take minutes and build with the opstest tag:
//
//	go test -tags opstest -count=1 -timeout 10m ./internal/pgcluster/...
//
// How the pooler follows a failover: PgBouncer's [databases] entry names the writable
// node, and a watcher goroutine polls the monitor's pgautofailover.node every 100ms; when
// another node has become writable it rewrites the entry and sends SIGHUP (RELOAD), which
// makes PgBouncer replace the pool's server connections. One pooler keeps
// max_db_connections a true bound on the primary, which a pooler per node behind a
// multi-host URL would not, and pg_auto_failover 2.0 has no hook to run on promotion.
package pgcluster

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
	"sync"
	"syscall"
	"time"

	_ "github.com/lib/pq" // monitor and readiness queries

	"inkwell/internal/localpg"
)

// Logger receives progress messages; *testing.T satisfies it. When it also has
// Cleanup (testing.TB does), Start registers Stop there.
type Logger interface {
	Logf(format string, args ...any)
}

// Node names a data node. The names are fixed; which of Node1 and Node2 is the primary
// changes with failovers (WaitPrimary tells).
type Node string

const (
	Node1   Node = "node1"   // the first primary
	Node2   Node = "node2"   // a standby in the replication quorum, the failover candidate
	Replica Node = "replica" // in the quorum too, candidate priority 0: never promoted
)

// DBName is the application database, created on the first primary.
const DBName = "inkwell"

// Options configures Start.
type Options struct {
	// Dir holds the cluster's data, configuration and logs (one <name>.log per process).
	// "" creates a temporary folder that Stop removes; a given Dir is kept.
	Dir string
	// PoolSize is the number of server connections PgBouncer opens to the primary, at
	// most (default_pool_size and max_db_connections); 0 means 20.
	PoolSize int
	// MaxClients is PgBouncer's max_client_conn; 0 means 1000.
	MaxClients int
	// StatementTimeout, when set, is the statement_timeout of PgBouncer's server
	// connections (connect_query): clients cannot send it, as PgBouncer refuses the
	// startup parameter (app.PoolURL).
	StatementTimeout time.Duration
}

// Cluster is a running topology started by Start.
type Cluster struct {
	log       Logger
	dir       string
	removeDir bool
	tools     tools
	cred      *syscall.Credential
	env       []string

	monitorPort int
	monitorProc *proc
	monitorDB   *sql.DB
	nodes       map[Node]*dataNode

	pooler *pooler

	stopOnce sync.Once
	stopErr  error
}

type dataNode struct {
	name   Node
	port   int
	pgdata string
	proc   *proc
}

type tools struct {
	bin     string // PostgreSQL's server binaries
	autoctl string
	bouncer string
}

const (
	formation = "default"
	// How long setup steps may take on a slow machine; pg_basebackup of a fresh
	// cluster and the monitor's state machine take seconds each.
	stepTimeout = 90 * time.Second
)

// Start starts the monitor, the three data nodes and PgBouncer, and returns once the
// primary is "primary", both standbys "secondary" and the pooler accepts connections.
// On error everything started so far is stopped.
func Start(ctx context.Context, log Logger, opts Options) (_ *Cluster, err error) {
	if log == nil {
		log = discard{}
	}
	t, err := findTools()
	if err != nil {
		return nil, err
	}
	cred, err := localpg.ServerUser()
	if err != nil {
		return nil, err
	}
	c := &Cluster{log: log, tools: t, cred: cred, nodes: map[Node]*dataNode{}}
	if opts.Dir == "" {
		if c.dir, err = os.MkdirTemp("", "pgcluster-"); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		c.removeDir = true
	} else {
		if c.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(c.dir, 0o700); err != nil {
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	if cred != nil {
		if err := localpg.GrantAccess(c.dir, cred); err != nil {
			return nil, err
		}
	}
	if cl, ok := log.(interface{ Cleanup(func()) }); ok {
		cl.Cleanup(func() {
			if err := c.Stop(); err != nil {
				log.Logf("pgcluster: stop: %v", err)
			}
		})
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
			if !c.removeDir {
				err = fmt.Errorf("%w (logs in %s)", err, c.dir)
			}
		}
	}()
	c.env = c.environ()
	began := time.Now()

	if err := c.startMonitor(ctx); err != nil {
		return nil, err
	}
	// Ports and folders first, so the standbys can start side by side below without
	// writing to c.nodes.
	for _, name := range []Node{Node1, Node2, Replica} {
		n := &dataNode{name: name, pgdata: filepath.Join(c.dir, string(name))}
		if n.port, err = localpg.FreePort(); err != nil {
			return nil, err
		}
		c.nodes[name] = n
	}
	if err := c.startNode(ctx, Node1, 50, true); err != nil {
		return nil, err
	}
	// The standbys join at once: each clones the primary on its own, and the monitor
	// orders their admission; that saves one standby's setup (several seconds).
	var wg sync.WaitGroup
	var errs [2]error
	wg.Go(func() { errs[0] = c.startNode(ctx, Node2, 50, true) })
	wg.Go(func() { errs[1] = c.startNode(ctx, Replica, 0, true) })
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	if err := c.waitStates(ctx, map[Node]string{Node1: "primary", Node2: "secondary", Replica: "secondary"}); err != nil {
		return nil, err
	}
	if err := c.requireStandby(ctx); err != nil {
		return nil, err
	}
	if err := c.startPooler(ctx, opts, Node1); err != nil {
		return nil, err
	}
	log.Logf("pgcluster: started in %s (monitor :%d, node1 :%d, node2 :%d, replica :%d, pgbouncer :%d) in %s",
		time.Since(began).Round(100*time.Millisecond), c.monitorPort, c.nodes[Node1].port, c.nodes[Node2].port,
		c.nodes[Replica].port, c.pooler.port, c.dir)
	return c, nil
}

type discard struct{}

func (discard) Logf(string, ...any) {}

// findTools locates pg_autoctl and pgbouncer: $PG_AUTOCTL and $PGBOUNCER, else
// Debian's locations, else PATH, as .ci/install-cluster does.
func findTools() (tools, error) {
	bin, err := localpg.FindBinDir()
	if err != nil {
		return tools{}, err
	}
	t := tools{bin: bin}
	var missing []string
	if t.autoctl = findTool("PG_AUTOCTL", "pg_autoctl", "/usr/bin/pg_autoctl"); t.autoctl == "" {
		missing = append(missing, "pg_autoctl")
	}
	if t.bouncer = findTool("PGBOUNCER", "pgbouncer", "/usr/sbin/pgbouncer"); t.bouncer == "" {
		missing = append(missing, "pgbouncer")
	}
	if len(missing) > 0 {
		return tools{}, fmt.Errorf("pgcluster: %s not found: run .ci/install-cluster "+
			"(Debian/Ubuntu: apt-get install postgresql-15-auto-failover pgbouncer) or set PG_AUTOCTL and PGBOUNCER",
			strings.Join(missing, " and "))
	}
	return t, nil
}

func findTool(env, name, debian string) string {
	if p := os.Getenv(env); p != "" {
		return p // a wrong path fails loudly when it is run
	}
	if fi, err := os.Stat(debian); err == nil && fi.Mode().IsRegular() {
		return debian
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// environ is the environment of pg_autoctl: its configuration and state files go under
// the cluster folder (pg_autoctl keeps them in XDG folders, normally the user's home),
// and no PG* variables of ours leak into it.
func (c *Cluster) environ() []string {
	env := []string{
		"HOME=" + c.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(c.dir, "config"),
		"XDG_DATA_HOME=" + filepath.Join(c.dir, "share"),
		"XDG_RUNTIME_DIR=" + filepath.Join(c.dir, "run"),
		"PG_CONFIG=" + filepath.Join(c.tools.bin, "pg_config"),
		"PATH=" + c.tools.bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"LANG=C.UTF-8",
	}
	return env
}

// monitorURL is how keepers and we reach the monitor's database.
func (c *Cluster) monitorURL(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/pg_auto_failover?sslmode=disable", user, c.monitorPort)
}

// Monitor settings, applied with ALTER SYSTEM before any data node registers. The
// defaults (health check every 5s, a node unhealthy after 20s without a report, 30s for
// an unreachable primary to demote itself) promoted the secondary about 34s after the
// primary died; on loopback, where a check of a dead server fails at once, they can be
// far shorter. What is left of a failover is mostly keeper rounds (a keeper acts about
// once a second) and the candidate's restarts of postgres.
var monitorSettings = map[string]string{
	// Check every node each second; a refused connection fails immediately on
	// loopback, so the 1s connect timeout only matters for a hung server.
	"pgautofailover.health_check_period":  "1000",
	"pgautofailover.health_check_timeout": "1000",
	// One retry 500ms later rides out a blip without costing the default 5s+2x2s.
	"pgautofailover.health_check_max_retries": "1",
	"pgautofailover.health_check_retry_delay": "500",
	// A node counts as failed only when its keeper has not reported for this long as
	// well as failing the health check. Keepers report every second, so 2s is two
	// missed reports; a live keeper on a busy machine still passes the health check,
	// which alone never triggers a failover. (A keeper that reports its postgres as not
	// running triggers one at once whatever this says.)
	"pgautofailover.node_considered_unhealthy_timeout": "2000",
	// How long the monitor waits for an unreachable primary to have demoted itself
	// before the secondary may take writes. The old primary's keeper demotes it after
	// timeout.network_partition_timeout (1s, below) without monitor or standby, checked
	// each keeper round (1s), then stops postgres (well under a second here): 3s covers
	// that. Acknowledged writes do not depend on it: a primary cut off from both
	// standbys cannot acknowledge any (requireStandby); it keeps stale reads short.
	"pgautofailover.primary_demote_timeout": "3000",
	// The monitor ignores failed health checks for this long after it starts; our
	// nodes register after the monitor is up, so the default 10s only delays tests.
	"pgautofailover.startup_grace_period": "2000",
}

// Keeper settings (pg_autoctl config set, seconds), the same on every data node.
var keeperSettings = map[string]string{
	// A primary that reaches neither the monitor nor any standby for this long demotes
	// itself; primary_demote_timeout above must stay well above it.
	"timeout.network_partition_timeout": "1",
	// How long a candidate waits for its WAL receiver to stop before promoting. With
	// the primary dead the receiver is already failing; waiting 5s gains nothing.
	"timeout.prepare_promotion_walreceiver": "1",
	// Upper bound for a candidate to replay what it received; a synchronous standby is
	// caught up, so this is only a ceiling.
	"timeout.prepare_promotion_catchup": "10",
	// How long the keeper keeps restarting a postgres that fails to start before it
	// gives up on it; the default 20s would hold a failover back when postgres cannot
	// come back.
	"timeout.postgresql_restart_failure_timeout":     "3",
	"timeout.postgresql_restart_failure_max_retries": "2",
}

// requireStandby checks that every commit waits for a standby, even when none is left.
//
// With number_sync_standbys 0, pg_auto_failover's default while the quorum has one
// standby, a primary whose quorum standbys all look unhealthy is sent to wait_primary,
// which turns synchronous replication off. pg_auto_failover 2.0 (and every release up to
// 2.2) also counts the candidate of a failover in progress as lost once it leaves the
// secondary state. So when a primary's postgres crashed and its keeper restarted it
// while the monitor was promoting node2, it came back as wait_primary, acknowledged
// writes no standby had, and the promotion lost them (TestFailover, "postgres killed",
// caught it in CI while the replica was outside the quorum). With 1 the primary is never
// sent to wait_primary: its commits wait until a standby has them. pg_auto_failover sets
// 1 by itself once a second standby in the quorum joins, which is why the replica is in
// it (candidate priority 0 still: never promoted); a commit then waits for whichever
// standby confirms first, and a failover waits for both standbys' positions.
func (c *Cluster) requireStandby(ctx context.Context) error {
	var n int
	if err := c.monitorDB.QueryRowContext(ctx,
		"SELECT number_sync_standbys FROM pgautofailover.formation WHERE formationid = $1", formation).Scan(&n); err != nil {
		return fmt.Errorf("pgcluster: number_sync_standbys: %w", err)
	}
	if n != 1 {
		return fmt.Errorf("pgcluster: the monitor's number_sync_standbys is %d with both standbys in the quorum, want 1", n)
	}
	return nil
}

func (c *Cluster) startMonitor(ctx context.Context) error {
	pgdata := filepath.Join(c.dir, "monitor")
	var err error
	if c.monitorPort, err = localpg.FreePort(); err != nil {
		return err
	}
	if err := c.autoctl(ctx, "monitor-create", "create", "monitor", "--pgdata", pgdata,
		"--pgport", strconv.Itoa(c.monitorPort), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
		"--auth", "trust", "--no-ssl", "--pgctl", filepath.Join(c.tools.bin, "pg_ctl")); err != nil {
		return err
	}
	if c.monitorProc, err = c.spawn("monitor", c.tools.autoctl, "run", "--pgdata", pgdata); err != nil {
		return err
	}
	if c.monitorDB, err = sql.Open("postgres", c.monitorURL("postgres")+"&connect_timeout=2"); err != nil {
		return err
	}
	c.monitorDB.SetMaxOpenConns(4)
	c.monitorDB.SetConnMaxIdleTime(10 * time.Second)
	if err := c.waitSQL(ctx, c.monitorProc, c.monitorDB, "SELECT 1 FROM pgautofailover.formation LIMIT 1"); err != nil {
		return fmt.Errorf("pgcluster: monitor: %w", err)
	}
	for k, v := range monitorSettings {
		if _, err := c.monitorDB.ExecContext(ctx, fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", k, v)); err != nil {
			return fmt.Errorf("pgcluster: monitor: %s: %w", k, err)
		}
	}
	if _, err := c.monitorDB.ExecContext(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("pgcluster: monitor: %w", err)
	}
	return nil
}

func (c *Cluster) startNode(ctx context.Context, name Node, priority int, quorum bool) error {
	n := c.nodes[name]
	var err error
	if err := c.autoctl(ctx, string(name)+"-create", "create", "postgres", "--pgdata", n.pgdata,
		"--pgport", strconv.Itoa(n.port), "--hostname", "127.0.0.1", "--listen", "127.0.0.1",
		"--name", string(name), "--dbname", DBName, "--monitor", c.monitorURL("autoctl_node"),
		"--auth", "trust", "--no-ssl", "--pgctl", filepath.Join(c.tools.bin, "pg_ctl"),
		"--candidate-priority", strconv.Itoa(priority), "--replication-quorum", strconv.FormatBool(quorum)); err != nil {
		return err
	}
	for k, v := range keeperSettings {
		if err := c.autoctl(ctx, string(name)+"-config", "config", "set", "--pgdata", n.pgdata, k, v); err != nil {
			return err
		}
	}
	if n.proc, err = c.spawn(string(name), c.tools.autoctl, "run", "--pgdata", n.pgdata); err != nil {
		return err
	}
	db, err := sql.Open("postgres", c.DirectURL(name)+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer db.Close()
	if err := c.waitSQL(ctx, n.proc, db, "SELECT 1"); err != nil {
		return fmt.Errorf("pgcluster: %s: %w", name, err)
	}
	want := "secondary"
	if name == Node1 {
		want = "single" // "primary" once a standby has joined
	}
	// A standby started later clones the primary; it must be replicating by then.
	return c.waitStates(ctx, map[Node]string{name: want})
}

// waitSQL waits until query succeeds on db, failing early if p exits.
func (c *Cluster) waitSQL(ctx context.Context, p *proc, db *sql.DB, query string) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	for {
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := db.ExecContext(qctx, query)
		qcancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %w; see %s", p.name, p.waitErr, p.logPath)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// nodeState is one row of the monitor's pgautofailover.node.
type nodeState struct {
	name      Node
	reported  string
	goal      string
	pgRunning bool
}

func (c *Cluster) states(ctx context.Context) ([]nodeState, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rows, err := c.monitorDB.QueryContext(ctx, `SELECT nodename, reportedstate::text, goalstate::text,
		coalesce(reportedpgisrunning, false) FROM pgautofailover.node WHERE formationid = $1 ORDER BY nodeid`, formation)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []nodeState
	for rows.Next() {
		var s nodeState
		if err := rows.Scan(&s.name, &s.reported, &s.goal, &s.pgRunning); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// waitStates waits until each named node has reached (reported) the given state and the
// monitor wants it there (goal), i.e. the state machine has settled for them.
func (c *Cluster) waitStates(ctx context.Context, want map[Node]string) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	var last []nodeState
	lastErr := errors.New("none")
	for {
		st, err := c.states(ctx)
		if err == nil {
			last = st
			ok := 0
			for _, s := range st {
				if w, in := want[s.name]; in && s.reported == w && s.goal == w {
					ok++
				}
			}
			if ok == len(want) {
				return nil
			}
		} else {
			lastErr = err
		}
		for name := range want {
			if n := c.nodes[name]; n != nil && n.proc != nil && n.proc.exited() {
				return fmt.Errorf("pgcluster: %s exited: %w; see %s", name, n.proc.waitErr, n.proc.logPath)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: waiting for states %v: %w (monitor says %v; last error: %w)", want, ctx.Err(), last, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writable is the set of states in which a node takes writes.
func writable(state string) bool {
	switch state {
	case "single", "wait_primary", "primary", "join_primary", "apply_settings":
		return true
	}
	return false
}

// WaitPrimary waits until the monitor has settled on a writable node, one whose
// reported and goal states agree on a primary state, and returns it. Right after a
// failure the monitor may still name the old primary for a second or two, until its
// health checks or the node's keeper tell it.
func (c *Cluster) WaitPrimary(ctx context.Context) (Node, error) {
	var lastErr error
	for {
		st, err := c.states(ctx)
		if err == nil {
			for _, s := range st {
				if s.reported == s.goal && writable(s.reported) {
					return s.name, nil
				}
			}
			lastErr = fmt.Errorf("no primary yet: %v", st)
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("pgcluster: waiting for a primary: %w (%w)", ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// States returns the monitor's view, "node1=primary node2=secondary ...", for logs;
// a state in transition reads reported>goal.
func (c *Cluster) States(ctx context.Context) string {
	st, err := c.states(ctx)
	if err != nil {
		return "monitor: " + err.Error()
	}
	var b strings.Builder
	for i, s := range st {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", s.name, s.reported)
		if s.goal != s.reported {
			fmt.Fprintf(&b, ">%s", s.goal)
		}
	}
	return b.String()
}

// Events returns the monitor's events since t, one line each ("15:04:05.000 node2
// prepare_promotion>stop_replication: ..."), to tell where a failover spent its time.
func (c *Cluster) Events(ctx context.Context, since time.Time) ([]string, error) {
	rows, err := c.monitorDB.QueryContext(ctx, `SELECT eventtime, nodename, reportedstate::text, goalstate::text, description
		FROM pgautofailover.event WHERE formationid = $1 AND eventtime >= $2 ORDER BY eventid`, formation, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var at time.Time
		var node, reported, goal, desc string
		if err := rows.Scan(&at, &node, &reported, &goal, &desc); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprintf("%s %s %s>%s: %s", at.Format("15:04:05.000"), node, reported, goal, desc))
	}
	return out, rows.Err()
}

// PrimaryURL is a key/value connection string over Node1 and Node2 with
// target_session_attrs=read-write: lib/pq tries them in order and keeps the one that
// takes writes, so it follows a failover on reconnect. (lib/pq's URL form takes several
// hosts only as postgres://h1,h2/db?port=p1,p2; key/value is the form libpq and lib/pq
// read alike.) The replica is left out: it never becomes writable.
func (c *Cluster) PrimaryURL() string {
	return fmt.Sprintf("host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=%s sslmode=disable "+
		"target_session_attrs=read-write connect_timeout=2", c.nodes[Node1].port, c.nodes[Node2].port, DBName)
}

// PoolerURL is PgBouncer's address for the inkwell database.
func (c *Cluster) PoolerURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=5", c.pooler.port, DBName)
}

// ReplicaURL is the read replica's address.
func (c *Cluster) ReplicaURL() string { return c.DirectURL(Replica) }

// DirectURL is node's own address, whatever its role.
func (c *Cluster) DirectURL(node Node) string {
	n := c.nodes[node]
	if n == nil {
		return ""
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", n.port, DBName)
}

// MonitorURL is the monitor's database, for queries on pgautofailover.node.
func (c *Cluster) MonitorURL() string { return c.monitorURL("postgres") }

// Dir is the cluster's folder; each process logs to Dir/<name>.log.
func (c *Cluster) Dir() string { return c.dir }

// Kill SIGKILLs the PostgreSQL server of node, the postmaster and its backends, as a
// crash would; the node's keeper sees it gone and restarts it.
func (c *Cluster) Kill(node Node) error {
	n := c.nodes[node]
	if n == nil {
		return fmt.Errorf("pgcluster: no node %q", node)
	}
	pid, err := postmasterPID(n.pgdata)
	if err != nil {
		return fmt.Errorf("pgcluster: %s: %w", node, err)
	}
	// Backends run in process groups of their own, so find them by parent.
	children := childPIDs(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("pgcluster: killing %s's postgres (PID %d): %w", node, pid, err)
	}
	for _, ch := range children {
		_ = syscall.Kill(ch, syscall.SIGKILL) // may have exited already
	}
	return nil
}

// KillNode SIGKILLs node's keeper (pg_autoctl run and its services) and its PostgreSQL
// server together, as if the machine had gone: nothing restarts them.
func (c *Cluster) KillNode(node Node) error {
	n := c.nodes[node]
	if n == nil {
		return fmt.Errorf("pgcluster: no node %q", node)
	}
	pid, _ := postmasterPID(n.pgdata)
	var backends []int
	if pid > 0 {
		backends = childPIDs(pid)
	}
	n.proc.kill() // the process group: the keeper, its services and the postmaster
	for _, ch := range backends {
		_ = syscall.Kill(ch, syscall.SIGKILL)
	}
	<-n.proc.done
	return nil
}

// StopReplica stops the read replica (fast shutdown through its keeper), as a
// planned outage of it.
func (c *Cluster) StopReplica() error {
	return c.nodes[Replica].proc.stop(30 * time.Second)
}

// StartReplica starts the read replica's keeper again after StopReplica and waits until
// the monitor has it back as a secondary. The replica is in the replication quorum, so a
// failover waits for its position while it is down (requireStandby).
func (c *Cluster) StartReplica(ctx context.Context) error {
	n := c.nodes[Replica]
	if !n.proc.exited() {
		return errors.New("pgcluster: the replica's keeper is running")
	}
	p, err := c.spawn(string(Replica), c.tools.autoctl, "run", "--pgdata", n.pgdata)
	if err != nil {
		return err
	}
	n.proc = p
	return c.waitStates(ctx, map[Node]string{Replica: "secondary"})
}

// Stop stops PgBouncer, the data nodes and the monitor, each by its process group:
// SIGINT (pg_autoctl's fast shutdown) first, SIGKILL after 30s. It removes the folder
// if Start created it. Safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var errs []error
	if c.pooler != nil {
		errs = append(errs, c.pooler.stop())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range c.nodes {
		if n.proc == nil {
			continue
		}
		wg.Go(func() {
			err := n.proc.stop(30 * time.Second)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	if c.monitorDB != nil {
		_ = c.monitorDB.Close()
	}
	if c.monitorProc != nil {
		errs = append(errs, c.monitorProc.stop(30*time.Second))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c.removeDir {
		return os.RemoveAll(c.dir)
	}
	return nil
}

// postmasterPID reads the PID from pgdata/postmaster.pid.
func postmasterPID(pgdata string) (int, error) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad postmaster.pid: %q", line)
	}
	return pid, nil
}

// LogTails is the end, n lines, of each process log in dir (a Cluster's Dir), one block
// per log: for a failed test's output.
func LogTails(dir string, n int) string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var b strings.Builder
	for _, l := range logs {
		content, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(content), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&b, "--- %s (end)\n%s\n", filepath.Base(l), strings.Join(lines, "\n"))
	}
	return b.String()
}
