// Command inkwell-cluster runs Inkwell's scaled-out topology on this machine, on
// loopback only, until Ctrl-C (`make cluster`): a pg_auto_failover monitor, a primary, a
// standby that the monitor promotes when the primary fails, a read replica (a commit
// waits for either standby), PgBouncer in transaction mode (internal/pgcluster), two `inkwell serve`
// instances over them, and nginx in front (internal/localnginx, with
// deploy/nginx/proxy.conf). It prints the addresses and how to fail over by hand; on
// SIGINT or SIGTERM it stops everything it started and removes its temporary folder.
//
//	inkwell-cluster [-inkwell bin/inkwell] [-addr 127.0.0.1:8080] [-demo=true]
//
// It needs PostgreSQL's server binaries, pg_autoctl, pgbouncer and nginx
// (.ci/install-postgres, .ci/install-cluster, .ci/install-nginx install them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.inkwell, "inkwell", "bin/inkwell", "the inkwell binary the instances run (make build)")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "nginx's listen address, the API's; port 0 picks a free one")
	flag.BoolVar(&o.demo, "demo", true, "load the demo data (users ada, grace, linus), as make run does")
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), "usage: inkwell-cluster [flags]\n\n"+
			"Runs a pg_auto_failover cluster (monitor, primary, synchronous standby, read replica),\n"+
			"PgBouncer, two inkwell serve instances and nginx on loopback until Ctrl-C.\n\nflags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	// Caught for the whole run, stop included: a second Ctrl-C does not cut the stop
	// short and leave servers behind.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "inkwell-cluster:", err)
		os.Exit(1)
	}
}

// logger writes progress lines, timestamped, to standard error.
type logger struct{ w *os.File }

func (l logger) Logf(format string, args ...any) {
	fmt.Fprintf(l.w, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
