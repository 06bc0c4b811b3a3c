package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheckTimeout bounds one probe; a container runtime kills a slower check anyway.
const healthcheckTimeout = 2 * time.Second

// healthcheckFlags defines healthcheck's flags and returns the command.
func healthcheckFlags(fs *flag.FlagSet) func(context.Context, *slog.Logger) error {
	path := fs.String("path", "/healthz", "the path to GET, e.g. /readyz to wait for readiness")
	return func(ctx context.Context, _ *slog.Logger) error { return healthcheck(ctx, *path) }
}

// healthcheck asks the server in this container whether it is alive, for a container
// HEALTHCHECK: the image has no shell or curl. It checks /healthz by default,
// not /readyz: a runtime that acts on health restarts the container, and when the
// database goes away every instance turns unready at once, so checking readiness would
// restart all of them for an outage they recover from by themselves. Readiness is for the
// load balancer (nginx, the ALB target group, the Kubernetes readiness probe).

func healthcheck(ctx context.Context, path string) error {
	addr := os.Getenv("INKWELL_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	url, err := healthcheckURL(addr, path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the server is in this container.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", url, res.Status)
	}
	fmt.Println("ok")
	return nil
}

// healthcheckURL is the URL of path on the server listening on addr (INKWELL_ADDR), asked
// over loopback when it listens on every interface.
func healthcheckURL(addr, path string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("healthcheck: INKWELL_ADDR %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
