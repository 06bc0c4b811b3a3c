package telemetry

import (
	"database/sql"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"inkwell/internal/buildinfo"
	"inkwell/internal/cache"
	"inkwell/internal/dbroute"
	"inkwell/internal/dbstats"
	"inkwell/internal/respcache"
)

// Labels standing for many values, so that clients cannot grow the number of series.
const (
	// OperationAnonymous labels operations without a name.
	OperationAnonymous = "anonymous"
	// OperationOther labels named operations past the first MaxOperationNames.
	OperationOther = "other"
	// RouteUnmatched labels requests no route served.
	RouteUnmatched = "unmatched"
)

// MaxOperationNames is how many distinct operation names get a label of their own. Names
// come from clients; past this many, new ones share OperationOther. Real clients send a
// fixed set (with an allow-list, exactly the manifest's), far below it.
const MaxOperationNames = 200

// Metrics holds one server's metrics in a registry of its own. Its methods do nothing on
// a nil *Metrics, so the server runs without.
type Metrics struct {
	// Registry gathers everything below, with Go runtime and process figures.
	Registry *prometheus.Registry

	httpDuration *prometheus.HistogramVec
	opDuration   *prometheus.HistogramVec
	errors       *prometheus.CounterVec
	opStatements *prometheus.HistogramVec
	batchSize    *prometheus.HistogramVec

	mu    sync.Mutex
	names map[string]bool
}

// NewMetrics registers Inkwell's metrics in a new registry.
func NewMetrics() *Metrics {
	latency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "inkwell_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status. WebSocket connections are left out.",
			Buckets: latency,
		}, []string{"route", "method", "status"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "inkwell_graphql_operation_duration_seconds",
			Help:    "Time to execute a GraphQL query or mutation, by operation name and type.",
			Buckets: latency,
		}, []string{"operation", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "inkwell_graphql_errors_total",
			Help: "Errors in GraphQL responses, by extensions.code.",
		}, []string{"code"}),
		opStatements: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "inkwell_sql_statements_per_operation",
			Help:    "SQL statements one GraphQL query or mutation sent, by operation name.",
			Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 100},
		}, []string{"operation"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "inkwell_dataloader_batch_size",
			Help:    "Keys in one dataloader batch (one SQL query), by loader.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500},
		}, []string{"loader"}),
		names: map[string]bool{},
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_sql_statements_total",
			Help: "SQL statements sent to PostgreSQL since the process started.",
		}, func() float64 { return float64(dbstats.Total()) }),
		m.httpDuration, m.opDuration, m.errors, m.opStatements, m.batchSize,
		buildInfo(buildinfo.Get()),
	)
	return m
}

// buildInfo is the constant inkwell_build_info gauge, so that dashboards can tell which
// build each instance runs (and join it to other series by instance).
func buildInfo(b buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "inkwell_build_info",
		Help: "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "commit": b.Commit, "build_date": b.Date, "goversion": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}

// WatchDB adds the connection pool's figures (go_sql_*, with db_name="inkwell").
func (m *Metrics) WatchDB(db *sql.DB) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "inkwell"))
}

// WatchDBNamed adds a replica's connection pool figures, as WatchDB does for the
// primary's, with db_name "inkwell-replica-" + name.
func (m *Metrics) WatchDBNamed(db *sql.DB, name string) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, "inkwell-replica-"+name))
}

// WatchReplicas adds each read replica's state as state reports it:
// inkwell_db_replica_up, inkwell_db_replica_lag_seconds and
// inkwell_db_replica_reads_total, labelled by replica.
func (m *Metrics) WatchReplicas(state func() []dbroute.ReplicaState) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(replicaCollector(state))
}

var (
	replicaUp = prometheus.NewDesc("inkwell_db_replica_up",
		"1 while the read replica is in the rotation: reachable, in recovery, within INKWELL_REPLICA_MAX_LAG.", []string{"replica"}, nil)
	replicaLag = prometheus.NewDesc("inkwell_db_replica_lag_seconds",
		"How long ago the primary wrote the oldest log the replica had not replayed, at the last poll.", []string{"replica"}, nil)
	replicaReads = prometheus.NewDesc("inkwell_db_replica_reads_total",
		"Queries sent to the read replica.", []string{"replica"}, nil)
)

type replicaCollector func() []dbroute.ReplicaState

func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaUp
	ch <- replicaLag
	ch <- replicaReads
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c() {
		up := 0.0
		if r.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(replicaUp, prometheus.GaugeValue, up, r.Name)
		ch <- prometheus.MustNewConstMetric(replicaLag, prometheus.GaugeValue, r.Lag.Seconds(), r.Name)
		ch <- prometheus.MustNewConstMetric(replicaReads, prometheus.CounterValue, float64(r.Reads), r.Name)
	}
}

// WatchSubscriptions adds how many GraphQL subscriptions this instance holds open
// (inkwell_subscriptions), as count reports them, and how many of those are catching up
// after the server held them up (inkwell_subscriptions_catching_up), as catchingUp does.
func (m *Metrics) WatchSubscriptions(count, catchingUp func() int) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "inkwell_subscriptions",
		Help: "GraphQL subscriptions open on this instance.",
	}, func() float64 { return float64(count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "inkwell_subscriptions_catching_up",
			Help: "Subscriptions allowed INKWELL_SUBSCRIPTION_CATCH_UP queued events because the server held them up (a replay, slow event reads).",
		}, func() float64 { return float64(catchingUp()) }))
}

// WatchEvents adds how many events the hub replayed from the event log after its
// listening connection came back (inkwell_events_replayed_total), as replayed reports,
// and how many subscriptions it ended for falling too far behind
// (inkwell_subscriptions_dropped_total), as dropped reports.
func (m *Metrics) WatchEvents(replayed, dropped func() uint64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "inkwell_events_replayed_total",
		Help: "Events delivered from the event log after the listening connection was lost and re-established.",
	}, func() float64 { return float64(replayed()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_subscriptions_dropped_total",
			Help: "Subscriptions ended with SLOW_CONSUMER: their events queued past the allowed buffer.",
		}, func() float64 { return float64(dropped()) }))
}

// WatchCache adds the entity cache's figures (inkwell_entity_cache_*).
func (m *Metrics) WatchCache(c *cache.Cache) {
	if m == nil || c == nil {
		return
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_entity_cache_hits_total",
			Help: "Reads answered by the entity cache.",
		}, func() float64 { return float64(c.Stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_entity_cache_misses_total",
			Help: "Reads the entity cache could not answer (loaded from PostgreSQL).",
		}, func() float64 { return float64(c.Stats().Misses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "inkwell_entity_cache_bytes",
			Help: "Estimated size of the entity cache's values.",
		}, func() float64 { return float64(c.Stats().Bytes) }),
	)
}

// WatchResponses adds the response cache's figures (inkwell_response_cache_*).
func (m *Metrics) WatchResponses(c *respcache.Cache) {
	if m == nil || c == nil {
		return
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_response_cache_hits_total",
			Help: "Queries answered with a kept response, without executing them.",
		}, func() float64 { return float64(c.Stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_response_cache_misses_total",
			Help: "Queries executed because no fresh response was kept for them.",
		}, func() float64 { return float64(c.Stats().Misses) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "inkwell_response_cache_refused_total",
			Help: "Query responses not kept: they read what no cache key names, or a write changed what they read.",
		}, func() float64 { return float64(c.Stats().Refused) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "inkwell_response_cache_bytes",
			Help: "Bytes of the kept responses.",
		}, func() float64 { return float64(c.Stats().Bytes) }),
	)
}

// ObserveHTTP records one answered request. route is the pattern that served it, or ""
// for none; method is folded to the standard ones.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = RouteUnmatched
	}
	m.httpDuration.WithLabelValues(route, httpMethod(method), strconv.Itoa(status)).Observe(d.Seconds())
}

// ObserveOperation records one executed query or mutation: its time and its statements.
func (m *Metrics) ObserveOperation(name, typ string, d time.Duration, statements int64) {
	if m == nil {
		return
	}
	op := m.OperationLabel(name)
	m.opDuration.WithLabelValues(op, typ).Observe(d.Seconds())
	m.opStatements.WithLabelValues(op).Observe(float64(statements))
}

// CountError counts one error of a GraphQL response by its code.
func (m *Metrics) CountError(code string) {
	if m == nil {
		return
	}
	if code == "" {
		code = "UNKNOWN"
	}
	m.errors.WithLabelValues(code).Inc()
}

// ObserveBatch records the size of one dataloader batch.
func (m *Metrics) ObserveBatch(loader string, keys int) {
	if m == nil {
		return
	}
	m.batchSize.WithLabelValues(loader).Observe(float64(keys))
}

// OperationLabel is the label of operation name: itself for the first MaxOperationNames
// names seen, OperationOther after, OperationAnonymous when empty.
func (m *Metrics) OperationLabel(name string) string {
	if name == "" {
		return OperationAnonymous
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if len(m.names) >= MaxOperationNames {
		return OperationOther
	}
	m.names[name] = true
	return name
}

func httpMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}
