package telemetry

// TracingFromEnvWith lets tests add exporter options, such as shorter retries.
var TracingFromEnvWith = tracingFromEnv
