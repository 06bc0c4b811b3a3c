package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

// clientsDir is the Node project with the Apollo Client, its generated types and its
// end-to-end tests, relative to this package.
const clientsDir = "../../clients"

// TestApolloGeneratedClient fails when the committed client code drifts from the schema
// or the operations: graphql-codegen in check mode, the TypeScript compiler over the
// generated types, and the persisted-query manifest.
func TestApolloGeneratedClient(t *testing.T) {
	dir := clientsProject(t)
	runNPM(t, dir, nil, 3*time.Minute, "run", "check")
}

// TestApolloClient runs the Apollo Client suite (clients/test) against real servers: one
// with the defaults, one whose access tokens live two seconds (the refresh link), and one
// that accepts only the operations of clients/persisted-queries.json.
func TestApolloClient(t *testing.T) {
	dir := clientsProject(t)
	manifest, err := filepath.Abs(filepath.Join(dir, "persisted-queries.json"))
	if err != nil {
		t.Fatal(err)
	}
	normal := apptest.New(t)
	short := apptest.New(t, apptest.WithAccessTTL(2*time.Second))
	allowList := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
		c.PersistedQueries = "allowlist"
		c.PersistedQueriesFile = manifest
	}))
	runNPM(t, dir, []string{
		"INKWELL_URL=" + normal.URL,
		"INKWELL_SHORT_TTL_URL=" + short.URL,
		"INKWELL_ALLOWLIST_URL=" + allowList.URL,
	}, 5*time.Minute, "test")
}

// clientsProject returns the Node project's folder once its packages are installed.
func clientsProject(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(clientsDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("clients/node_modules is missing (%v): run `make test`, which installs the clients' "+
			"packages with `npm ci --prefix clients`", err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatalf("npm is needed for the Apollo Client tests (Node.js 20 or later): %v", err)
	}
	return dir
}

// runNPM runs npm with args in dir, streams its output to the test log line by line, and
// fails the test on a non-zero exit or when it runs longer than limit.
func runNPM(t *testing.T, dir string, env []string, limit time.Duration, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()

	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	// npm runs node in a shell; on timeout the whole process group goes, so that no test
	// process outlives this test holding the servers' connections open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second

	out, w := io.Pipe()
	cmd.Stdout = w
	cmd.Stderr = w
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		lines := bufio.NewScanner(out)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			t.Log(lines.Text())
		}
		// Drain whatever a too-long line left, so that npm never blocks on the pipe.
		_, _ = io.Copy(io.Discard, out)
	}()

	start := time.Now()
	err := cmd.Run()
	_ = w.Close()
	<-logged
	cmdline := "npm " + strings.Join(args, " ")
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("%s did not finish within %s", cmdline, limit)
	case err != nil:
		t.Fatalf("%s: %v", cmdline, err)
	}
	t.Logf("%s passed in %s", cmdline, time.Since(start).Round(time.Millisecond))
}
