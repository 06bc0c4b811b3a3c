package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"inkwell/internal/apperr"
	"inkwell/internal/dbstats"
	"inkwell/internal/ratelimit"
	"inkwell/internal/respcache"
	"inkwell/internal/telemetry"
)

// responseRecorder remembers the status a handler sent, so middleware further out can log
// it or tell whether it may still answer.
type responseRecorder struct {
	http.ResponseWriter
	status int
}

func (rw *responseRecorder) WriteHeader(status int) {
	if rw.status == 0 {
		rw.status = status
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *responseRecorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rw *responseRecorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// recoverPanics turns a panic anywhere below into a logged 500 with a GraphQL-shaped body.
// Resolver panics never get here: gqlgen recovers those into field errors.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &responseRecorder{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				// net/http's way to drop the connection quietly; let it do so.
				panic(p)
			}
			log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Any("panic", p),
				slog.String("stack", string(debug.Stack())))
			if rec.status == 0 {
				apperr.Write(rec, r, apperr.CodeInternal, msgInternal)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request ID id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the ID of the request ctx belongs to, or "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

const requestIDHeader = "X-Request-Id"

// requestContext gives a request what any handler may read from its context, in one
// copy of the request (r.WithContext copies all of it, about 300 bytes, for a kept answer
// too): its ID, a caller's X-Request-Id when it is safe to log and echo, so that one ID
// follows a request through a proxy, or a new one; the address it came from for the rate
// limits, believing X-Forwarded-For only from the trusted proxies; and, unless it upgrades
// to a WebSocket (whose operations answer in messages, not headers), the record of the
// tightest rate-limit budget it spends (see ratelimit.Spent), whose RateLimit headers are
// set just before the status is written.
func requestContext(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !saneRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(requestIDHeader, id)
		ctx := ratelimit.WithClient(WithRequestID(r.Context(), id), ratelimit.ClientAddr(r, trusted))
		if !isWebSocketUpgrade(r) {
			var spent *ratelimit.Spent
			ctx, spent = ratelimit.WithSpent(ctx)
			w = &spentWriter{ResponseWriter: w, spent: spent}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// accessLog logs one line per request and records its metrics. Headers, query strings
// and bodies stay out: they carry tokens, passwords, emails and GraphQL variables. The
// line has the operation name, which the GraphQL layer notes, and the request's SQL
// statement count.
func accessLog(log *slog.Logger, m *telemetry.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &countingRecorder{responseRecorder: responseRecorder{ResponseWriter: w}}
		ctx, record := withRecord(r.Context())
		ctx, statements := dbstats.WithCounter(ctx)
		// Kept so that the route ServeMux sets on it can be read afterwards.
		inner := r.WithContext(ctx)
		completed := false
		// Deferred so that a panicking request is logged too, as the 500 that
		// recoverPanics is about to send.
		defer func() {
			status := rec.status
			switch {
			case !completed:
				status = http.StatusInternalServerError
			case status == 0:
				status = http.StatusOK
			}
			d := time.Since(start)
			route := routeOf(inner)
			upgrade := r.Header.Get("Upgrade") != ""
			attrs := []slog.Attr{
				slog.String("request_id", RequestID(ctx)),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.String("operation", record.op()),
				slog.Int64("sql_statements", statements.Count()),
				slog.Int64("bytes", rec.bytes),
				slog.String("remote_addr", remoteAddr(ctx, r)),
			}
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
				endHTTPSpan(ctx, r.Method, route, status)
			}
			log.LogAttrs(ctx, slog.LevelInfo, "http request", attrs...)
			// A WebSocket's time is the connection's life, not an answer's.
			if !upgrade {
				m.ObserveHTTP(route, r.Method, status, d)
			}
		}()
		next.ServeHTTP(rec, inner)
		completed = true
	})
}

// What a browser may send cross-origin: the headers Apollo Client sends (its CSRF
// guard apollo-require-preflight, the operation name, client awareness) besides the
// token, our request ID and the cost receipt's switch. What its scripts may read: the
// request ID, and the rate-limit fields a client paces itself by, which are not among
// the response headers browsers show scripts unasked.
const (
	corsAllowMethods = "GET, POST"
	corsAllowHeaders = "Authorization, Content-Type, Apollo-Require-Preflight, X-Apollo-Operation-Name, " +
		"Apollographql-Client-Name, Apollographql-Client-Version, X-Request-Id, " + costHeader + ", " + MinLSNHeader
	corsExposeHeaders = requestIDHeader + ", Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy"
	corsMaxAge        = 600
)

// cors allows the listed origins, compared exactly, with credentials: the origin is
// echoed, never "*". An origin not listed gets no CORS headers, and its browser
// withholds the response.
func cors(origins []string, next http.Handler) http.Handler {
	allowed := slices.Clone(origins)
	maxAge := strconv.Itoa(corsMaxAge)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Responses differ by Origin, so caches must key on it even when it is absent.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		ok := origin != "" && slices.Contains(allowed, origin)
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", maxAge)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		next.ServeHTTP(w, r)
	})
}

// checkGraphQLRequest refuses what /graphql never serves: methods other than GET and POST,
// and POST bodies that are not JSON.
func checkGraphQLRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodPost:
			if !isJSON(r.Header.Get("Content-Type")) {
				apperr.Write(w, r, apperr.CodeUnsupportedMediaType,
					"Content-Type must be application/json")
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			apperr.Write(w, r, apperr.CodeMethodNotAllowed,
				"use POST, or GET for queries")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody reads the whole body up front, at most limit bytes, so that an oversize body is
// answered 413 here rather than surfacing as a read error wherever it is first read.
func limitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			apperr.Write(w, r, apperr.CodeRequestTooLarge, tooLargeMessage(limit))
			return
		}
		// Sized from Content-Length when it is given, so the body is read in one piece.
		var buf bytes.Buffer
		if r.ContentLength > 0 {
			buf.Grow(int(r.ContentLength) + bytes.MinRead)
		}
		_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				apperr.Write(w, r, apperr.CodeRequestTooLarge, tooLargeMessage(limit))
				return
			}
			apperr.Write(w, r, apperr.CodeBadRequest, "could not read the request body")
			return
		}
		r.Body = readBodyBytes{bytes.NewReader(buf.Bytes()), buf.Bytes()}
		next.ServeHTTP(w, r)
	})
}

// readBodyBytes is a body limitBody has read whole; readBody takes its bytes as they are.
type readBodyBytes struct {
	*bytes.Reader
	b []byte
}

func (readBodyBytes) Close() error { return nil }

func tooLargeMessage(limit int64) string {
	return "request body is larger than " + strconv.FormatInt(limit, 10) + " bytes"
}

func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// beforeExecution readies the context a query runs in, in one copy of the request: it
// records what the query reads for the response cache (responses, when not nil), waits
// for the change events a log position it names needs (horizon, when not nil; after
// the record, which bypassing the caches marks), then installs the request's loaders
// (install, when not nil; after the record, so that every value they hold was read
// while recording: an answer is kept only if all it read is known).
func beforeExecution(responses *respcache.Cache, horizon func(context.Context, http.Header) context.Context,
	install func(context.Context) context.Context, next http.Handler,
) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if responses != nil {
			ctx, _ = responses.Record(ctx)
		}
		if horizon != nil {
			ctx = horizon(ctx, r.Header)
		}
		if install != nil {
			ctx = install(ctx)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type spentWriter struct {
	http.ResponseWriter
	spent *ratelimit.Spent
	wrote bool
}

func (w *spentWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.spent.SetHeaders(w.Header())
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *spentWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *spentWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
