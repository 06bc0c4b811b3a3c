package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"inkwell/internal/server"
	"inkwell/internal/telemetry"
)

// BenchmarkObservability prints what logging, metrics and tracing cost one small request
// through the whole chain: tracing off (the default) must cost next to nothing.
func BenchmarkObservability(b *testing.B) {
	body, _ := json.Marshal(map[string]any{"query": `query Typename { __typename }`})
	for _, bc := range []struct {
		name string
		deps func() server.Deps
	}{
		{"log only", func() server.Deps { return server.Deps{} }},
		{"log and metrics (default)", func() server.Deps { return server.Deps{Metrics: telemetry.NewMetrics()} }},
		{"log, metrics and tracing", func() server.Deps {
			// Sampled and recorded, exported nowhere: the cost of making the spans.
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())))
			return server.Deps{Metrics: telemetry.NewMetrics(), TracerProvider: tp}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			deps := bc.deps()
			deps.Schema = realSchema()
			deps.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
			h := server.New(server.Config{}, deps)
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
