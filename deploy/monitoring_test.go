package deploy

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"inkwell/internal/cache"
	"inkwell/internal/dbroute"
	"inkwell/internal/respcache"
	"inkwell/internal/telemetry"
)

// dashboard is what these tests read of the Grafana dashboard.
type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("monitoring/grafana/dashboards/inkwell.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("inkwell.json is not valid JSON: %v", err)
	}
	return d
}

// dashboardExprs are the panels' queries, keyed "panel title/refId".
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range readDashboard(t).Panels {
		for _, q := range p.Targets {
			out[p.Title+"/"+q.RefID] = q.Expr
		}
	}
	return out
}

// alertExprs are alerts.yml's expressions, keyed by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard uid %q, title %q, %d panels: want all three", d.UID, d.Title, len(d.Panels))
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d (%q): want a title, a type and a query", p.ID, p.Title)
		}
		for _, q := range p.Targets {
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %q query %s is empty", p.Title, q.RefID)
			}
		}
	}
	// What an operator looks for first, by the metric that shows it.
	all := strings.Join(slices.Collect(maps.Values(dashboardExprs(t))), "\n")
	for _, want := range []string{
		"inkwell_http_request_duration_seconds_count",
		"inkwell_graphql_errors_total",
		"histogram_quantile(0.5, sum by (operation, le) (rate(inkwell_graphql_operation_duration_seconds_bucket",
		"histogram_quantile(0.99, sum by (operation, le) (rate(inkwell_graphql_operation_duration_seconds_bucket",
		"inkwell_sql_statements_per_operation_sum",
		`status="503"`,
		"go_sql_in_use_connections",
		"inkwell_entity_cache_hits_total",
		"inkwell_response_cache_hits_total",
		"go_goroutines",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
}

// exportedMetrics are the names a server's /metrics has once every metric has a value:
// Inkwell's own, the pool's, the caches', and the Go and process collectors'.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := telemetry.NewMetrics()
	db := sql.OpenDB(nowhere{})
	t.Cleanup(func() { db.Close() })
	m.WatchDB(db)
	entities := cache.New(1 << 20)
	m.WatchCache(entities)
	m.WatchResponses(respcache.New(1<<20, entities))
	m.WatchSubscriptions(func() int { return 0 }, func() int { return 0 })
	m.WatchEvents(func() uint64 { return 0 }, func() uint64 { return 0 })
	m.WatchReplicas(func() []dbroute.ReplicaState { return []dbroute.ReplicaState{{Name: "r1:5432/inkwell"}} })
	m.ObserveHTTP("/graphql", "POST", 200, time.Millisecond)
	m.ObserveOperation("Tags", "query", time.Millisecond, 1)
	m.CountError("INTERNAL_SERVER_ERROR")
	m.ObserveBatch("UserByID", 2)
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, f := range families {
		names[f.GetName()] = true
		if typ := f.GetType().String(); typ == "HISTOGRAM" || typ == "SUMMARY" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	return names
}

// nowhere is a database connector that never connects: the pool's figures need a *sql.DB,
// not a database.
type nowhere struct{}

func (nowhere) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no database") }
func (nowhere) Driver() driver.Driver                        { return nil }

// Alerts and panels name only metrics a server really exports: a typo or a renamed metric
// would otherwise leave an alert silent forever.
func TestMonitoringMetricsExist(t *testing.T) {
	exported := exportedMetrics(t)
	metric := regexp.MustCompile(`\b(?:inkwell|go|process)_[a-z0-9_]+\b|\bup\b`)
	check := func(where map[string]string, kind string) {
		for name, expr := range where {
			found := metric.FindAllString(expr, -1)
			if len(found) == 0 {
				t.Errorf("%s %s names no metric: %s", kind, name, expr)
			}
			for _, m := range found {
				if !exported[m] {
					t.Errorf("%s %s uses %s, which the server does not export", kind, name, m)
				}
			}
		}
	}
	alerts := alertExprs(t)
	if len(alerts) == 0 {
		t.Fatal("alerts.yml has no alerts")
	}
	check(alerts, "alert")
	check(dashboardExprs(t), "panel")
}

// promtool finds promtool on PATH or in .ci/bin. .ci/check-deploy installs it and sets
// INKWELL_REQUIRE_PROMTOOL, so CI never skips what needs it.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../.ci/bin/promtool"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("INKWELL_REQUIRE_PROMTOOL") != "" {
		t.Fatal("promtool is not installed (.ci/check-deploy installs it)")
	}
	t.Skip("promtool is not installed: run .ci/check-deploy, which installs it into .ci/bin")
	return ""
}

// Every panel's query parses: promtool checks them as recording rules, Grafana's
// $__rate_interval replaced by a real range.
func TestDashboardQueriesParse(t *testing.T) {
	bin := promtool(t)
	exprs := dashboardExprs(t)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, key := range slices.Sorted(maps.Keys(exprs)) {
		expr := strings.ReplaceAll(exprs[key], "$__rate_interval", "5m")
		if strings.Contains(expr, "$") {
			t.Errorf("panel %s uses a variable promtool cannot check: %s", key, expr)
		}
		q, err := json.Marshal(expr) // a JSON string is a YAML string
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&rules, "      - record: panel_%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "check", "rules", "--lint=none", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
