// Command inkwell is the Inkwell GraphQL server.
//
//	inkwell serve        serve the API (starts a local PostgreSQL when DATABASE_URL is unset)
//	inkwell migrate      apply pending database migrations and exit
//	inkwell seed         fill the database with a deterministic data set
//	inkwell healthcheck  exit 0 when the server at INKWELL_ADDR is alive (for containers)
//	inkwell version      print the version, commit, build date and Go version
//
// Configuration comes from environment variables; README.md lists them.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lib/pq"

	"inkwell/internal/app"
	"inkwell/internal/buildinfo"
	"inkwell/internal/config"
	"inkwell/internal/dbmigrate"
	"inkwell/internal/dbroute"
	"inkwell/internal/demo"
	"inkwell/internal/localpg"
	"inkwell/internal/ratelimit"
	"inkwell/internal/server"
	"inkwell/internal/telemetry"
)

// command is one subcommand: its flags, its help, and what it does once they are parsed.
type command struct {
	name    string
	summary string // one line, for `inkwell help`
	args    string // after the name in the usage line, e.g. "[-size S|M|L]"
	about   string // what -h prints above the flags
	flags   func(fs *flag.FlagSet) func(ctx context.Context, log *slog.Logger) error
}

const configHelp = `Configuration comes from environment variables (DATABASE_URL, INKWELL_ADDR,
INKWELL_LOG_LEVEL, …); the "Configuration" section of README.md lists them all.
`

var commands = []command{
	{
		name:    "serve",
		summary: "serve the GraphQL API (a local PostgreSQL is started when DATABASE_URL is unset)",
		about: `Serves the GraphQL API on INKWELL_ADDR (default 127.0.0.1:8080) until SIGINT or SIGTERM,
then drains and exits 0. Without DATABASE_URL it starts a local PostgreSQL under
INKWELL_DATA_DIR (default .inkwell) and loads the demo data into it when empty.
`,
		flags: func(*flag.FlagSet) func(context.Context, *slog.Logger) error { return serve },
	},
	{
		name:    "migrate",
		summary: "apply pending database migrations and exit",
		about: `Applies pending migrations to DATABASE_URL (or the local database) under an advisory
lock, so several instances starting at once are safe, and exits.
`,
		flags: func(*flag.FlagSet) func(context.Context, *slog.Logger) error { return migrate },
	},
	{
		name:    "seed",
		summary: "fill the database with a deterministic data set",
		args:    "[-size S|M|L] [-seed N] [-force]",
		about: `Fills DATABASE_URL (or the local database, also while ` + "`inkwell serve`" + ` runs on it) with a
deterministic data set. A database that already has users is refused without -force.
-force empties it first and makes a new development signing key, so tokens issued
before are refused.
`,
		flags: seedFlags,
	},
	{
		name:    "healthcheck",
		summary: "exit 0 when the server at INKWELL_ADDR answers /healthz (-path /readyz)",
		args:    "[-path /healthz]",
		about: `Asks the server listening on INKWELL_ADDR (over loopback when it listens on every
interface) for /healthz and exits 0 on 200, 1 otherwise, within 2 seconds: the
container image's HEALTHCHECK, which has no shell or curl.
`,
		flags: healthcheckFlags,
	},
	{
		name:    "version",
		summary: "print the version, commit, build date and Go version",
		about:   "Prints the version, the commit it was built from, that commit's date and the Go version.\n",
		flags: func(*flag.FlagSet) func(context.Context, *slog.Logger) error {
			return func(context.Context, *slog.Logger) error {
				fmt.Print(buildinfo.Get())
				return nil
			}
		},
	},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: inkwell <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(&b, "  %-12s %s\n", "help", "describe a command: inkwell help seed (or inkwell seed -h)")
	b.WriteString("\n" + configHelp)
	return b.String()
}

// errUsage marks a command line that was not understood; its message is already printed.
var errUsage = errors.New("usage")

func main() {
	telemetry.LimitHeapProfile(os.Getenv("GODEBUG"))
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel}))
	ratelimit.LogRedisTo(log)
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage())
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			fmt.Print(usage())
			return
		}
		name, args = args[0], []string{"-h"}
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(os.Stderr, "inkwell: unknown command %q\n\n%s", name, usage())
		os.Exit(2)
	}
	run, err := cmd.parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error("inkwell "+name+" stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

// parse reads the command's flags. -h prints its help on standard output and returns
// flag.ErrHelp; a bad command line prints the error and the help on standard error.
func (c *command) parse(args []string) (func(context.Context, *slog.Logger) error, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := c.flags(fs)
	help := func() string {
		var b strings.Builder
		fmt.Fprintf(&b, "usage: inkwell %s %s\n\n%s", c.name, c.args, c.about)
		if hasFlags(fs) {
			b.WriteString("\nflags:\n")
			fs.SetOutput(&b)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		b.WriteString("\n" + configHelp)
		return strings.Replace(b.String(), " \n", "\n", 1)
	}
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Print(help())
		return nil, err
	case err != nil:
		fmt.Fprintf(os.Stderr, "inkwell %s: %v\n\n%s", c.name, err, help())
		return nil, errUsage
	}
	return run, nil
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// logLevel is the logger's level: info until a command reads INKWELL_LOG_LEVEL.
var logLevel = new(slog.LevelVar)

// localDB is the database a command works on.
type localDB struct {
	URL  string
	Stop func()
	// Shared names the process whose local PostgreSQL this command joined (it stops it,
	// not us); empty otherwise.
	Shared string
}

// database returns the configured database, or the local PostgreSQL under cfg.DataDir:
// started here, or joined when another inkwell command already runs it (make run while
// seeding), since stopping that one would pull the database from under it.
func database(ctx context.Context, cfg config.Config, log *slog.Logger) (localDB, error) {
	if cfg.DatabaseURL != "" {
		return localDB{URL: cfg.DatabaseURL, Stop: func() {}}, nil
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "postgres"))
	if err != nil {
		return localDB{}, err
	}
	log.Info("starting local PostgreSQL", "dir", dir)
	srv, err := localpg.Start(ctx, localpg.Options{Dir: dir})
	var running *localpg.RunningError
	if errors.As(err, &running) {
		url, err := localpg.Attach(ctx, dir, "inkwell")
		if err != nil {
			return localDB{}, fmt.Errorf("%w; joining it: %w", running, err)
		}
		holder := running.Holder
		if holder == "" {
			holder = fmt.Sprintf("another process (PostgreSQL PID %d)", running.PID)
		}
		log.Info("using the local PostgreSQL already running", "url", url, "started_by", holder)
		return localDB{URL: url, Stop: func() {}, Shared: holder}, nil
	}
	if err != nil {
		return localDB{}, fmt.Errorf("local PostgreSQL (or set DATABASE_URL): %w", err)
	}
	stop := func() {
		if err := srv.Stop(); err != nil {
			log.Error("stop local PostgreSQL", "err", err)
		}
	}
	if err := ensureDatabase(ctx, srv.URL("postgres"), "inkwell"); err != nil {
		stop()
		return localDB{}, err
	}
	log.Info("local PostgreSQL", "url", srv.URL("inkwell"))
	return localDB{URL: srv.URL("inkwell"), Stop: stop}, nil
}

// checkDatabase connects once, so that a DATABASE_URL that cannot work is reported as
// that variable's fault, with the fix when there is an obvious one.
func checkDatabase(ctx context.Context, cfg config.Config, url string) error {
	if cfg.DatabaseURL == "" {
		return nil
	}
	db, err := sql.Open("postgres", app.DatabaseURL(url))
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = db.PingContext(ctx)
		cancel()
		db.Close()
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, pq.ErrSSLNotSupported) || strings.Contains(err.Error(), "SSL is not enabled on the server") {
		return fmt.Errorf("DATABASE_URL: connect to %s: the server offers no TLS; add sslmode=disable to the URL "+
			"to connect without it (e.g. a server on this machine): %w", redact(url), err)
	}
	return fmt.Errorf("DATABASE_URL: connect to %s: %w", redact(url), err)
}

// redact is a database URL fit for a log: host, port and database, no credentials.
// directURL is DATABASE_DIRECT_URL when set, else url: the primary without a pooler.
func directURL(cfg config.Config, url string) string {
	if cfg.DirectURL != "" {
		return cfg.DirectURL
	}
	return url
}

// openReplicas opens a pool per DATABASE_REPLICA_URLS entry, set up as the primary's.
// Nothing connects yet: a replica that is down at start joins the rotation when it
// comes up.
func openReplicas(cfg config.Config) ([]dbroute.Replica, error) {
	var out []dbroute.Replica
	for _, u := range cfg.ReplicaURLs {
		db, err := sql.Open("postgres", app.WithStatementTimeout(app.DatabaseURL(u), cfg.Limits.StatementTimeout))
		if err != nil {
			for _, r := range out {
				r.DB.Close()
			}
			return nil, fmt.Errorf("DATABASE_REPLICA_URLS: %s: %w", redact(u), err)
		}
		app.ConfigurePool(db, cfg.DBMaxConns)
		out = append(out, dbroute.Replica{Name: redact(u), DB: db})
	}
	return out, nil
}

func redact(url string) string {
	u, err := neturl.Parse(url)
	if err != nil || u.Host == "" {
		return "the database"
	}
	return u.Host + u.Path
}

func ensureDatabase(ctx context.Context, adminURL, name string) error {
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}

func loadConfig() (config.Config, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	logLevel.Set(cfg.LogLevel)
	if cfg.SigningKey == "" {
		cfg.SigningKey, err = config.DevSigningKey(cfg.DataDir, randomBytes)
		if err != nil {
			return cfg, fmt.Errorf("development signing key: %w", err)
		}
	}
	return cfg, nil
}

func randomBytes(b []byte) error {
	_, err := rand.Read(b)
	return err
}

// envDatabase is database() for the configuration in the environment, for the commands
// that need little else of it.
func envDatabase(ctx context.Context, log *slog.Logger) (config.Config, localDB, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return cfg, localDB{}, fmt.Errorf("configuration: %w", err)
	}
	logLevel.Set(cfg.LogLevel)
	db, err := database(ctx, cfg, log)
	if err != nil {
		return cfg, db, err
	}
	if err := checkDatabase(ctx, cfg, db.URL); err != nil {
		db.Stop()
		return cfg, localDB{}, err
	}
	return cfg, db, nil
}

func migrate(ctx context.Context, log *slog.Logger) error {
	cfg, db, err := envDatabase(ctx, log)
	if err != nil {
		return err
	}
	defer db.Stop()
	if err := dbmigrate.Up(ctx, directURL(cfg, db.URL)); err != nil {
		return err
	}
	log.Info("migrations applied")
	return nil
}

// checkListen fails when addr cannot be listened on, naming the variable it came from,
// so that a taken port is reported before the database is started and migrated.
func checkListen(variable, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", variable, err)
	}
	return ln.Close()
}

func serve(ctx context.Context, log *slog.Logger) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	// A probe rather than the listener itself: bound early, the port would take
	// connections that wait through the whole start instead of being refused.
	if err := checkListen("INKWELL_ADDR", cfg.Addr); err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		if err := checkListen("INKWELL_METRICS_ADDR", cfg.MetricsAddr); err != nil {
			return err
		}
	}
	local, err := database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer local.Stop()
	url := local.URL
	// Migrations run on a connection of their own: the server's pool carries a
	// statement_timeout that a long index build must not be cut by. It is a direct one:
	// their advisory lock is a session's.
	if cfg.MigrateOnStart {
		if err := checkDatabase(ctx, cfg, url); err != nil {
			return err
		}
		if err := dbmigrate.Up(ctx, app.DatabaseURL(directURL(cfg, url))); err != nil {
			return err
		}
	}
	pooled := cfg.DirectURL != ""
	db, err := sql.Open("postgres", app.PoolURL(url, pooled, cfg.Limits.StatementTimeout))
	if err != nil {
		return err
	}
	defer db.Close()
	app.ConfigurePool(db, cfg.DBMaxConns)
	if pooled {
		checkPooledTimeout(ctx, db, cfg.Limits.StatementTimeout, log)
	}
	// The event listener opens its own connection to the same database (directly), with
	// the same connect timeout.
	cfg.DatabaseURL = app.DatabaseURL(url)
	if cfg.DirectURL != "" {
		cfg.DirectURL = app.DatabaseURL(cfg.DirectURL)
	}
	tracing, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing(tracing, log)
	replicas, err := openReplicas(cfg)
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range replicas {
			r.DB.Close()
		}
	}()
	a, err := app.New(db, cfg, log, app.WithTracerProvider(tracing.Provider), app.WithReplicas(replicas))
	if err != nil {
		return err
	}
	defer a.Close()
	// Listening from the start lets a misconfigured database show at boot; the hub keeps
	// retrying in the background, and the rest of the API serves meanwhile.
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	if err := a.Events.Start(lctx); err != nil {
		log.Warn("not listening for events yet; retrying in the background", "err", err)
	}
	lcancel()
	if cfg.DemoData {
		loaded, err := demo.LoadIfEmpty(ctx, a.Client, a.Service)
		if err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		if loaded {
			log.Info("loaded demo data", "users", "ada, grace, linus", "password", demo.Password)
		}
	}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("INKWELL_METRICS_ADDR: %w", err)
		}
		msrv := &http.Server{Handler: telemetry.Handler(a.Metrics.Registry), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer func() { _ = msrv.Close() }()
		log.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("INKWELL_ADDR: %w", err)
	}
	srv := server.NewHTTPServer(a.Handler, app.HTTPConfig(cfg.Limits))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	b := buildinfo.Get()
	log.Info("serving", "url", "http://"+ln.Addr().String()+"/", "graphql", "http://"+ln.Addr().String()+"/graphql",
		"version", b.Version, "commit", b.Commit)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return drain(log, cfg, a, srv)
}

// checkPooledTimeout warns when the statement_timeout that the pooler's sessions run
// with is not INKWELL_STATEMENT_TIMEOUT: through a pooler the server cannot set it itself
// (app.PoolURL). A warning, not an error: the database may just be away at start.
func checkPooledTimeout(ctx context.Context, db *sql.DB, want time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := app.StatementTimeout(ctx, db)
	switch {
	case err != nil:
		log.Warn("could not check the statement_timeout of DATABASE_URL's sessions", "err", err)
	case got != want:
		log.Warn("DATABASE_URL goes through a pooler (DATABASE_DIRECT_URL is set), whose sessions run with another "+
			"statement_timeout than INKWELL_STATEMENT_TIMEOUT; set it in the pooler, e.g. PgBouncer's "+
			"connect_query='SET statement_timeout = ...' in the database's entry",
			"statement_timeout", got.String(), "INKWELL_STATEMENT_TIMEOUT", want.String())
	}
}

// drain stops serving without failing a request: /readyz turns 503 at once while
// requests are still served for cfg.ShutdownDelay, each response closing its connection,
// so that load balancers and proxies stop sending here. Then subscriptions are closed
// with 1001 so that their clients reconnect elsewhere, the listener closes (a proxy's new
// connections are refused, which it retries elsewhere for every method, the request never
// having been sent), and in-flight requests get cfg.ShutdownGrace to finish.
func drain(log *slog.Logger, cfg config.Config, a *app.App, srv *http.Server) error {
	log.Info("draining", "delay", cfg.ShutdownDelay.String(), "grace", cfg.ShutdownGrace.String())
	a.Drain()
	time.Sleep(cfg.ShutdownDelay)
	// Shutdown does not wait for WebSockets: close them first, telling clients to
	// reconnect elsewhere, and stop listening for events.
	a.Close()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = srv.Close()
		return fmt.Errorf("requests still running after the %s grace period were cut: %w", cfg.ShutdownGrace, err)
	}
	log.Info("stopped")
	return nil
}
