package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"inkwell/internal/localpg"
)

// runMain runs `inkwell args...` in dir with env added to the test's environment, and
// returns its exit code and everything it wrote. It is killed after a minute.
func runMain(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "INKWELL_RUN_MAIN=1", "INKWELL_ARGS="+strings.Join(args, " ")), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("run inkwell %s: %v", strings.Join(args, " "), err)
	return 0, ""
}

// countingListener accepts and counts connections on loopback, so a test can tell that
// nothing tried to reach it.
func countingListener(t *testing.T) (addr string, count func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return ln.Addr().String(), n.Load
}

// Every command answers -h and --help with its usage and exit 0, and does nothing else:
// no database started or connected to, no server, no request.
func TestHelpDoesNothingElse(t *testing.T) {
	t.Parallel()
	addr, connections := countingListener(t)
	for _, args := range [][]string{
		{"help"}, {"-h"}, {"--help"}, {"help", "seed"},
		{"serve", "-h"}, {"serve", "--help"},
		{"migrate", "-h"}, {"migrate", "--help"},
		{"seed", "-h"}, {"seed", "--help"}, {"seed", "-size", "M", "--help"},
		{"healthcheck", "-h"}, {"healthcheck", "--help"},
		{"version", "-h"}, {"version", "--help"},
	} {
		for _, database := range []string{"", "postgres://nobody@" + addr + "/inkwell?sslmode=disable"} {
			t.Run(strings.Join(args, " ")+" database "+database, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				code, out := runMain(t, dir, []string{"DATABASE_URL=" + database, "INKWELL_ADDR=" + addr}, args...)
				want := "usage: inkwell "
				if args[0] != "help" && args[0][0] != '-' {
					want += args[0]
				} else if len(args) > 1 {
					want += args[1]
				}
				if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "README.md") {
					t.Fatalf("exit %d, want 0 with %q and a pointer to README.md; output:\n%s", code, want, out)
				}
				if strings.Contains(out, `"level"`) {
					t.Fatalf("help logged something:\n%s", out)
				}
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Fatalf("help left %s behind (a local database started?)", entries[0].Name())
				}
			})
		}
	}
	t.Cleanup(func() {
		if n := connections(); n > 0 {
			t.Errorf("help made %d connections to DATABASE_URL or INKWELL_ADDR", n)
		}
	})
}

func TestBadCommandLines(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{}, {"bogus"}, {"serve", "now"}, {"seed", "-size"}, {"migrate", "-x"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			code, out := runMain(t, dir, nil, args...)
			if code != 2 || !strings.Contains(out, "usage: inkwell") {
				t.Fatalf("exit %d, want 2 with the usage; output:\n%s", code, out)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("a bad command line left %s behind", entries[0].Name())
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out := runMain(t, t.TempDir(), nil, "version")
	if code != 0 || !strings.HasPrefix(out, "inkwell ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "go1.") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

// A taken port is reported at once, naming its variable, before any database is started.
func TestServeReportsATakenPortFirst(t *testing.T) {
	t.Parallel()
	addr, _ := countingListener(t)
	for _, variable := range []string{"INKWELL_ADDR", "INKWELL_METRICS_ADDR"} {
		t.Run(variable, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			began := time.Now()
			code, out := runMain(t, dir, []string{"DATABASE_URL=", "INKWELL_ADDR=127.0.0.1:0", variable + "=" + addr}, "serve")
			if code != 1 || !strings.Contains(out, variable+": listen tcp "+addr) {
				t.Fatalf("exit %d, want 1 naming %s; output:\n%s", code, variable, out)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("took %v to report a taken port", took)
			}
			if _, err := os.Stat(dir + "/.inkwell/postgres"); !os.IsNotExist(err) {
				t.Fatalf("a local PostgreSQL was started before the port was checked (%v)", err)
			}
		})
	}
}

func TestConfigurationErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ env, want string }{
		{"INKWELL_LOG_LEVEL=loud", `INKWELL_LOG_LEVEL: \"loud\" is not debug, info, warn or error`},
		{"DATABASE_URL=db.example.com", "DATABASE_URL: not a PostgreSQL URL"},
		{"INKWELL_PUBLIC_CACHE_MAX_AGE=soon", "INKWELL_PUBLIC_CACHE_MAX_AGE"},
	} {
		for _, command := range []string{"serve", "migrate", "seed"} {
			t.Run(command+" "+tc.env, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				code, out := runMain(t, dir, []string{tc.env, "INKWELL_ADDR=127.0.0.1:0"}, command)
				if code != 1 || !strings.Contains(out, tc.want) {
					t.Fatalf("exit %d, want 1 with %q; output:\n%s", code, tc.want, out)
				}
				if entries, _ := os.ReadDir(dir); len(entries) > 0 {
					t.Fatalf("a bad configuration left %s behind", entries[0].Name())
				}
			})
		}
	}
}

// startPostgres starts a throw-away PostgreSQL server, stopped when t ends.
func startPostgres(t *testing.T, ctx context.Context) *localpg.Server {
	t.Helper()
	srv, err := localpg.Start(ctx, localpg.Options{Dir: t.TempDir(), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// A DATABASE_URL that cannot connect is reported as that variable's fault; a server
// without TLS gets the sslmode=disable hint. INKWELL_LOG_LEVEL quiets the info lines.
// serve stops with exit 0 on SIGINT.
func TestDatabaseURL(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	srv := startPostgres(t, ctx)
	url := srv.URL("postgres")
	noTLS := strings.TrimSuffix(url, "?sslmode=disable")
	dir := t.TempDir()

	code, out := runMain(t, dir, []string{"DATABASE_URL=" + noTLS}, "migrate")
	if code != 1 || !strings.Contains(out, "DATABASE_URL: connect to") || !strings.Contains(out, "add sslmode=disable") {
		t.Fatalf("without sslmode: exit %d, want 1 with the sslmode=disable hint; output:\n%s", code, out)
	}
	if strings.Contains(out, "127.0.0.1") && strings.Contains(out, "postgres@") {
		t.Errorf("the error shows the URL's user part:\n%s", out)
	}
	code, out = runMain(t, dir, []string{"DATABASE_URL=" + url, "INKWELL_LOG_LEVEL=warn"}, "migrate")
	if code != 0 || strings.Contains(out, `"level":"INFO"`) {
		t.Fatalf("INKWELL_LOG_LEVEL=warn: exit %d, want 0 and no info lines; output:\n%s", code, out)
	}
	code, out = runMain(t, dir, []string{"DATABASE_URL=" + url}, "migrate")
	if code != 0 || !strings.Contains(out, "migrations applied") {
		t.Fatalf("exit %d, want 0 with an info line; output:\n%s", code, out)
	}

	// Ctrl-C is a clean stop too: exit 0, so that make run reports no error.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "INKWELL_RUN_MAIN=1", "INKWELL_ARGS=serve", "DATABASE_URL="+url, "INKWELL_ADDR=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"msg":"serving"`) {
				close(serving)
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(time.Minute):
		t.Fatal("serve did not start within a minute")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGINT, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGINT")
	}
}
