package pgcluster

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"inkwell/internal/localpg"
)

// pooler is PgBouncer and the watcher that keeps it pointed at the writable node.
type pooler struct {
	c        *Cluster
	port     int
	poolSize int
	ini      string
	proc     *proc

	mu     sync.Mutex
	target Node

	cancel context.CancelFunc
	done   chan struct{} // closed when the watcher has returned
}

// How often the watcher asks the monitor which node is writable. A query on a handful
// of rows every 100ms costs the monitor nothing and adds at most 100ms to a failover.
const watchPeriod = 100 * time.Millisecond

func (c *Cluster) startPooler(ctx context.Context, opts Options, target Node) error {
	p := &pooler{c: c, poolSize: opts.PoolSize, ini: filepath.Join(c.dir, "pgbouncer.ini"), target: target}
	if p.poolSize <= 0 {
		p.poolSize = 20
	}
	maxClients := opts.MaxClients
	if maxClients <= 0 {
		maxClients = 1000
	}
	var err error
	if p.port, err = localpg.FreePort(); err != nil {
		return err
	}
	// trust still needs the user listed.
	if err := c.writeFile("userlist.txt", `"postgres" ""`+"\n"); err != nil {
		return err
	}
	if err := p.writeIni(target, maxClients); err != nil {
		return err
	}
	if p.proc, err = c.spawn("pgbouncer", c.tools.bouncer, p.ini); err != nil {
		return err
	}
	p.proc.stopSig = syscall.SIGTERM // SIGINT would wait for clients to leave
	c.pooler = p
	db, err := sql.Open("postgres", c.PoolerURL())
	if err != nil {
		return err
	}
	defer db.Close()
	if err := c.waitSQL(ctx, p.proc, db, "SELECT 1"); err != nil {
		return fmt.Errorf("pgcluster: pgbouncer: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go p.watch(wctx, maxClients)
	return nil
}

// writeIni writes pgbouncer.ini with [databases] pointing at node.
func (p *pooler) writeIni(node Node, maxClients int) error {
	conf := fmt.Sprintf(`; Written by inkwell/internal/pgcluster; the watcher rewrites the host on failover.
[databases]
%[1]s = host=127.0.0.1 port=%[2]d dbname=%[1]s user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %[3]d
unix_socket_dir =
auth_type = trust
auth_file = %[4]s
admin_users = postgres
pidfile = %[5]s
pool_mode = transaction
; The bound the pooler exists for: at most this many server connections to the primary.
default_pool_size = %[6]d
max_db_connections = %[6]d
reserve_pool_size = 0
max_client_conn = %[7]d
; Defaults are 15s and 120s: after a failed connect to a dead primary PgBouncer would
; refuse clients for 15s, even once RELOAD names the new one.
server_login_retry = 1
server_connect_timeout = 2
; A client waits this long for a server connection, e.g. while the primary is down,
; then gets an error instead of hanging.
query_wait_timeout = 10
; Inkwell sends statement_timeout (INKWELL_STATEMENT_TIMEOUT) as a startup parameter,
; which PgBouncer refuses unless told to ignore it; a pooled server connection serves
; many clients, so the timeout belongs on the role or database instead.
ignore_startup_parameters = statement_timeout
log_connections = 0
log_disconnections = 0
`, DBName, p.c.nodes[node].port, p.port, filepath.Join(p.c.dir, "userlist.txt"),
		filepath.Join(p.c.dir, "pgbouncer.pid"), p.poolSize, maxClients)
	return p.c.writeFile("pgbouncer.ini", conf)
}

// writeFile replaces dir/name atomically (a reload never reads half a file), readable by
// the server user.
func (c *Cluster) writeFile(name, content string) error {
	path := filepath.Join(c.dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(tmp, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// watch follows the monitor: when exactly one node is writable (reported and goal state
// both primary-like) and it is not the one PgBouncer points at, it repoints PgBouncer.
// Until then PgBouncer keeps the old host, whose connections fail, and clients get errors.
func (p *pooler) watch(ctx context.Context, maxClients int) {
	defer close(p.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchPeriod):
		}
		st, err := p.c.states(ctx)
		if err != nil {
			continue // the monitor being briefly unreachable changes nothing
		}
		var found []Node
		for _, s := range st {
			if writable(s.reported) && writable(s.goal) && s.name != Replica {
				found = append(found, s.name)
			}
		}
		if len(found) != 1 || found[0] == p.Target() {
			continue
		}
		if err := p.repoint(found[0], maxClients); err != nil {
			p.c.log.Logf("pgcluster: repointing pgbouncer at %s: %v", found[0], err)
		}
	}
}

// repoint rewrites the [databases] entry and has PgBouncer reload it; a changed host
// makes PgBouncer close the pool's server connections to the old one.
func (p *pooler) repoint(node Node, maxClients int) error {
	if err := p.writeIni(node, maxClients); err != nil {
		return err
	}
	if err := p.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	p.mu.Lock()
	old := p.target
	p.target = node
	p.mu.Unlock()
	p.c.log.Logf("pgcluster: pgbouncer now points at %s (was %s)", node, old)
	return nil
}

// Target is the node PgBouncer forwards to.
func (p *pooler) Target() Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.target
}

func (p *pooler) stop() error {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
	return p.proc.stop(10 * time.Second)
}

// PoolerTarget is the node PgBouncer currently forwards to.
func (c *Cluster) PoolerTarget() Node { return c.pooler.Target() }

// PoolSize is PgBouncer's bound on server connections to the primary.
func (c *Cluster) PoolSize() int { return c.pooler.poolSize }
