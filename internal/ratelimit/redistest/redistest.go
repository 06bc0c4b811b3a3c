// Package redistest runs a throw-away Redis server for tests: a redis-server on
// a free loopback port, in a temporary folder, with nothing saved to disk.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"inkwell/internal/localpg"
)

// Start starts a Redis server that stops when the test ends, and returns its URL
// (redis://127.0.0.1:<port>/0). The server is $INKWELL_REDIS_SERVER if set, else
// redis-server on PATH; a missing one fails the test (.ci/install-redis installs Debian's
// package).
func Start(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("INKWELL_REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			t.Fatal("redis-server not found on PATH: install it (make test does on Debian as root, with .ci/install-redis) " +
				"or set INKWELL_REDIS_SERVER to its binary")
		}
	}
	dir := t.TempDir()
	var lastErr error
	// A port found free may be taken before Redis binds it; try another then.
	for range 3 {
		port, err := localpg.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		url, err := run(t, bin, dir, port)
		if err == nil {
			return url
		}
		lastErr = err
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return ""
}

func run(t testing.TB, bin, dir string, port int) (string, error) {
	logFile := filepath.Join(dir, "redis-"+strconv.Itoa(port)+".log")
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--logfile", logFile, "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := ping(ctx, url)
		cancel()
		if err == nil {
			t.Cleanup(stop)
			return url, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			return "", fmt.Errorf("redis-server exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("redis-server did not answer within 10s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping asks go-redis only once the port accepts connections: go-redis logs each dial
// that fails, and a starting server refuses a few.
func ping(ctx context.Context, url string) error {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", opt.Addr)
	if err != nil {
		return err
	}
	_ = conn.Close()
	// One attempt per call: the caller polls.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	c := redis.NewClient(opt)
	defer func() { _ = c.Close() }()
	return c.Ping(ctx).Err()
}
