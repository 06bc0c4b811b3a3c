package telemetry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
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
		{name: "a traces endpoint without a path is the root", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example:4318"}, on: true, endpoint: "https://traces.example:4318/"},
		{name: "http/protobuf", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, on: true, endpoint: "http://localhost:4318/v1/traces"},
		{name: "headers, timeout and compression", env: map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "a=1, b = x%2Cy", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
		}, on: true, endpoint: "http://localhost:4318/v1/traces"},
		{name: "bad headers", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, err: "OTEL_EXPORTER_OTLP_HEADERS: \"novalue\" is not key=value"},
		{name: "a bad header name", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x tenant=1"}, err: "OTEL_EXPORTER_OTLP_TRACES_HEADERS: \"x tenant\" is no header name"},
		{name: "a bad header value", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "a=%zz"}, err: "OTEL_EXPORTER_OTLP_HEADERS: invalid URL escape"},
		{name: "bad timeout", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "soon"}, err: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=\"soon\": want milliseconds"},
		{name: "bad compression", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, err: "OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\": want gzip or none"},
		{name: "grpc is not built in", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, err: "OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\": only http/protobuf"},
		{name: "the traces protocol wins", env: map[string]string{
			"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		}, err: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"http/json\": only http/protobuf"},
		{name: "another exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "only otlp and none"},
		{name: "an endpoint that is no URL", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, err: "OTLP traces endpoint \"collector:4318/v1/traces\": want an http"},
		{name: "an endpoint without a host", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http:///v1/traces"}, err: "want an http"},
		{name: "an endpoint with a query", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/v1/traces?key=s3cret"}, err: "want no user, query or fragment"},
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

// collector is a loopback OTLP/HTTP receiver that records every request it gets.
type collector struct {
	url string

	mu       sync.Mutex
	requests []received
}

type received struct {
	path     string
	header   http.Header
	status   int
	body     *collectorpb.ExportTraceServiceRequest
	spanName []string
}

// startCollector answers the nth request (from 1) with status(n).
func startCollector(t *testing.T, status func(n int) int) *collector {
	t.Helper()
	c := &collector{}
	srv := httptest.NewServer(c.handler(status))
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func (c *collector) handler(status func(n int) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := &collectorpb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			http.Error(w, "the body is no ExportTraceServiceRequest: "+err.Error(), http.StatusBadRequest)
			return
		}
		var names []string
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					names = append(names, sp.Name)
				}
			}
		}
		c.mu.Lock()
		n := len(c.requests) + 1
		st := status(n)
		c.requests = append(c.requests, received{path: r.URL.Path, header: r.Header.Clone(), status: st, body: req, spanName: names})
		c.mu.Unlock()
		if st != http.StatusOK {
			http.Error(w, "refused", st)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

func (c *collector) received() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.requests...)
}

func always(status int) func(int) int { return func(int) int { return status } }

// fastRetry keeps the exporter's retries but shortens them, so a test waits milliseconds
// where production waits seconds.
var fastRetry = otlptracehttp.WithRetry(otlptracehttp.RetryConfig{
	Enabled: true, InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsedTime: 2 * time.Second,
})

// flush ends a span named name and sends it, returning the export's error.
func flush(t *testing.T, tr *telemetry.Tracing, name string) error {
	t.Helper()
	_, span := tr.Provider.Tracer("test").Start(context.Background(), name)
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := tr.Provider.(interface{ ForceFlush(context.Context) error }).ForceFlush(ctx)
	if serr := tr.Shutdown(ctx); serr != nil {
		t.Errorf("shutdown: %v", serr)
	}
	return err
}

// TestTracingExportsOverOTLPHTTP sends spans to a loopback OTLP/HTTP receiver, with the
// headers and compression the variables ask for.
func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	t.Parallel()
	c := startCollector(t, always(http.StatusOK))
	tr, err := telemetry.TracingFromEnv(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    c.url,
		"OTEL_EXPORTER_OTLP_HEADERS":     "Authorization=Bearer%20s3cret+x,X-Tenant=t1",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
		"OTEL_EXPORTER_OTLP_TIMEOUT":     "5000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() || tr.Endpoint != c.url+"/v1/traces" {
		t.Fatalf("enabled %v at %q", tr.Enabled(), tr.Endpoint)
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
	reqs := c.received()
	if len(reqs) == 0 {
		t.Fatal("nothing reached the collector")
	}
	spans := map[string]*tracepb.Span{}
	for _, r := range reqs {
		if r.path != "/v1/traces" || r.header.Get("Content-Type") != "application/x-protobuf" || r.header.Get("Content-Encoding") != "gzip" {
			t.Errorf("request to %s, Content-Type %q, Content-Encoding %q", r.path, r.header.Get("Content-Type"), r.header.Get("Content-Encoding"))
		}
		// URL-decoded, and a '+' stays a '+' (baggage encoding, not a query's).
		if got := r.header.Get("Authorization"); got != "Bearer s3cret+x" {
			t.Errorf("Authorization: %q", got)
		}
		if got := r.header.Get("X-Tenant"); got != "t1" {
			t.Errorf("X-Tenant: %q", got)
		}
		for _, rs := range r.body.ResourceSpans {
			if service := serviceName(rs); service != "inkwell" {
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
	p, ch := spans["parent-span"], spans["child-span"]
	if p == nil || ch == nil {
		t.Fatalf("exported spans: %v", spans)
	}
	if !bytes.Equal(ch.ParentSpanId, p.SpanId) || !bytes.Equal(ch.TraceId, p.TraceId) || len(p.ParentSpanId) != 0 {
		t.Errorf("child %x/%x under %x, parent %x/%x", ch.TraceId, ch.SpanId, ch.ParentSpanId, p.TraceId, p.SpanId)
	}
	if p.Kind != tracepb.Span_SPAN_KIND_SERVER || ch.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Errorf("kinds %v, %v", p.Kind, ch.Kind)
	}
	if ch.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || ch.Status.GetMessage() != "boom" {
		t.Errorf("child status %v", ch.Status)
	}
	attrs := map[string]*commonpb.AnyValue{}
	for _, kv := range ch.Attributes {
		attrs[kv.Key] = kv.Value
	}
	if attrs["n"].GetIntValue() != 7 || len(attrs["tags"].GetArrayValue().GetValues()) != 2 {
		t.Errorf("child attributes %v", ch.Attributes)
	}
}

func serviceName(rs *tracepb.ResourceSpans) string {
	for _, kv := range rs.GetResource().GetAttributes() {
		if kv.Key == "service.name" {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// The exporter reads the OTEL_EXPORTER_OTLP_* variables from the process environment
// too; what getenv says must win, and what it leaves unset must stay at the default
// rather than come from the process. Not parallel: it sets the process environment.
func TestTracingGetenvWinsOverTheProcessEnvironment(t *testing.T) {
	decoy := startCollector(t, always(http.StatusOK))
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", decoy.url)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", decoy.url+"/v1/traces")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=from-the-process")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1") // 1 ms: every attempt at the slow collector would time out
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "false")

	for _, tc := range []struct {
		name    string
		headers string
		want    http.Header
	}{
		{name: "headers from getenv", headers: "X-Tenant=t1", want: http.Header{"X-Tenant": {"t1"}}},
		{name: "no headers in getenv", want: http.Header{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCollector(t, func(int) int {
				time.Sleep(50 * time.Millisecond)
				return http.StatusOK
			})
			tr, err := telemetry.TracingFromEnvWith(context.Background(), env(map[string]string{
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.url,
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS":  tc.headers,
			}), fastRetry)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Endpoint != c.url+"/" {
				t.Errorf("endpoint %q", tr.Endpoint)
			}
			if err := flush(t, tr, "mine"); err != nil {
				t.Fatal(err)
			}
			reqs := c.received()
			if len(reqs) != 1 || len(reqs[0].spanName) != 1 || reqs[0].spanName[0] != "mine" {
				t.Fatalf("received %+v, want one request with the span", reqs)
			}
			r := reqs[0]
			// A traces URL without a path is sent to the root, as given.
			if r.path != "/" {
				t.Errorf("sent to %q", r.path)
			}
			if enc := r.header.Get("Content-Encoding"); enc != "" {
				t.Errorf("Content-Encoding %q, want none", enc)
			}
			for _, k := range []string{"Authorization", "X-Tenant"} {
				if got, want := r.header.Get(k), tc.want.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
		})
	}
	if n := len(decoy.received()); n != 0 {
		t.Errorf("%d requests went to the process environment's endpoint", n)
	}
}

// The exporter reads its TLS variables from the process environment itself: a collector
// whose certificate only OTEL_EXPORTER_OTLP_CERTIFICATE vouches for is reached with it and
// refused without. Not parallel: it sets the process environment.
func TestTracingTrustsTheCertificateVariable(t *testing.T) {
	c := &collector{}
	srv := httptest.NewTLSServer(c.handler(always(http.StatusOK)))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func() error {
		tr, err := telemetry.TracingFromEnvWith(context.Background(), env(map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces",
		}), fastRetry)
		if err != nil {
			t.Fatal(err)
		}
		return flush(t, tr, "over-tls")
	}
	if err := send(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: err = %v, want a certificate error", err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)
	if err := send(); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	if reqs := c.received(); len(reqs) != 1 || len(reqs[0].spanName) != 1 || reqs[0].spanName[0] != "over-tls" {
		t.Fatalf("received %+v, want one request with the span", reqs)
	}
}

// A collector that refuses a batch for good (4xx) costs an error, not a retry.
func TestTracingExportFailureIsAnError(t *testing.T) {
	t.Parallel()
	c := startCollector(t, always(http.StatusBadRequest))
	tr, err := telemetry.TracingFromEnvWith(context.Background(), env(map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.url + "/v1/traces",
	}), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	if err := flush(t, tr, "lost"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("flush err = %v, want the collector's 400", err)
	}
	if n := len(c.received()); n != 1 {
		t.Errorf("%d attempts at a batch refused for good, want 1", n)
	}
}

// A collector that is briefly unavailable (503) gets the batch again: a restart of the
// collector loses no spans. One that stays unavailable costs an error once the retries
// are spent.
func TestTracingExportRetriesAnUnavailableCollector(t *testing.T) {
	t.Parallel()
	t.Run("a restart loses nothing", func(t *testing.T) {
		t.Parallel()
		c := startCollector(t, func(n int) int {
			if n == 1 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		tr, err := telemetry.TracingFromEnvWith(context.Background(), env(map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.url + "/v1/traces",
		}), fastRetry)
		if err != nil {
			t.Fatal(err)
		}
		if err := flush(t, tr, "kept"); err != nil {
			t.Fatal(err)
		}
		reqs := c.received()
		if len(reqs) != 2 || reqs[0].status != http.StatusServiceUnavailable || reqs[1].status != http.StatusOK {
			t.Fatalf("%d attempts: %+v; want a 503, then a 200", len(reqs), reqs)
		}
		r := reqs[1]
		if len(r.spanName) != 1 || r.spanName[0] != "kept" || serviceName(r.body.ResourceSpans[0]) != "inkwell" {
			t.Errorf("the retry delivered %v of %q, want [kept] of inkwell", r.spanName, serviceName(r.body.ResourceSpans[0]))
		}
		// Unless asked, no compression.
		if enc := r.header.Get("Content-Encoding"); enc != "" {
			t.Errorf("Content-Encoding %q", enc)
		}
	})

	t.Run("a collector that stays away is an error once the retries are spent", func(t *testing.T) {
		t.Parallel()
		c := startCollector(t, always(http.StatusServiceUnavailable))
		tr, err := telemetry.TracingFromEnvWith(context.Background(), env(map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.url + "/v1/traces",
		}), fastRetry)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := flush(t, tr, "lost"); err == nil || !strings.Contains(err.Error(), "max retry time") {
			t.Fatalf("err = %v, want the retries spent", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("gave up after %v with retries bounded to 2s", d)
		}
		if n := len(c.received()); n < 2 {
			t.Errorf("%d attempts, want retries", n)
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
