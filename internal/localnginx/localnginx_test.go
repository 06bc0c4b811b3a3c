//go:build opstest

package localnginx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"inkwell/deploy"
	"inkwell/internal/localnginx"
	"inkwell/internal/localpg"
)

// backend answers with the headers nginx forwarded.
func backend(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s xff=%s rid=%s", r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Request-Id"))
	}))
	t.Cleanup(s.Close)
	return s
}

func start(t *testing.T, opts localnginx.Options) *localnginx.Nginx {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "nginx")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := localnginx.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(n.Dir(), "error.log"))
			t.Logf("output:\n%s\nerror.log:\n%s", n.Output(), b)
		}
	})
	return n
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestProxies(t *testing.T) {
	b := backend(t)
	n := start(t, localnginx.Options{Addr: "127.0.0.1:0", Upstreams: []string{strings.TrimPrefix(b.URL, "http://")}})
	if strings.HasSuffix(n.Addr(), ":0") {
		t.Fatalf("Addr = %s, want the port picked", n.Addr())
	}
	status, body := get(t, n.URL()+"/hello")
	if status != http.StatusOK || !strings.HasPrefix(body, "path=/hello ") {
		t.Errorf("GET through nginx: %d %q, want the backend's answer", status, body)
	}

	// Stopped, nothing listens on its port and its processes are gone.
	pid := n.PID()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", n.Addr(), time.Second); err == nil {
		_ = c.Close()
		t.Errorf("%s still accepts connections after Stop", n.Addr())
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("nginx's process group %d after Stop: %v, want none left", pid, err)
	}
}

// With deploy/nginx/proxy.conf, as cmd/inkwell-cluster runs it: the headers it sets reach
// the app, nginx answers /nginx-healthz itself, and a request that cannot reach one
// server is retried on the other.
func TestDeployProxyConf(t *testing.T) {
	b := backend(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // connections to it are refused
	n := start(t, localnginx.Options{Addr: "127.0.0.1:0", Server: deploy.NginxProxy,
		Upstreams: []string{deadAddr, strings.TrimPrefix(b.URL, "http://")}})

	for range 4 { // round robin: at least one goes to the dead server first
		status, body := get(t, n.URL()+"/graphql")
		if status != http.StatusOK || !strings.Contains(body, "xff=127.0.0.1") || strings.HasSuffix(body, "rid=") {
			t.Errorf("GET /graphql: %d %q, want the backend's answer with X-Forwarded-For and X-Request-Id", status, body)
		}
	}
	if status, body := get(t, n.URL()+"/nginx-healthz"); status != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /nginx-healthz: %d %q, want nginx's own ok", status, body)
	}
	log, err := os.ReadFile(filepath.Join(n.Dir(), "error.log"))
	if err != nil || !strings.Contains(string(log), "Connection refused") {
		t.Errorf("error.log shows no refused upstream connection (%v): the dead server was never tried", err)
	}
}

// With a configuration of the caller's own, as the operations tests run it: nginx serves
// it, and Reload puts another in its place without a restart.
func TestConfReload(t *testing.T) {
	dir := t.TempDir()
	port, err := localpg.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := func(answer string) string {
		user := ""
		if os.Geteuid() == 0 {
			user = "user root;"
		}
		return fmt.Sprintf(`%s
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events {}
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen %[3]s;
        location / { return 200 "%[4]s"; }
    }
}
`, user, dir, addr, answer)
	}
	n := start(t, localnginx.Options{Dir: dir, Addr: addr, Conf: conf("first")})
	if status, body := get(t, n.URL()); status != http.StatusOK || body != "first" {
		t.Errorf("GET: %d %q, want 200 \"first\"", status, body)
	}

	if err := n.Reload(conf("second")); err != nil {
		t.Fatal(err)
	}
	// The new workers take over a moment after the signal.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, n.URL())
		if body == "second" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET after Reload: %q, want \"second\"", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := n.Reload("not nginx configuration"); err == nil {
		t.Error("Reload with a broken configuration: no error")
	}
}
