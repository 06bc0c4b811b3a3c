package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"

	"inkwell/internal/telemetry"
)

// startTracing switches tracing on when the OTEL_* variables ask for it.
func startTracing(ctx context.Context, log *slog.Logger) (*telemetry.Tracing, error) {
	t, err := telemetry.TracingFromEnv(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	if !t.Enabled() {
		return t, nil
	}
	// Export failures (a collector down) are logged, never fatal: serving comes first.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "err", err)
	}))
	otel.SetTracerProvider(t.Provider)
	otel.SetTextMapPropagator(telemetry.Propagator())
	log.Info("tracing", "endpoint", t.Endpoint)
	return t, nil
}

// stopTracing sends the spans still buffered, giving a collector a few seconds at most.
func stopTracing(t *telemetry.Tracing, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		log.Warn("flush traces", "err", err)
	}
}
