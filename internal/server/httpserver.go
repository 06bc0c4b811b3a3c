package server

import (
	"net/http"
	"time"
)

// HTTPConfig bounds each connection of the HTTP server. A zero field takes its default.
type HTTPConfig struct {
	// ReadHeaderTimeout is how long a client may take to send its headers (default 5s):
	// a client sending them byte by byte is cut off rather than holding a connection.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client may take to send a whole request, body included
	// (default 30s).
	ReadTimeout time.Duration
	// WriteTimeout is how long a request may take from the end of its headers to the end
	// of its answer (default 30s). Keep it above Config.RequestTimeout, so that an
	// answer at the deadline is still sent. WebSockets are not bound by it: a hijacked
	// connection has its deadlines cleared.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its next request
	// (default 120s).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (default 16 KiB); larger ones are
	// answered 431. Go's server allows 4 KiB more than this before refusing.
	MaxHeaderBytes int
}

// Defaults of HTTPConfig.
const (
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultMaxHeaderBytes    = 16 << 10
)

// NewHTTPServer returns an http.Server serving h with cfg's connection limits. Go's
// zero values wait forever, which lets slow clients hold connections without bound.
func NewHTTPServer(h http.Handler, cfg HTTPConfig) *http.Server {
	or := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: or(cfg.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       or(cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      or(cfg.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       or(cfg.IdleTimeout, defaultIdleTimeout),
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
	}
}
