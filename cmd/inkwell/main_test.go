package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"inkwell/internal/apptest"
)

// The test binary doubles as the inkwell command, so the test runs the real main.
func TestMain(m *testing.M) {
	if os.Getenv("INKWELL_RUN_MAIN") == "1" {
		os.Args = append([]string{"inkwell"}, strings.Fields(os.Getenv("INKWELL_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// `inkwell serve` with no DATABASE_URL starts its own PostgreSQL in the working
// directory, loads the demo data, serves it, lets `inkwell seed` use that database, and on
// SIGTERM stops cleanly, database too.
func TestServeWithOwnDatabase(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "INKWELL_RUN_MAIN=1", "INKWELL_ARGS=serve", "INKWELL_ADDR=127.0.0.1:0", "DATABASE_URL=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	scanned := make(chan struct{})
	// Kill the server if the test fails early, and wait for its log to end so nothing
	// logs after the test returns.
	defer func() {
		_ = cmd.Process.Kill()
		<-scanned
	}()
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, GraphQL string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				urls <- line.GraphQL
			}
			t.Log(sc.Text())
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatal("server did not start within 60s")
	}

	res, err := http.Post(url, "application/json", strings.NewReader(`{"query":"{ articles(first: 2) { totalCount nodes { slug author { username } } } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out struct {
		Data struct {
			Articles struct {
				TotalCount int
				Nodes      []struct{ Slug string }
			}
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Data.Articles.TotalCount == 0 {
		t.Fatalf("want demo articles, got %d: %s", res.StatusCode, body)
	}

	// A subscriber stays connected until the server stops, and is then told to go away
	// (and reconnect elsewhere) rather than cut off.
	sock, _, err := apptest.DialSocket(t, strings.TrimSuffix(url, "/graphql"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sock.Init(nil)
	sock.Expect("", "connection_ack")
	sock.Subscribe(`subscription($s: String!) { commentAdded(articleSlug: $s) { id } }`,
		map[string]any{"s": out.Data.Articles.Nodes[0].Slug})
	if _, err := os.Stat(dir + "/.inkwell/postgres/data/PG_VERSION"); err != nil {
		t.Fatalf("local database not under the working directory: %v", err)
	}

	// A second command joins the running local database rather than failing or stopping
	// it, and reseeding makes a new development signing key.
	oldKey, err := os.ReadFile(dir + "/.inkwell/signing.key")
	if err != nil {
		t.Fatal(err)
	}
	code, seedOut := runMain(t, dir, []string{"DATABASE_URL="}, "seed", "-size", "S", "-force")
	if code != 0 || !strings.Contains(seedOut, "using the local PostgreSQL already running") ||
		!strings.Contains(seedOut, fmt.Sprintf("(PID %d)", cmd.Process.Pid)) {
		t.Fatalf("seed while serving: exit %d, want 0, joining the server's database; output:\n%s", code, seedOut)
	}
	if newKey, err := os.ReadFile(dir + "/.inkwell/signing.key"); err != nil || bytes.Equal(newKey, oldKey) {
		t.Fatalf("seed -force kept the development signing key (%v)", err)
	}
	res, err = http.Post(url, "application/json", strings.NewReader(`{"query":"{ articles(first: 1) { totalCount } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"totalCount":2000`) {
		t.Fatalf("want the seeded 2000 articles served, got %d: %s", res.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, reason := sock.Closed(30 * time.Second); code != 1001 {
		t.Fatalf("socket closed with %d %q on SIGTERM, want 1001 going away", code, reason)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
	if _, err := os.Stat(dir + "/.inkwell/postgres/data/postmaster.pid"); !os.IsNotExist(err) {
		t.Fatalf("local PostgreSQL still running after serve stopped (postmaster.pid: %v)", err)
	}
}
