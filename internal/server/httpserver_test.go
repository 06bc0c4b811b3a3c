package server_test

import (
	"net/http"
	"testing"
	"time"

	"inkwell/internal/server"
)

func TestNewHTTPServer(t *testing.T) {
	t.Parallel()
	h := http.NotFoundHandler()
	s := server.NewHTTPServer(h, server.HTTPConfig{})
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 30*time.Second || s.WriteTimeout != 30*time.Second ||
		s.IdleTimeout != 120*time.Second || s.MaxHeaderBytes != 16<<10 || s.Handler == nil {
		t.Errorf("defaults: %+v", s)
	}
	s = server.NewHTTPServer(h, server.HTTPConfig{
		ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
		IdleTimeout: 4 * time.Second, MaxHeaderBytes: 1024,
	})
	if s.ReadHeaderTimeout != time.Second || s.ReadTimeout != 2*time.Second || s.WriteTimeout != 3*time.Second ||
		s.IdleTimeout != 4*time.Second || s.MaxHeaderBytes != 1024 {
		t.Errorf("set: %+v", s)
	}
}
