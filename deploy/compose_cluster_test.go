package deploy

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// clusterServices are the services of the profile "cluster", in start order.
var clusterServices = []string{"pgaf-monitor", "pgaf-node1", "pgaf-node2", "pgaf-replica", "pgbouncer",
	"cluster-migrate", "cluster-app-1", "cluster-app-2", "cluster-nginx"}

// The profile "cluster" is make cluster's topology (cmd/inkwell-cluster): checked here
// the way docker compose config would read it, since no container engine runs here.
func TestComposeCluster(t *testing.T) {
	p := load(t, "cluster")
	get := func(name string) types.ServiceConfig {
		t.Helper()
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, name := range clusterServices {
		s := get(name)
		if !slices.Equal(s.Profiles, []string{"cluster"}) {
			t.Errorf("%s: profiles %v, want only cluster: the main stack must not start it", name, s.Profiles)
		}
		// nginx alone is reachable from outside the project's network.
		if name == "cluster-nginx" {
			if len(s.Ports) != 1 || s.Ports[0].Target != 80 || s.Ports[0].Published != "8090" {
				t.Errorf("cluster-nginx publishes %+v, want 8090 (INKWELL_CLUSTER_HTTP_PORT) to 80", s.Ports)
			}
		} else if len(s.Ports) > 0 {
			t.Errorf("%s publishes %+v: only cluster-nginx may", name, s.Ports)
		}
		if name != "cluster-migrate" && (s.HealthCheck == nil || len(s.HealthCheck.Test) == 0) {
			t.Errorf("%s has no healthcheck: what depends on it would start too early", name)
		}
	}
	// The profile starts apart from the main stack: nothing of it depends on the main
	// stack's services, whose names it must not reuse.
	for _, name := range clusterServices {
		for dep := range get(name).DependsOn {
			if !slices.Contains(clusterServices, dep) {
				t.Errorf("%s depends on %s, outside the profile", name, dep)
			}
		}
	}

	checkPgafNodes(t, p)
	checkQuorum(t, p)
	checkPooler(t, p)
	checkClusterApps(t, p)

	ng := get("cluster-nginx")
	mounts := map[string]string{}
	for _, v := range ng.Volumes {
		if !v.ReadOnly {
			t.Errorf("cluster-nginx mounts %s writable", v.Source)
		}
		mounts[v.Target] = v.Source
	}
	if !strings.HasSuffix(mounts["/etc/nginx/inkwell"], "/deploy/nginx") ||
		!strings.HasSuffix(mounts["/etc/nginx/inkwell/upstream.conf"], "/deploy/nginx/cluster-upstream.conf") {
		t.Errorf("cluster-nginx mounts %v, want deploy/nginx with cluster-upstream.conf as its upstream.conf", mounts)
	}
	upstream, err := os.ReadFile("nginx/cluster-upstream.conf")
	if err != nil {
		t.Fatal(err)
	}
	servers := regexp.MustCompile(`(?m)^server ([a-z0-9-]+):8080\b(.*);`).FindAllStringSubmatch(string(upstream), -1)
	var names []string
	for _, m := range servers {
		names = append(names, m[1])
		if strings.Contains(m[2], "backup") || strings.Contains(m[2], "down") {
			t.Errorf("cluster-upstream.conf: %q, want both instances serving", m[0])
		}
	}
	if !slices.Equal(names, []string{"cluster-app-1", "cluster-app-2"}) {
		t.Errorf("cluster-upstream.conf servers %v, want cluster-app-1 and cluster-app-2", names)
	}
	for _, app := range []string{"cluster-app-1", "cluster-app-2"} {
		if d := ng.DependsOn[app]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("cluster-nginx depends on %s %+v, want it healthy first", app, d)
		}
	}
}

// checkPgafNodes: the monitor and three data nodes of deploy/pgaf's image, each a
// pg_autoctl node that registers with the monitor; node1 first, so it is the primary,
// node2 the failover candidate, the replica never promoted; both in the replication quorum.
func checkPgafNodes(t *testing.T, p *types.Project) {
	t.Helper()
	docker, err := os.ReadFile("pgaf/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM postgres:(\d+)$`).FindSubmatch(docker)
	main, err := p.GetService("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if from == nil || "postgres:"+string(from[1]) != main.Image ||
		!strings.Contains(string(docker), "postgresql-"+string(from[1])+"-auto-failover") || !strings.Contains(string(docker), "pgbouncer") {
		t.Errorf("pgaf/Dockerfile: want FROM the main stack's %s with its pg_auto_failover package and pgbouncer:\n%s", main.Image, docker)
	}
	for _, tc := range []struct {
		service, name, priority, quorum, after string
	}{
		{"pgaf-node1", "node1", "50", "true", "pgaf-monitor"},
		{"pgaf-node2", "node2", "50", "true", "pgaf-node1"},
		{"pgaf-replica", "replica", "0", "true", "pgaf-node1"},
	} {
		s, err := p.GetService(tc.service)
		if err != nil {
			t.Fatal(err)
		}
		if s.Build == nil || !strings.HasSuffix(s.Build.Context, "/deploy/pgaf") || s.User != "postgres" {
			t.Errorf("%s: build %+v, user %q; want deploy/pgaf's image run as postgres (pg_autoctl refuses root)", tc.service, s.Build, s.User)
		}
		cmd := strings.Join(s.Command, " ")
		for _, want := range []string{"pg_autoctl create postgres ", " --dbname inkwell ", " --hostname " + tc.service + " ",
			" --name " + tc.name + " ", " --candidate-priority " + tc.priority + " ", " --replication-quorum " + tc.quorum + " ",
			" --monitor postgres://autoctl_node@pgaf-monitor:5432/pg_auto_failover", " --pg-hba-lan ", " --run"} {
			if !strings.Contains(cmd+" ", want) {
				t.Errorf("%s: command %q lacks %q", tc.service, cmd, want)
			}
		}
		if d := s.DependsOn[tc.after]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s depends on %s %+v, want it healthy first (the first node to register becomes the primary)", tc.service, tc.after, d)
		}
		if len(s.Volumes) != 1 || s.Volumes[0].Type != types.VolumeTypeVolume || s.Volumes[0].Target != "/var/lib/postgresql" {
			t.Errorf("%s: volumes %+v, want a named volume at /var/lib/postgresql (its data and pg_autoctl's state)", tc.service, s.Volumes)
		}
	}
	m, err := p.GetService("pgaf-monitor")
	if err != nil {
		t.Fatal(err)
	}
	if cmd := strings.Join(m.Command, " "); !strings.HasPrefix(cmd, "pg_autoctl create monitor ") || !strings.Contains(cmd, "--hostname pgaf-monitor") {
		t.Errorf("pgaf-monitor: command %q, want pg_autoctl create monitor reachable as pgaf-monitor", cmd)
	}
}

// checkQuorum: nothing is written before both standbys have joined: only then does the
// monitor set number_sync_standbys to 1, which keeps a primary from acknowledging writes
// no standby has (deploy/scale.md).
func checkQuorum(t *testing.T, p *types.Project) {
	t.Helper()
	m, err := p.GetService("cluster-migrate")
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"pgaf-node2", "pgaf-replica"} {
		if d := m.DependsOn[dep]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("cluster-migrate depends on %s %+v, want it healthy first", dep, d)
		}
	}
}

// checkPooler: PgBouncer runs pgaf/pooler, which follows the monitor's primary, and sets
// the instances' statement_timeout, which they cannot send through it.
func checkPooler(t *testing.T, p *types.Project) {
	t.Helper()
	s, err := p.GetService("pgbouncer")
	if err != nil {
		t.Fatal(err)
	}
	script := ""
	for _, v := range s.Volumes {
		if strings.HasSuffix(v.Source, "/deploy/pgaf/pooler") {
			script = v.Target
		}
	}
	if script == "" || !slices.Equal(s.Entrypoint, types.ShellCommand{script}) {
		t.Errorf("pgbouncer: entrypoint %v, volumes %+v; want pgaf/pooler mounted and run", s.Entrypoint, s.Volumes)
	}
	if fi, err := os.Stat("pgaf/pooler"); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("pgaf/pooler: %v; want an executable", err)
	}
	if u, err := url.Parse(env(s, "MONITOR_URL")); err != nil || u.Hostname() != "pgaf-monitor" || u.Path != "/pg_auto_failover" {
		t.Errorf("pgbouncer: MONITOR_URL = %q, want the pgaf-monitor service's pg_auto_failover database", env(s, "MONITOR_URL"))
	}
	app, err := p.GetService("cluster-app-1")
	if err != nil {
		t.Fatal(err)
	}
	timeout, err := time.ParseDuration(env(app, "INKWELL_STATEMENT_TIMEOUT"))
	if err != nil || env(s, "STATEMENT_TIMEOUT_MS") != strconv.FormatInt(timeout.Milliseconds(), 10) {
		t.Errorf("pgbouncer's STATEMENT_TIMEOUT_MS %q, the instances' INKWELL_STATEMENT_TIMEOUT %q: want the same",
			env(s, "STATEMENT_TIMEOUT_MS"), env(app, "INKWELL_STATEMENT_TIMEOUT"))
	}
	b, err := os.ReadFile("pgaf/pooler")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pool_mode = transaction", "port=${PGBOUNCER_PORT:-6432}", "connect_query='SET statement_timeout = $STATEMENT_TIMEOUT_MS'",
		"pgautofailover.get_primary", `kill -HUP "$pid"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("pgaf/pooler lacks %q", want)
		}
	}
}

// checkClusterApps: both instances and the migration reach the pooler, the primary
// without it, and the replica, as make cluster wires them.
func checkClusterApps(t *testing.T, p *types.Project) {
	t.Helper()
	for _, name := range []string{"cluster-migrate", "cluster-app-1", "cluster-app-2"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Image != "inkwell:local" {
			t.Errorf("%s: image %q, want INKWELL_IMAGE", name, s.Image)
		}
		if u, err := url.Parse(env(s, "DATABASE_URL")); err != nil || u.Host != "pgbouncer:6432" || u.Path != "/inkwell" {
			t.Errorf("%s: DATABASE_URL = %q, want the pgbouncer service", name, env(s, "DATABASE_URL"))
		}
		direct := env(s, "DATABASE_DIRECT_URL")
		for _, want := range []string{"host=pgaf-node1,pgaf-node2 ", "port=5432,5432 ", "dbname=inkwell ", "target_session_attrs=read-write"} {
			if !strings.Contains(direct+" ", want) {
				t.Errorf("%s: DATABASE_DIRECT_URL = %q lacks %q: both candidates, the writable one kept", name, direct, want)
			}
		}
		if u, err := url.Parse(env(s, "DATABASE_REPLICA_URLS")); err != nil || u.Host != "pgaf-replica:5432" {
			t.Errorf("%s: DATABASE_REPLICA_URLS = %q, want the pgaf-replica service", name, env(s, "DATABASE_REPLICA_URLS"))
		}
		if env(s, "INKWELL_DB_PREPARED_STATEMENTS") != "0" || env(s, "INKWELL_MIGRATE_ON_START") != "false" {
			t.Errorf("%s: INKWELL_DB_PREPARED_STATEMENTS %q, INKWELL_MIGRATE_ON_START %q; want 0 (transaction pooling) and false",
				name, env(s, "INKWELL_DB_PREPARED_STATEMENTS"), env(s, "INKWELL_MIGRATE_ON_START"))
		}
		if name == "cluster-migrate" {
			if !slices.Equal(s.Command, types.ShellCommand{"migrate"}) || s.Restart != "no" {
				t.Errorf("cluster-migrate: command %v, restart %q; want a one-shot migrate", s.Command, s.Restart)
			}
			if d := s.DependsOn["pgbouncer"]; d.Condition != types.ServiceConditionHealthy {
				t.Errorf("cluster-migrate depends on pgbouncer %+v, want it healthy (migrate checks DATABASE_URL first)", d)
			}
			continue
		}
		if hc := s.HealthCheck; hc == nil || !slices.Equal(hc.Test, types.HealthCheckTest{"CMD", "/inkwell", "healthcheck"}) {
			t.Errorf("%s: healthcheck %+v, want the binary's own liveness check", name, hc)
		}
		if d := s.DependsOn["cluster-migrate"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s depends on cluster-migrate %+v, want it completed first", name, d)
		}
		checkResources(t, s)
	}
}
