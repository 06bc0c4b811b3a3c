package config

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnvLimits(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := FromEnv(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		want := Limits{
			MaxBodyBytes: 1 << 20, RequestTimeout: 15 * time.Second,
			Tokens: 5000, Depth: 12, Fields: 1000, Aliases: 30, Directives: 50, Complexity: 10000, AuthFields: 1, Errors: 10,
			Suggestions: true, StatementTimeout: 5 * time.Second,
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
			MaxHeaderBytes: 16 << 10, MaxResponseBytes: 4 << 20, QueryCacheBytes: 8 << 20,
		}
		if c.Limits != want {
			t.Errorf("limits = %+v\nwant     %+v", c.Limits, want)
		}
	})

	t.Run("values", func(t *testing.T) {
		t.Parallel()
		c, err := FromEnv(env(map[string]string{
			"INKWELL_MAX_TOKENS": "100", "INKWELL_MAX_DEPTH": "5", "INKWELL_MAX_FIELDS": "50", "INKWELL_MAX_ALIASES": "3",
			"INKWELL_MAX_DIRECTIVES": "4", "INKWELL_MAX_COMPLEXITY": "200", "INKWELL_MAX_AUTH_FIELDS": "2", "INKWELL_MAX_ERRORS": "5",
			"INKWELL_MAX_BODY_BYTES": "4096", "INKWELL_REQUEST_TIMEOUT": "2s", "INKWELL_STATEMENT_TIMEOUT": "1500ms",
			"INKWELL_READ_HEADER_TIMEOUT": "1s", "INKWELL_READ_TIMEOUT": "3s", "INKWELL_WRITE_TIMEOUT": "4s", "INKWELL_IDLE_TIMEOUT": "5s",
			"INKWELL_MAX_HEADER_BYTES": "8192", "INKWELL_SUGGESTIONS": "false",
			"INKWELL_MAX_RESPONSE_BYTES": "65536", "INKWELL_QUERY_CACHE_BYTES": "1048576",
		}))
		if err != nil {
			t.Fatal(err)
		}
		want := Limits{
			MaxBodyBytes: 4096, RequestTimeout: 2 * time.Second,
			Tokens: 100, Depth: 5, Fields: 50, Aliases: 3, Directives: 4, Complexity: 200, AuthFields: 2, Errors: 5,
			StatementTimeout:  1500 * time.Millisecond,
			ReadHeaderTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second, IdleTimeout: 5 * time.Second,
			MaxHeaderBytes: 8192, MaxResponseBytes: 65536, QueryCacheBytes: 1 << 20,
		}
		if c.Limits != want {
			t.Errorf("limits = %+v\nwant     %+v", c.Limits, want)
		}
	})

	t.Run("production leaves suggestions out", func(t *testing.T) {
		t.Parallel()
		c, _ := FromEnv(env(map[string]string{"INKWELL_ENV": "production"}))
		if c.Limits.Suggestions {
			t.Error("suggestions on in production")
		}
	})

	for _, tc := range []struct{ name, key, value, want string }{
		{"a zero limit", "INKWELL_MAX_DEPTH", "0", "INKWELL_MAX_DEPTH"},
		{"a word for a number", "INKWELL_MAX_TOKENS", "many", "INKWELL_MAX_TOKENS"},
		{"a bad duration", "INKWELL_STATEMENT_TIMEOUT", "5 seconds", "INKWELL_STATEMENT_TIMEOUT"},
		{"a write timeout under the request timeout", "INKWELL_WRITE_TIMEOUT", "10s", "must exceed INKWELL_REQUEST_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := FromEnv(env(map[string]string{tc.key: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
