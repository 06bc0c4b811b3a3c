// Command inkwell is the Inkwell GraphQL server.
//
//	inkwell serve     serve the API (starts a local PostgreSQL when DATABASE_URL is unset)
//	inkwell migrate   apply pending database migrations and exit
//	inkwell seed      fill the database with a deterministic data set
//	inkwell healthcheck  exit 0 when the server at INKWELL_ADDR is alive (for containers)
//
// Configuration comes from environment variables; README.md lists them.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/app"
	"inkwell/internal/config"
	"inkwell/internal/dbmigrate"
	"inkwell/internal/demo"
	"inkwell/internal/localpg"
	"inkwell/internal/server"
	"inkwell/internal/telemetry"
)

const usage = `usage: inkwell <command>

commands:
  serve     serve the GraphQL API (a local PostgreSQL is started when DATABASE_URL is unset)
  migrate   apply pending database migrations and exit
  seed      fill the database with a deterministic data set (seed -h for flags)
  healthcheck  exit 0 when the server at INKWELL_ADDR answers /healthz (-path /readyz)
`

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if os.Getenv("GOGC") == "" {
		// Responses allocate many short-lived objects; collecting at twice the default
		// heap growth halves GC work at a few tens of MB more memory.
		debug.SetGCPercent(200)
	}
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, log)
	case "migrate":
		err = migrate(ctx, log)
	case "seed":
		err = seedCmd(ctx, log, os.Args[2:])
	case "healthcheck":
		err = healthcheck(ctx, os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "inkwell: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		log.Error("inkwell stopped", "err", err)
		os.Exit(1)
	}
}

// database returns the configured database URL, or starts the local PostgreSQL under
// cfg.DataDir and returns its URL; stop ends what was started.
func database(ctx context.Context, cfg config.Config, log *slog.Logger) (url string, stop func(), err error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, func() {}, nil
	}
	dir, err := filepath.Abs(filepath.Join(cfg.DataDir, "postgres"))
	if err != nil {
		return "", nil, err
	}
	log.Info("starting local PostgreSQL", "dir", dir)
	srv, err := localpg.Start(ctx, localpg.Options{Dir: dir})
	if err != nil {
		return "", nil, fmt.Errorf("local PostgreSQL (or set DATABASE_URL): %w", err)
	}
	stop = func() {
		if err := srv.Stop(); err != nil {
			log.Error("stop local PostgreSQL", "err", err)
		}
	}
	if err := ensureDatabase(ctx, srv.URL("postgres"), "inkwell"); err != nil {
		stop()
		return "", nil, err
	}
	return srv.URL("inkwell"), stop, nil
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
	if cfg.SigningKey == "" {
		cfg.SigningKey, err = config.DevSigningKey(cfg.DataDir, func(b []byte) error {
			_, err := rand.Read(b)
			return err
		})
		if err != nil {
			return cfg, fmt.Errorf("development signing key: %w", err)
		}
	}
	return cfg, nil
}

// envDatabase is database() for the configuration in the environment, for the commands
// that need nothing else of it.
func envDatabase(ctx context.Context, log *slog.Logger) (url string, stop func(), err error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return "", nil, fmt.Errorf("configuration: %w", err)
	}
	return database(ctx, cfg, log)
}

func migrate(ctx context.Context, log *slog.Logger) error {
	url, stop, err := envDatabase(ctx, log)
	if err != nil {
		return err
	}
	defer stop()
	if err := dbmigrate.Up(ctx, url); err != nil {
		return err
	}
	log.Info("migrations applied")
	return nil
}

func serve(ctx context.Context, log *slog.Logger) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	url, stop, err := database(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	// Migrations run on a connection of their own: the server's pool carries a
	// statement_timeout that a long index build must not be cut by.
	if cfg.MigrateOnStart {
		if err := dbmigrate.Up(ctx, app.DatabaseURL(url)); err != nil {
			return err
		}
	}
	db, err := sql.Open("postgres", app.WithStatementTimeout(app.DatabaseURL(url), cfg.Limits.StatementTimeout))
	if err != nil {
		return err
	}
	defer db.Close()
	app.ConfigurePool(db, cfg.DBMaxConns)
	// The event listener opens its own connection to the same database, with the same
	// connect timeout.
	cfg.DatabaseURL = app.DatabaseURL(url)
	tracing, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing(tracing, log)
	a, err := app.New(db, cfg, log, app.WithTracerProvider(tracing.Provider))
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
			return fmt.Errorf("metrics listener: %w", err)
		}
		msrv := &http.Server{Handler: telemetry.Handler(a.Metrics.Registry), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer func() { _ = msrv.Close() }()
		log.Info("serving metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := server.NewHTTPServer(a.Handler, app.HTTPConfig(cfg.Limits))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "url", "http://"+ln.Addr().String()+"/", "graphql", "http://"+ln.Addr().String()+"/graphql")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return drain(log, cfg, a, srv)
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
