// Package telemetry serves the operator's endpoints on their own listen address, apart
// from the API: Prometheus metrics at /metrics and Go's profiler at /debug/pprof/.
package telemetry

import (
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"inkwell/internal/dbstats"
)

// Registry holds Inkwell's metrics: Go runtime and process figures, and the number of
// SQL statements sent, so load runs can report statements per request from the server's
// own count.
func Registry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_sql_statements_total",
			Help: "SQL statements sent to PostgreSQL since the process started.",
		}, func() float64 { return float64(dbstats.Total()) }),
	)
	return r
}

// Handler serves /metrics from reg and the profiler under /debug/pprof/.
func Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
