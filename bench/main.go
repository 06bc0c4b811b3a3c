// Command bench is Inkwell's load benchmark. It starts a throw-away PostgreSQL, seeds it
// (internal/seed), builds and starts `inkwell serve` and, beside it on the same database,
// the two anchors of ../shared/bench (a one-SQL-statement "floor" and PostGraphile, the
// "peer"), then drives each over loopback HTTP with a closed loop of -c workers (vegeta as
// a library) through the workloads in bench/workloads: W1 home feed, W2 article page,
// W3 tags, W4 addComment, W5 a read/write mix, W6 search, W7 a tag page, W8 notifications
// (the last three Inkwell only). Targets take turns round by round. It
// prints a table per workload with ratios of Inkwell to each anchor and writes JSON and
// markdown results to -out. Everything it started is stopped by PID on exit.
//
//	go run ./bench                                   full run, size M (about 10 minutes)
//	go run ./bench -rounds 1 -duration 3s -warmup 1s -size S    smoke run
//	go run ./bench -anchors ""                       Inkwell alone
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"inkwell/internal/seed"
)

// options are the command-line flags.
type options struct {
	size       string
	seed       uint64
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	conc       int
	workloads  []string
	anchors    string // kit folder, "" for Inkwell alone
	pool       int
	out        string
	work       string
	verify     bool
	cpuProfile string
	overload   bool
	stale      bool
	explain    bool
	pgSettings map[string]string // -pg overrides
}

// settingsFlag collects repeated -pg name=value flags.
type settingsFlag map[string]string

func (f settingsFlag) String() string { return "" }

func (f settingsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	f[strings.TrimSpace(k)] = strings.TrimSpace(val)
	return nil
}

func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("bench ")
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opts)
	interrupted := ctx.Err() != nil
	stop()
	if interrupted {
		log.Printf("interrupted; everything it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		log.Printf("failed: %v", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: go run ./bench [flags]   (from the repository root)

Starts a throw-away PostgreSQL, seeds it, starts inkwell serve and the anchors (floor and
PostGraphile) on the same database, and measures each workload over loopback HTTP.

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.size, "size", "M", "data set size: S, M or L (internal/seed)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the data set")
	fs.IntVar(&o.rounds, "rounds", 3, "measured rounds per target and workload; the table shows their median")
	fs.DurationVar(&o.duration, "duration", 15*time.Second, "length of one round (at most 2m)")
	fs.DurationVar(&o.warmup, "warmup", 5*time.Second, "warm-up per target and workload, not measured (at most 1m; 0 skips it)")
	fs.IntVar(&o.conc, "c", 16, "concurrency: closed-loop workers, each sending its next request when the last is answered")
	wl := fs.String("workloads", strings.Join(workloadNames(), ","), "comma-separated workloads to run, always in the order W1..W8")
	fs.StringVar(&o.anchors, "anchors", "../shared/bench", `anchor kit folder (relative to the repository root); "" runs Inkwell alone`)
	fs.IntVar(&o.pool, "pool", 10, "database pool of the floor and PostGraphile (the kit's 10); Inkwell uses its own (cmd/inkwell)")
	fs.StringVar(&o.out, "out", "bench/results", "folder for results.json and results.md (relative to the repository root)")
	fs.StringVar(&o.work, "work", "bench/.work", "folder for builds, npm packages and server logs (relative to the repository root)")
	fs.BoolVar(&o.verify, "verify", true, "before measuring, check that all targets return the same data")
	o.pgSettings = settingsFlag{}
	fs.Var(settingsFlag(o.pgSettings), "pg", "PostgreSQL setting name=value over the kit's (repeatable), e.g. -pg log_min_duration_statement=20ms; its log is -work/postgres.log")
	fs.BoolVar(&o.overload, "overload", false, "after the workloads, offer W1 to Inkwell open loop at twice its measured req/s for -duration and report what it sheds (needs W1)")
	fs.BoolVar(&o.stale, "stale", false, "after the workloads, start a second Inkwell and measure stale reads: 16 readers (half on each instance) while one client edits the article, for -duration")
	fs.BoolVar(&o.explain, "explain", false, "before measuring, EXPLAIN ANALYZE the feed page, each sort order's first page, the search, the tag page and the notifications (bench/explain.go) into -out/explain.txt; fail on a sequential scan of articles or notifications, or a plan node of more than 5,000 rows")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "workload (e.g. W1) during whose first Inkwell round to save a CPU profile of the server into -out")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.size = strings.ToUpper(o.size)
	if _, ok := seed.Sizes[o.size]; !ok {
		return o, fmt.Errorf("-size %q: want S, M or L", o.size)
	}
	switch {
	case o.rounds < 1 || o.rounds > 20:
		return o, errors.New("-rounds must be 1 to 20")
	case o.duration <= 0 || o.duration > 2*time.Minute:
		return o, errors.New("-duration must be more than 0 and at most 2m")
	case o.warmup < 0 || o.warmup > time.Minute:
		return o, errors.New("-warmup must be 0 to 1m")
	case o.conc < 1 || o.conc > 512:
		return o, errors.New("-c must be 1 to 512")
	case o.pool < 1 || o.pool > 50:
		return o, errors.New("-pool must be 1 to 50")
	}
	var err error
	if o.workloads, err = selectWorkloads(*wl); err != nil {
		return o, err
	}
	if o.overload && !containsString(o.workloads, "W1") {
		return o, errors.New("-overload needs W1 among the workloads (its capacity comes from W1)")
	}
	if o.cpuProfile != "" {
		o.cpuProfile = strings.ToUpper(o.cpuProfile)
		if !containsString(o.workloads, o.cpuProfile) {
			return o, fmt.Errorf("-cpuprofile %s: not among the workloads run", o.cpuProfile)
		}
	}
	return o, nil
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// repoRoot is the folder of the go.mod of module inkwell, found from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module inkwell\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the inkwell repository (no go.mod of module inkwell found)")
		}
		dir = parent
	}
}

// under resolves p against root unless it is absolute.
func under(root, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(root, p)
}
