package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runHealthcheck runs `inkwell healthcheck args...` as the container runtime would, with
// INKWELL_ADDR=addr, and returns its exit code and output.
func runHealthcheck(t *testing.T, addr string, args ...string) (int, string, time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "INKWELL_RUN_MAIN=1",
		"INKWELL_ARGS="+strings.Join(append([]string{"healthcheck"}, args...), " "),
		"INKWELL_ADDR="+addr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err == nil {
		return 0, out.String(), took
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), took
	}
	t.Fatalf("run healthcheck: %v", err)
	return 0, "", 0
}

// fakeServer answers each path in codes with its status and everything else with 404.
func fakeServer(t *testing.T, codes map[string]int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, ok := codes[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			code = http.StatusNotFound
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hanging.Close)
	live := fakeServer(t, map[string]int{"/healthz": 200, "/readyz": 503})
	_, livePort, _ := net.SplitHostPort(live)

	for _, tc := range []struct {
		name string
		addr string
		args []string
		want int
	}{
		{"a live server passes", live, nil, 0},
		{"an address on every interface is asked over loopback", ":" + livePort, nil, 0},
		{"an unready server passes the default liveness check", live, nil, 0},
		{"an unready server fails the readiness check", live, []string{"-path", "/readyz"}, 1},
		{"a ready server passes the readiness check", fakeServer(t, map[string]int{"/readyz": 200}), []string{"-path", "/readyz"}, 0},
		{"503 fails", fakeServer(t, map[string]int{"/healthz": 503}), nil, 1},
		{"500 fails", fakeServer(t, map[string]int{"/healthz": 500}), nil, 1},
		{"a redirect fails", fakeServer(t, map[string]int{"/healthz": 302}), nil, 1},
		{"no server fails", closed, nil, 1},
		{"a server that never answers fails within the timeout", hanging.Listener.Addr().String(), nil, 1},
		{"a malformed address fails", "no-port", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, took := runHealthcheck(t, tc.addr, tc.args...)
			if code != tc.want {
				t.Fatalf("exit code = %d, want %d; output:\n%s", code, tc.want, out)
			}
			// The timeout is 2 s; the process itself starts well within the rest.
			if took > healthcheckTimeout+3*time.Second {
				t.Fatalf("took %v, want at most the %v timeout and a little", took, healthcheckTimeout)
			}
		})
	}
}

func TestHealthcheckURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr, path, want string
	}{
		{":8080", "/healthz", "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:8080", "/healthz", "http://127.0.0.1:8080/healthz"},
		{"[::]:8080", "/readyz", "http://127.0.0.1:8080/readyz"},
		{"127.0.0.1:9000", "readyz", "http://127.0.0.1:9000/readyz"},
		{"[::1]:8080", "/healthz", "http://[::1]:8080/healthz"},
		{"10.1.2.3:8080", "/healthz", "http://10.1.2.3:8080/healthz"},
		{"localhost:8080", "/healthz", "http://localhost:8080/healthz"},
	} {
		got, err := healthcheckURL(tc.addr, tc.path)
		if err != nil || got != tc.want {
			t.Errorf("healthcheckURL(%q, %q) = %q, %v; want %q", tc.addr, tc.path, got, err, tc.want)
		}
	}
	if _, err := healthcheckURL("8080", "/healthz"); err == nil {
		t.Error("an address without a port was accepted")
	}
}
