package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is the process's OpenTelemetry tracing. Off, its Provider is nil: nothing is
// wrapped, recorded or sent.
type Tracing struct {
	// Provider makes the spans; nil when tracing is off.
	Provider trace.TracerProvider
	// Endpoint is the URL spans are sent to, for the start-up log; "" when off.
	Endpoint string

	shutdown func(context.Context) error
}

// Enabled reports whether spans are recorded and sent.
func (t *Tracing) Enabled() bool { return t != nil && t.Provider != nil }

// Shutdown sends the spans still buffered and stops, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Propagator reads and writes W3C trace context and baggage headers, so that a trace
// started by a proxy or client continues here.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// TracingFromEnv sets tracing up from the standard OpenTelemetry variables read through
// getenv. It is off unless asked for, by OTEL_TRACES_EXPORTER=otlp or by an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true
// and OTEL_TRACES_EXPORTER=none keep it off. Spans go out as OTLP over HTTP (protobuf),
// the one protocol built in; asking for another is an error. The exporter, sampler,
// batch processor and resource read their other OTEL_* variables (OTEL_TRACES_SAMPLER,
// OTEL_BSP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) from the process environment
// as the SDK documents; the exporter's headers, timeout and compression come through
// getenv (see newOTLPExporter).
func TracingFromEnv(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return &Tracing{}, nil
	}
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if endpoint == "" {
		if base := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); base != "" {
			// The generic endpoint is a base URL; each signal adds its own path.
			endpoint = strings.TrimRight(base, "/") + "/v1/traces"
		}
	}
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "none":
		return &Tracing{}, nil
	case "":
		if endpoint == "" {
			return &Tracing{}, nil
		}
	case "otlp":
		if endpoint == "" {
			endpoint = "http://localhost:4318/v1/traces"
		}
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: only otlp and none are supported", exporter)
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(name)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s=%q: only http/protobuf is supported", name, p)
			}
			break
		}
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP traces endpoint %q: want an http:// or https:// URL", endpoint)
	}
	exp, err := newOTLPExporter(endpoint, getenv)
	if err != nil {
		return nil, err
	}
	// Later sources win: the default service name, then what the environment says.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "inkwell")),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Endpoint: endpoint, shutdown: tp.Shutdown}, nil
}
