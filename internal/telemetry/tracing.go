package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
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
// and OTEL_TRACES_EXPORTER=none keep it off. Spans go out through OpenTelemetry's
// otlptracehttp exporter as OTLP over HTTP (protobuf), the one protocol built in; asking
// for another is an error.
//
// The exporter's endpoint, headers, timeout and compression come through getenv and are
// passed to it as options, which win over what it would read from the process
// environment itself (see exporterOptions). The rest is read from the process
// environment as the SDK documents: the exporter's TLS variables
// (OTEL_EXPORTER_OTLP_CERTIFICATE, …_CLIENT_CERTIFICATE, …_CLIENT_KEY), the sampler's
// (OTEL_TRACES_SAMPLER), the batch processor's (OTEL_BSP_*) and the resource's
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
func TracingFromEnv(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	return tracingFromEnv(ctx, getenv)
}

// tracingFromEnv is TracingFromEnv with more exporter options, applied last; tests
// shorten the retry intervals with them.
func tracingFromEnv(ctx context.Context, getenv func(string) string, extra ...otlptracehttp.Option) (*Tracing, error) {
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
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP traces endpoint %q: want an http:// or https:// URL", endpoint)
	}
	// The exporter posts to scheme://host/path only; anything else in the URL would be
	// dropped without a word.
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("OTLP traces endpoint %q: want no user, query or fragment (credentials go in OTEL_EXPORTER_OTLP_HEADERS)", endpoint)
	}
	// A traces URL without a path means the root (as the specification says); the
	// exporter would put its default /v1/traces there.
	if u.Path == "" {
		u.Path = "/"
	}
	endpoint = u.String()
	opts, err := exporterOptions(endpoint, getenv)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	// Later sources win: the default service name, then what the environment says.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "inkwell")),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, Endpoint: endpoint, shutdown: tp.Shutdown}, nil
}

// exporterOptions turns the endpoint and the exporter's variables read through getenv
// into options, the traces variant of each variable winning: _HEADERS (key=value pairs,
// comma-separated, URL-encoded values), _TIMEOUT (milliseconds one attempt may take,
// default 10000) and _COMPRESSION (gzip or none). Each is passed even when unset, with
// its default, so that getenv alone decides: otlptracehttp reads the same variables from
// the process environment, and an option wins over those. Malformed values are errors
// here, where the exporter would skip them with a log line.
//
// Retries are otlptracehttp's own, left at its defaults: 429, 502, 503, 504 and attempts
// that time out (not refused connections) are retried with exponential backoff from 5 s
// up to 30 s, for at most a minute, and within the batch processor's export timeout
// (OTEL_BSP_EXPORT_TIMEOUT, 30 s). Version 1.44.0 reads a Retry-After as nanoseconds,
// so it waits its own backoff instead.
func exporterOptions(endpoint string, getenv func(string) string) ([]otlptracehttp.Option, error) {
	setting := func(name string) (string, string) {
		for _, n := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + name, "OTEL_EXPORTER_OTLP_" + name} {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return n, v
			}
		}
		return "", ""
	}
	// The URL's scheme also decides TLS: http:// makes the exporter insecure.
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}

	headers := map[string]string{}
	if name, v := setting("HEADERS"); v != "" {
		for pair := range strings.SplitSeq(v, ",") {
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				return nil, fmt.Errorf("%s: %q is not key=value", name, pair)
			}
			k = strings.TrimSpace(k)
			if !isToken(k) {
				return nil, fmt.Errorf("%s: %q is no header name", name, k)
			}
			// Baggage-style percent-encoding: unlike a query, '+' stays '+'.
			val, err := url.PathUnescape(strings.TrimSpace(val))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			headers[k] = val
		}
	}
	opts = append(opts, otlptracehttp.WithHeaders(headers))

	timeout := 10 * time.Second
	if name, v := setting("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("%s=%q: want milliseconds", name, v)
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	opts = append(opts, otlptracehttp.WithTimeout(timeout))

	compression := otlptracehttp.NoCompression
	if name, v := setting("COMPRESSION"); v != "" {
		switch v {
		case "gzip":
			compression = otlptracehttp.GzipCompression
		case "none":
		default:
			return nil, fmt.Errorf("%s=%q: want gzip or none", name, v)
		}
	}
	opts = append(opts, otlptracehttp.WithCompression(compression))
	return opts, nil
}

// isToken reports whether s is a valid HTTP header name (RFC 9110's token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}
