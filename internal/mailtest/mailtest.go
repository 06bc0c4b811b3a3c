// Package mailtest runs a real SMTP server for tests: Mailpit
// (github.com/axllent/mailpit), built once from the Go module proxy into .ci/bin, and
// started on loopback ports for each test that asks, with its HTTP API to read what
// arrived.
package mailtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"inkwell/internal/reporoot"
)

// Version is the Mailpit release the tests run.
const Version = "v1.33.1"

// Server is one running Mailpit.
type Server struct {
	smtp, api string // host:port each
}

// Start runs a Mailpit for t, stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	s := &Server{smtp: freeAddr(t), api: freeAddr(t)}
	cmd := exec.Command(bin, "--smtp", s.smtp, "--listen", s.api, "--quiet",
		"--disable-version-check", "--database", filepath.Join(t.TempDir(), "mailpit.db"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("mailtest: start mailpit: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + s.api + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: mailpit not ready after 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SMTPURL is the server's address for INKWELL_SMTP_URL (no TLS, no authentication).
func (s *Server) SMTPURL() string { return "smtp://" + s.smtp + "?starttls=off" }

// Message is a received email.
type Message struct {
	ID      string
	Subject string
	Text    string
	From    struct{ Address string }
	To      []struct{ Address string }
}

// Messages lists what was received for address, newest first.
func (s *Server) Messages(t testing.TB, address string) []Message {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	s.get(t, "/api/v1/search?query="+url.QueryEscape("to:"+strconv.Quote(address)), &list)
	out := make([]Message, 0, len(list.Messages))
	for _, m := range list.Messages {
		var full Message
		s.get(t, "/api/v1/message/"+url.PathEscape(m.ID), &full)
		out = append(out, full)
	}
	return out
}

// Wait waits (at most 10 s) until address has received n messages, and returns them,
// newest first.
func (s *Server) Wait(t testing.TB, address string, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.Messages(t, address)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailtest: %d messages to %s after 10 s, want %d", len(got), address, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.api+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("mailtest: %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailtest: %s: HTTP %d", path, res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("mailtest: %s: %v", path, err)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// binary returns the path of Mailpit's binary, building it on first use into the
// repository's .ci/bin (the Makefile's tool folder), which later runs reuse.
func binary() (string, error) {
	root, err := reporoot.Find()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".ci", "bin")
	bin := filepath.Join(dir, "mailpit-"+Version)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Build into a folder of its own, then move into place: test binaries of several
	// packages may build at once, and none may run a half-written file.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".mailpit-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install mailpit@%s: %w\n%s", Version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "mailpit"), bin); err != nil {
		return "", err
	}
	return bin, nil
}
