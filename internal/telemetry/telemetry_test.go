package telemetry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"inkwell/internal/buildinfo"
	"inkwell/internal/telemetry"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestTracingFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		env      map[string]string
		on       bool
		endpoint string
		err      string
	}{
		{name: "off by default", env: nil},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "SDK disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "exporter otlp", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, on: true, endpoint: "http://localhost:4318/v1/traces"},
		{name: "an endpoint alone", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, on: true, endpoint: "http://collector:4318/v1/traces"},
		{name: "the traces endpoint wins", env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/v1/t",
		}, on: true, endpoint: "https://traces.example/v1/t"},
		{name: "http/protobuf", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true, endpoint: "http://localhost:4318/v1/traces"},
		{name: "bad headers", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, err: "key=value"},
		{name: "bad timeout", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon"}, err: "milliseconds"},
		{name: "grpc is not built in", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: "only http/protobuf"},
		{name: "the traces protocol wins", env: map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		}, err: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{name: "another exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "only otlp and none"},
		{name: "an endpoint that is no URL", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, err: "want an http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, err := telemetry.TracingFromEnv(context.Background(), env(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tr.Shutdown(context.Background()) }()
			if tr.Enabled() != tc.on || tr.Endpoint != tc.endpoint {
				t.Fatalf("enabled %v at %q, want %v at %q", tr.Enabled(), tr.Endpoint, tc.on, tc.endpoint)
			}
			if !tc.on && tr.Provider != nil {
				t.Fatal("tracing is off but there is a provider")
			}
		})
	}
}

// TestTracingExportsOverOTLPHTTP sends a span to a loopback OTLP/HTTP receiver.
func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies [][]byte
		got    = make(chan struct{}, 1)
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" ||
			r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("Content-Encoding") != "gzip" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(zr)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		select {
		case got <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(collector.Close)

	tr, err := telemetry.TracingFromEnv(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    collector.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":     "Authorization=Bearer%20s3cret",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		"OTEL_EXPORTER_OTLP_TIMEOUT":     "5000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("tracing is off")
	}
	tracer := tr.Provider.Tracer("test")
	ctx, parent := tracer.Start(context.Background(), "parent-span", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(ctx, "child-span", trace.WithAttributes(attribute.Int("n", 7), attribute.StringSlice("tags", []string{"a", "b"})))
	child.SetStatus(codes.Error, "boom")
	child.End()
	parent.End()
	wait, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown flushes the batch: the spans must reach the receiver before it returns.
	if err := tr.Shutdown(wait); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-wait.Done():
		t.Fatal("no export within 10s")
	}
	mu.Lock()
	defer mu.Unlock()
	spans := map[string]*tracepb.Span{}
	for _, b := range bodies {
		var req collectorpb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			t.Fatalf("the body is no ExportTraceServiceRequest: %v", err)
		}
		for _, rs := range req.ResourceSpans {
			var service string
			for _, kv := range rs.Resource.Attributes {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			if service != "inkwell" {
				t.Errorf("service.name = %q", service)
			}
			for _, ss := range rs.ScopeSpans {
				if ss.Scope.Name != "test" {
					t.Errorf("scope %q", ss.Scope.Name)
				}
				for _, sp := range ss.Spans {
					spans[sp.Name] = sp
				}
			}
		}
	}
	p, c := spans["parent-span"], spans["child-span"]
	if p == nil || c == nil {
		t.Fatalf("exported spans: %v", spans)
	}
	if !bytes.Equal(c.ParentSpanId, p.SpanId) || !bytes.Equal(c.TraceId, p.TraceId) || len(p.ParentSpanId) != 0 {
		t.Errorf("child %x/%x under %x, parent %x/%x", c.TraceId, c.SpanId, c.ParentSpanId, p.TraceId, p.SpanId)
	}
	if p.Kind != tracepb.Span_SPAN_KIND_SERVER || c.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("kinds %v, %v", p.Kind, c.Kind)
	}
	if c.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || c.Status.GetMessage() != "boom" {
		t.Errorf("child status %v", c.Status)
	}
	if c.EndTimeUnixNano < c.StartTimeUnixNano || c.StartTimeUnixNano == 0 {
		t.Errorf("child times %d..%d", c.StartTimeUnixNano, c.EndTimeUnixNano)
	}
	attrs := map[string]*commonpb.AnyValue{}
	for _, kv := range c.Attributes {
		attrs[kv.Key] = kv.Value
	}
	if attrs["n"].GetIntValue() != 7 || len(attrs["tags"].GetArrayValue().GetValues()) != 2 {
		t.Errorf("child attributes %v", c.Attributes)
	}
}

// A collector that refuses a batch for good (4xx) costs an error, not a retry.
func TestTracingExportFailureIsAnError(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		attempts.Add(1)
		http.Error(w, "no", http.StatusBadRequest)
	}))
	t.Cleanup(collector.Close)
	tr, err := telemetry.TracingFromEnv(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.URL + "/v1/traces",
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Provider.Tracer("test").Start(context.Background(), "lost")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Provider.(interface{ ForceFlush(context.Context) error }).ForceFlush(ctx); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("flush err = %v, want the collector's 400", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts at a batch refused for good, want 1", n)
	}
	_ = tr.Shutdown(ctx)
}

// A collector that is briefly unavailable (503) gets the batch again, after the wait it
// asks for: a restart of the collector loses no spans. One that stays unavailable costs
// an error once the export timeout has passed.
func TestTracingExportRetriesAnUnavailableCollector(t *testing.T) {
	t.Parallel()
	collector := func(t *testing.T, refusals int) (string, func() (int, []string)) {
		var (
			mu       sync.Mutex
			attempts int
			spans    []string
		)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			attempts++
			if attempts <= refusals {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "restarting", http.StatusServiceUnavailable)
				return
			}
			b, _ := io.ReadAll(r.Body)
			var req collectorpb.ExportTraceServiceRequest
			if err := proto.Unmarshal(b, &req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, rs := range req.ResourceSpans {
				for _, ss := range rs.ScopeSpans {
					for _, sp := range ss.Spans {
						spans = append(spans, sp.Name)
					}
				}
			}
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/v1/traces", func() (int, []string) {
			mu.Lock()
			defer mu.Unlock()
			return attempts, spans
		}
	}
	send := func(t *testing.T, endpoint, timeout string) error {
		tr, err := telemetry.TracingFromEnv(context.Background(), env(map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
			"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":  timeout,
		}))
		if err != nil {
			t.Fatal(err)
		}
		_, span := tr.Provider.Tracer("test").Start(context.Background(), "kept")
		span.End()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = tr.Provider.(interface{ ForceFlush(context.Context) error }).ForceFlush(ctx)
		_ = tr.Shutdown(ctx)
		return err
	}

	t.Run("a restart loses nothing", func(t *testing.T) {
		t.Parallel()
		endpoint, got := collector(t, 1)
		start := time.Now()
		if err := send(t, endpoint, "5000"); err != nil {
			t.Fatal(err)
		}
		attempts, spans := got()
		if attempts != 2 || len(spans) != 1 || spans[0] != "kept" {
			t.Fatalf("%d attempts, spans %v; want a retry delivering [kept]", attempts, spans)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("retried after %v, before the Retry-After of 1s", d)
		}
	})

	t.Run("a collector that stays away is an error within the timeout", func(t *testing.T) {
		t.Parallel()
		endpoint, got := collector(t, 1<<30)
		start := time.Now()
		if err := send(t, endpoint, "2500"); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err = %v, want the collector's 503", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %v with a 2.5s timeout", d)
		}
		if attempts, _ := got(); attempts < 2 {
			t.Errorf("%d attempts, want retries", attempts)
		}
	})
}

func TestOperationLabelsAreBounded(t *testing.T) {
	t.Parallel()
	m := telemetry.NewMetrics()
	if got := m.OperationLabel(""); got != telemetry.OperationAnonymous {
		t.Errorf("empty name labelled %q", got)
	}
	for i := range telemetry.MaxOperationNames {
		name := fmt.Sprintf("Op%d", i)
		if got := m.OperationLabel(name); got != name {
			t.Fatalf("label of %s = %q", name, got)
		}
	}
	if got := m.OperationLabel("OneTooMany"); got != telemetry.OperationOther {
		t.Errorf("name past the cap labelled %q", got)
	}
	if got := m.OperationLabel("Op7"); got != "Op7" {
		t.Errorf("a known name lost its label: %q", got)
	}
}

func TestMetricsOnANilReceiverDoNothing(t *testing.T) {
	t.Parallel()
	var m *telemetry.Metrics
	m.ObserveHTTP("/graphql", "GET", 200, time.Millisecond)
	m.ObserveOperation("Op", "query", time.Millisecond, 3)
	m.CountError("X")
	m.ObserveBatch("UserByID", 3)
}

func TestBuildInfoMetric(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	telemetry.Handler(telemetry.NewMetrics().Registry).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b := buildinfo.Get()
	want := fmt.Sprintf(`inkwell_build_info{build_date=%q,commit=%q,goversion=%q,version=%q} 1`, b.Date, b.Commit, b.GoVersion, b.Version)
	if !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}
