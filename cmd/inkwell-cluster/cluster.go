package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"inkwell/deploy"
	"inkwell/internal/localnginx"
	"inkwell/internal/localpg"
	"inkwell/internal/pgcluster"
)

type options struct {
	inkwell string // the inkwell binary
	addr    string // nginx's listen address
	demo    bool   // load the demo data
}

// statementTimeout is INKWELL_STATEMENT_TIMEOUT's default. PgBouncer sets it on its
// server connections, since the instances cannot send it through the pooler
// (app.PoolURL), and the instances are told the same value so that they do not warn.
const statementTimeout = 5 * time.Second

// readyTimeout bounds an instance's start: the first migrates the database and loads the
// demo data, on a machine that may be busy.
const readyTimeout = 3 * time.Minute

// run starts the topology, prints where everything is, waits for ctx to end, then stops
// everything in the reverse order and removes the folder.
func run(ctx context.Context, o options, stdout, stderr *os.File) (err error) {
	log := logger{stderr}
	began := time.Now()
	bin, err := filepath.Abs(o.inkwell)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return fmt.Errorf("no inkwell binary at %s: run make build, or pass -inkwell", bin)
	}
	// nginx's address is settled first: the instances' public URL (sign-in redirects,
	// asset URLs) is nginx's, and a taken port is better reported before a minute of
	// starting.
	proxyAddr, err := proxyAddress(o.addr)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "inkwell-cluster-")
	if err != nil {
		return err
	}
	var stops []func() error // in the order things started
	defer func() {
		log.Logf("stopping")
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		errs = append(errs, os.RemoveAll(dir))
		if serr := errors.Join(errs...); serr != nil {
			err = errors.Join(err, serr)
			log.Logf("stopped, with errors: %v", serr)
			return
		}
		log.Logf("stopped everything; removed %s", dir)
	}()

	log.Logf("starting the PostgreSQL cluster in %s (about a minute)", dir)
	c, err := pgcluster.Start(ctx, log, pgcluster.Options{Dir: filepath.Join(dir, "pg"), StatementTimeout: statementTimeout})
	if err != nil {
		return err
	}
	stops = append(stops, c.Stop)

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	env := []string{
		"DATABASE_URL=" + c.PoolerURL(),
		"DATABASE_DIRECT_URL=" + c.PrimaryURL(),
		"DATABASE_REPLICA_URLS=" + c.ReplicaURL(),
		// PgBouncer 1.18 keeps no prepared statements across transactions.
		"INKWELL_DB_PREPARED_STATEMENTS=0",
		"INKWELL_STATEMENT_TIMEOUT=" + statementTimeout.String(),
		// One key, so that a token from one instance is good on the other.
		"INKWELL_SIGNING_KEY=" + hex.EncodeToString(key),
		// One store, so that an image uploaded through one is served by the other.
		"INKWELL_STORAGE_DIR=" + filepath.Join(dir, "uploads"),
		"INKWELL_DEMO_DATA=" + strconv.FormatBool(o.demo),
		"INKWELL_TRUSTED_PROXIES=127.0.0.1",
		"INKWELL_PUBLIC_URL=http://" + proxyAddr,
	}
	var insts []*instance
	for i := 1; i <= 2; i++ {
		inst, err := startInstance(log, bin, dir, i, env)
		if err != nil {
			return err
		}
		stops = append(stops, inst.stop)
		insts = append(insts, inst)
		// One at a time: the first migrates and loads the demo data alone.
		if err := inst.waitReady(ctx, readyTimeout); err != nil {
			return err
		}
		log.Logf("inkwell-%d ready on %s", i, inst.url())
	}
	var upstreams []string
	for _, inst := range insts {
		upstreams = append(upstreams, inst.addr)
	}
	ng, err := localnginx.Start(ctx, localnginx.Options{Dir: filepath.Join(dir, "nginx"), Addr: proxyAddr,
		Upstreams: upstreams, Server: deploy.NginxProxy})
	if err != nil {
		return err
	}
	stops = append(stops, ng.Stop)

	printSummary(stdout, c, ng, insts, dir, o.demo, time.Since(began))
	watch(ctx, log, c, insts)
	return nil
}

// proxyAddress is addr with a free port for port 0, after checking that it can be
// listened on.
func proxyAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("-addr %q: %w", addr, err)
	}
	if port == "0" {
		p, err := localpg.FreePort()
		if err != nil {
			return "", err
		}
		return net.JoinHostPort(host, strconv.Itoa(p)), nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("-addr %s (nginx): %w; is make run using it? Pass another: make cluster CLUSTER_ARGS='-addr 127.0.0.1:8090'", addr, err)
	}
	return addr, ln.Close()
}

// printSummary prints, on standard output, where everything is and how to fail over.
func printSummary(w io.Writer, c *pgcluster.Cluster, ng *localnginx.Nginx, insts []*instance, dir string, demo bool, took time.Duration) {
	fmt.Fprintf(w, "\nInkwell cluster ready in %s. Ctrl-C stops everything and removes %s.\n\n", took.Round(time.Second), dir)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	row := func(name, url, note string) { fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, url, note) }
	row("nginx", ng.URL()+"/", "the API: GraphiQL at /, GraphQL at /graphql")
	for _, inst := range insts {
		row(inst.name, inst.url()+"/", "metrics http://"+inst.metrics+"/metrics")
	}
	row("pooler", c.PoolerURL(), "PgBouncer, transaction mode: DATABASE_URL")
	row("node1", c.DirectURL(pgcluster.Node1), "data node, the first primary")
	row("node2", c.DirectURL(pgcluster.Node2), "data node, the standby promoted on failure")
	row("replica", c.ReplicaURL(), "read replica, never promoted: DATABASE_REPLICA_URLS")
	row("monitor", c.MonitorURL(), "pg_auto_failover monitor")
	row("folder", dir, "data and logs: inkwell-N.log, nginx/, pg/*.log")
	_ = tw.Flush()
	fmt.Fprintf(w, "\nDATABASE_DIRECT_URL, node1 or node2, whichever takes writes (for psql too):\n  '%s'\n", c.PrimaryURL())
	fmt.Fprintf(w, "The instances also run with INKWELL_DB_PREPARED_STATEMENTS=0 and INKWELL_STATEMENT_TIMEOUT=%s,\n"+
		"which PgBouncer sets on its server connections (connect_query).\n", statementTimeout)
	if demo {
		fmt.Fprint(w, "Demo users: ada, grace and linus (<name>@example.com), password inkwell-demo.\n")
	}
	fmt.Fprintf(w, "\nFail over by hand (the monitor promotes the standby and PgBouncer follows; state changes\n"+
		"are logged below):\n"+
		"  psql '%[1]s' -c 'SELECT pgautofailover.perform_failover()'\n"+
		"or crash the primary's PostgreSQL (node1's at start; its keeper restarts it, the monitor may fail over):\n"+
		"  kill -9 $(head -1 %[2]s/postmaster.pid)\n"+
		"Node states:\n"+
		"  psql '%[1]s' -c 'SELECT nodename, nodeport, reportedstate, goalstate FROM pgautofailover.node'\n\n",
		c.MonitorURL(), filepath.Join(c.Dir(), "node1"))
}

// watch logs the monitor's view when it changes and an instance that exits, until ctx
// ends.
func watch(ctx context.Context, log logger, c *pgcluster.Cluster, insts []*instance) {
	last := c.States(ctx)
	log.Logf("monitor: %s", last)
	exited := map[*instance]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		if s := c.States(ctx); s != last && ctx.Err() == nil {
			log.Logf("monitor: %s", s)
			last = s
		}
		for _, inst := range insts {
			if inst.exited() && !exited[inst] {
				exited[inst] = true
				log.Logf("%s exited: %v; see %s", inst.name, inst.waitErr, inst.log)
			}
		}
	}
}

// instance is one `inkwell serve` process.
type instance struct {
	name    string
	addr    string // host:port it serves on
	metrics string // host:port of its /metrics
	log     string
	cmd     *exec.Cmd
	done    chan struct{} // closed once it has exited
	waitErr error         // read after done is closed

	stopOnce sync.Once
}

func startInstance(log logger, bin, dir string, n int, env []string) (*instance, error) {
	inst := &instance{name: "inkwell-" + strconv.Itoa(n), done: make(chan struct{})}
	port, err := localpg.FreePort()
	if err != nil {
		return nil, err
	}
	mport, err := localpg.FreePort()
	if err != nil {
		return nil, err
	}
	inst.addr = "127.0.0.1:" + strconv.Itoa(port)
	inst.metrics = "127.0.0.1:" + strconv.Itoa(mport)
	home := filepath.Join(dir, inst.name)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	inst.log = filepath.Join(dir, inst.name+".log")
	out, err := os.Create(inst.log)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own descriptor
	// Not CommandContext: on Ctrl-C the instances stop after nginx, in run's order.
	inst.cmd = exec.Command(bin, "serve")
	// Settings of the caller's environment (INKWELL_LOG_LEVEL, …) apply; ours come last
	// and win.
	inst.cmd.Env = append(append(os.Environ(),
		"INKWELL_ADDR="+inst.addr,
		"INKWELL_METRICS_ADDR="+inst.metrics,
		"INKWELL_DATA_DIR="+home,
	), env...)
	inst.cmd.Dir = home
	inst.cmd.Stdout, inst.cmd.Stderr = out, out
	// Its own process group: a Ctrl-C reaches us, and we stop the instances in order.
	inst.cmd.SysProcAttr = localpg.SysProcAttr(nil)
	if err := inst.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", inst.name, err)
	}
	go func() {
		inst.waitErr = inst.cmd.Wait()
		close(inst.done)
	}()
	log.Logf("started %s (PID %d) on %s, log %s", inst.name, inst.cmd.Process.Pid, inst.addr, inst.log)
	return inst, nil
}

func (i *instance) url() string { return "http://" + i.addr }

func (i *instance) exited() bool {
	select {
	case <-i.done:
		return true
	default:
		return false
	}
}

// waitReady waits until /readyz answers 200.
func (i *instance) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 3 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.url()+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-i.done:
			return fmt.Errorf("%s exited while starting: %w; see %s", i.name, i.waitErr, i.log)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w; see %s", i.name, ctx.Err(), i.log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM (the server drains and exits) and waits, killing it after 30s.
func (i *instance) stop() error {
	var err error
	i.stopOnce.Do(func() {
		if i.exited() {
			return
		}
		_ = i.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-i.done:
		case <-time.After(30 * time.Second):
			_ = i.cmd.Process.Kill()
			<-i.done
			err = fmt.Errorf("%s did not stop within 30s; killed it", i.name)
		}
	})
	return err
}
