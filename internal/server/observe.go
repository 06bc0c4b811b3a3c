package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"inkwell/internal/dbstats"
	"inkwell/internal/ratelimit"
	"inkwell/internal/telemetry"
)

const tracerName = "inkwell/internal/server"

// requestRecord is what the layers of one request tell its access log line.
type requestRecord struct {
	mu        sync.Mutex
	operation string
}

type recordKey struct{}

func withRecord(ctx context.Context) (context.Context, *requestRecord) {
	rec := &requestRecord{}
	return context.WithValue(ctx, recordKey{}, rec), rec
}

// noteOperation records the request's operation name. A WebSocket carries many
// operations; its line names the first.
func noteOperation(ctx context.Context, name string) {
	rec, _ := ctx.Value(recordKey{}).(*requestRecord)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	if rec.operation == "" {
		rec.operation = name
	}
	rec.mu.Unlock()
}

func (rec *requestRecord) op() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.operation
}

// countingRecorder is responseRecorder that also counts the bytes of the body.
type countingRecorder struct {
	responseRecorder
	bytes int64
}

func (rw *countingRecorder) Write(b []byte) (int, error) {
	n, err := rw.responseRecorder.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// remoteAddr is the client's address as resolved through trusted proxies, else the
// connection's peer.
func remoteAddr(ctx context.Context, r *http.Request) string {
	if a := ratelimit.ClientFrom(ctx); a.IsValid() {
		return a.String()
	}
	return r.RemoteAddr
}

// traceHTTP starts a server span per request, continuing a trace whose context the
// caller sent (traceparent). With no provider, tracing is off and nothing is wrapped.
// The access log, inside, names the span after the route and sets its status: only it
// knows both. (otelhttp would do this too, at 1.6 MB of binary the image cannot spare.)
func traceHTTP(tp trace.TracerProvider, next http.Handler) http.Handler {
	if tp == nil {
		return next
	}
	tracer := tp.Tracer(tracerName)
	propagator := telemetry.Propagator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		// The query string stays out, as in the log: it may carry tokens.
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", r.Method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("url.scheme", scheme),
			attribute.String("network.protocol.version", fmt.Sprintf("%d.%d", r.ProtoMajor, r.ProtoMinor)),
			attribute.String("user_agent.original", r.UserAgent()),
		))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// endHTTPSpan names the request's span after its route and records its status.
func endHTTPSpan(ctx context.Context, method, route string, status int) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if route != "" {
		span.SetName(method + " " + route)
		span.SetAttributes(attribute.String("http.route", route))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
}

// routeOf is the ServeMux pattern that served r, without its method: a label of bounded
// cardinality, unlike the path.
func routeOf(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// observeOperations is the gqlgen extension that measures each operation, names it for
// the access log, counts response errors by code and, when tracing, gives each operation
// a span.
type observeOperations struct {
	metrics *telemetry.Metrics
	tracer  trace.Tracer // nil: no spans
}

var (
	_ graphql.HandlerExtension     = observeOperations{}
	_ graphql.OperationInterceptor = observeOperations{}
	_ graphql.ResponseInterceptor  = observeOperations{}
)

func (observeOperations) ExtensionName() string                   { return "ObserveOperations" }
func (observeOperations) Validate(graphql.ExecutableSchema) error { return nil }
func (o observeOperations) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	name, typ := oc.OperationName, "query"
	if oc.Operation != nil {
		typ = string(oc.Operation.Operation)
		if name == "" {
			name = oc.Operation.Name
		}
	}
	noteOperation(ctx, name)
	var span trace.Span
	if o.tracer != nil {
		label := name
		if label == "" {
			label = telemetry.OperationAnonymous
		}
		// The document stays out of the span: literals in it may be passwords or tokens.
		ctx, span = o.tracer.Start(ctx, typ+" "+label, trace.WithAttributes(
			attribute.String("graphql.operation.type", typ),
			attribute.String("graphql.operation.name", name),
		))
	}
	ctx, statements := dbstats.WithCounter(ctx)
	start := time.Now()
	responses := next(ctx)
	if typ == "subscription" {
		// A subscription lives as long as its client wants; its span covers subscribing,
		// and its events are not operations to time.
		if span != nil {
			span.End()
		}
		return responses
	}
	done := false
	return func(ctx context.Context) *graphql.Response {
		resp := responses(ctx)
		if done {
			return resp
		}
		done = true
		o.metrics.ObserveOperation(name, typ, time.Since(start), statements.Count())
		if span != nil {
			if resp != nil && len(resp.Errors) > 0 {
				span.SetStatus(codes.Error, errorCode(resp.Errors[0].Extensions))
			}
			span.SetAttributes(attribute.Int64("db.statements", statements.Count()))
			span.End()
		}
		return resp
	}
}

// InterceptResponse counts the errors of every response, those of requests refused
// before execution (parse, validation, limits) included.
func (o observeOperations) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil && o.metrics != nil {
		for _, e := range resp.Errors {
			o.metrics.CountError(errorCode(e.Extensions))
		}
	}
	return resp
}

func errorCode(ext map[string]any) string {
	code, _ := ext["code"].(string)
	return code
}

// traceResolvers gives a span to each field that runs a resolver; fields read straight
// from a struct, most of them, get none. Installed only when tracing is on, so that
// otherwise fields run with no interceptor at all.
type traceResolvers struct {
	tracer trace.Tracer
}

var _ graphql.FieldInterceptor = traceResolvers{}

func (traceResolvers) ExtensionName() string                   { return "TraceResolvers" }
func (traceResolvers) Validate(graphql.ExecutableSchema) error { return nil }
func (t traceResolvers) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !fc.IsResolver {
		return next(ctx)
	}
	ctx, span := t.tracer.Start(ctx, fc.Object+"."+fc.Field.Name, trace.WithAttributes(
		attribute.String("graphql.field.path", fc.Path().String()),
	))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "resolver failed")
	}
	return res, err
}

// observeGraphQL adds the extensions that measure and trace operations to srv.
func observeGraphQL(srv interface {
	Use(graphql.HandlerExtension)
}, m *telemetry.Metrics, tp trace.TracerProvider) {
	if tp == nil {
		srv.Use(observeOperations{metrics: m})
		return
	}
	tracer := tp.Tracer(tracerName)
	srv.Use(observeOperations{metrics: m, tracer: tracer})
	srv.Use(traceResolvers{tracer: tracer})
}
