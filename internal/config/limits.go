package config

import (
	"fmt"
	"strconv"
	"time"
)

// Limits are the bounds on what one request may ask of the server. README.md lists each
// variable; every one has a default, so an empty environment is safe.
type Limits struct {
	// MaxBodyBytes caps a request body (INKWELL_MAX_BODY_BYTES, default 1048576).
	MaxBodyBytes int
	// RequestTimeout is the deadline of one /graphql request (INKWELL_REQUEST_TIMEOUT,
	// default 15s).
	RequestTimeout time.Duration
	// Tokens, Depth, Fields, Aliases, Directives, Complexity, AuthFields and Errors bound
	// a GraphQL document and its response (INKWELL_MAX_TOKENS 5000, INKWELL_MAX_DEPTH 12,
	// INKWELL_MAX_FIELDS 1000, INKWELL_MAX_ALIASES 30, INKWELL_MAX_DIRECTIVES 50,
	// INKWELL_MAX_COMPLEXITY 10000, INKWELL_MAX_AUTH_FIELDS 1, INKWELL_MAX_ERRORS 10).
	Tokens, Depth, Fields, Aliases, Directives, Complexity, AuthFields, Errors int
	// Suggestions adds "Did you mean ...?" to validation errors (INKWELL_SUGGESTIONS;
	// default true, false in production).
	Suggestions bool
	// StatementTimeout cancels a PostgreSQL statement that runs longer
	// (INKWELL_STATEMENT_TIMEOUT, default 5s).
	StatementTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound a connection's
	// phases (INKWELL_READ_HEADER_TIMEOUT 5s, INKWELL_READ_TIMEOUT 30s,
	// INKWELL_WRITE_TIMEOUT 30s, INKWELL_IDLE_TIMEOUT 120s).
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxResponseBytes caps the data of one query's or mutation's response
	// (INKWELL_MAX_RESPONSE_BYTES, default 4194304); larger is RESPONSE_TOO_LARGE.
	MaxResponseBytes int
	// QueryCacheBytes bounds the cache of parsed documents by their texts' size
	// (INKWELL_QUERY_CACHE_BYTES, default 8388608); a text above 1/64 of it is parsed
	// each time, not kept.
	QueryCacheBytes int
	// MaxHeaderBytes caps request headers (INKWELL_MAX_HEADER_BYTES, default 16384);
	// larger ones get 431.
	MaxHeaderBytes int
}

// readLimits reads Limits with str, duration and boolean, FromEnv's readers, adding
// each bad value to errs.
func readLimits(str func(name, def string) string, duration func(string, time.Duration) time.Duration,
	boolean func(string, bool) bool, production bool, errs *[]error,
) Limits {
	l := Limits{
		RequestTimeout:    duration("INKWELL_REQUEST_TIMEOUT", 15*time.Second),
		Suggestions:       boolean("INKWELL_SUGGESTIONS", !production),
		StatementTimeout:  duration("INKWELL_STATEMENT_TIMEOUT", 5*time.Second),
		ReadHeaderTimeout: duration("INKWELL_READ_HEADER_TIMEOUT", 5*time.Second),
		ReadTimeout:       duration("INKWELL_READ_TIMEOUT", 30*time.Second),
		WriteTimeout:      duration("INKWELL_WRITE_TIMEOUT", 30*time.Second),
		IdleTimeout:       duration("INKWELL_IDLE_TIMEOUT", 120*time.Second),
	}
	for _, p := range []struct {
		name string
		dst  *int
		def  int
	}{
		{"INKWELL_MAX_BODY_BYTES", &l.MaxBodyBytes, 1 << 20},
		{"INKWELL_MAX_TOKENS", &l.Tokens, 5000},
		{"INKWELL_MAX_DEPTH", &l.Depth, 12},
		{"INKWELL_MAX_FIELDS", &l.Fields, 1000},
		{"INKWELL_MAX_ALIASES", &l.Aliases, 30},
		{"INKWELL_MAX_DIRECTIVES", &l.Directives, 50},
		{"INKWELL_MAX_COMPLEXITY", &l.Complexity, 10000},
		{"INKWELL_MAX_AUTH_FIELDS", &l.AuthFields, 1},
		{"INKWELL_MAX_ERRORS", &l.Errors, 10},
		{"INKWELL_MAX_HEADER_BYTES", &l.MaxHeaderBytes, 16 << 10},
		{"INKWELL_MAX_RESPONSE_BYTES", &l.MaxResponseBytes, 4 << 20},
		{"INKWELL_QUERY_CACHE_BYTES", &l.QueryCacheBytes, 8 << 20},
	} {
		*p.dst = p.def
		if v := str(p.name, ""); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				*errs = append(*errs, fmt.Errorf("%s: %q is not a positive whole number", p.name, v))
			}
			*p.dst = n
		}
	}
	if l.WriteTimeout <= l.RequestTimeout {
		*errs = append(*errs, fmt.Errorf("INKWELL_WRITE_TIMEOUT: %s must exceed INKWELL_REQUEST_TIMEOUT (%s), or answers past the deadline are cut off",
			l.WriteTimeout, l.RequestTimeout))
	}
	return l
}
