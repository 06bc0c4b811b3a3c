package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// load reads compose.yaml with .env.example as its .env, the way `docker compose
// --env-file .env.example --profile ... config` would, schema and interpolation included.
func load(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	return loadFile(t, "compose.yaml", profiles...)
}

func loadFile(t *testing.T, file string, profiles ...string) *types.Project {
	t.Helper()
	o, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory("."),
		cli.WithEnvFiles(".env.example"),
		cli.WithDotEnv,
		cli.WithProfiles(profiles),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s does not load: %v", file, err)
	}
	return p
}

func TestComposeServices(t *testing.T) {
	for _, tc := range []struct {
		profiles []string
		want     []string
	}{
		{nil, []string{"app-blue", "app-green", "backup", "migrate", "nginx", "postgres"}},
		{[]string{"redis"}, []string{"app-blue", "app-green", "backup", "migrate", "nginx", "postgres", "redis"}},
		{[]string{"monitoring"}, []string{"app-blue", "app-green", "backup", "grafana", "migrate", "nginx", "postgres", "prometheus"}},
		{[]string{"cluster"}, []string{"app-blue", "app-green", "backup", "cluster-app-1", "cluster-app-2", "cluster-migrate", "cluster-nginx",
			"migrate", "nginx", "pgaf-monitor", "pgaf-node1", "pgaf-node2", "pgaf-replica", "pgbouncer", "postgres"}},
	} {
		got := load(t, tc.profiles...).ServiceNames()
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("profiles %v: services = %v, want %v", tc.profiles, got, tc.want)
		}
	}
}

func TestComposeApp(t *testing.T) {
	p := load(t, "redis")
	env := func(s types.ServiceConfig, name string) string {
		if v := s.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	for _, name := range []string{"app-blue", "app-green"} {
		t.Run(name, func(t *testing.T) {
			s, err := p.GetService(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Image != "inkwell:local" {
				t.Errorf("image = %q, want the one .env names", s.Image)
			}
			if hc := s.HealthCheck; hc == nil || !slices.Equal(hc.Test, types.HealthCheckTest{"CMD", "/inkwell", "healthcheck"}) {
				t.Errorf("healthcheck = %+v, want the binary's own liveness check", hc)
			}
			if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
				t.Errorf("read_only %v, cap_drop %v, security_opt %v: want a read-only root, no capabilities, no privilege gain", s.ReadOnly, s.CapDrop, s.SecurityOpt)
			}
			if d := s.DependsOn["migrate"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("depends on migrate %+v, want it completed first", d)
			}
			if d := s.DependsOn["redis"]; d.Required {
				t.Errorf("depends on redis %+v, want optional (profile redis)", d)
			}
			if got := env(s, "INKWELL_MIGRATE_ON_START"); got != "false" {
				t.Errorf("INKWELL_MIGRATE_ON_START = %q, want false: migrations are their own step", got)
			}
			if got := env(s, "DATABASE_URL"); !strings.HasPrefix(got, "postgres://inkwell:change-me-hex-only@postgres:5432/inkwell") {
				t.Errorf("DATABASE_URL = %q, want the password from .env on the postgres service", got)
			}
			if _, ok := s.Environment["REDIS_URL"]; !ok {
				t.Error("REDIS_URL is not passed through")
			}
			// A stop must let the server drain before Docker's SIGKILL.
			grace, err := time.ParseDuration(env(s, "INKWELL_SHUTDOWN_GRACE"))
			if err != nil || s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= grace {
				t.Errorf("stop_grace_period %v, INKWELL_SHUTDOWN_GRACE %v: want the first longer", s.StopGracePeriod, grace)
			}
			for _, port := range s.Ports {
				if port.HostIP != "127.0.0.1" {
					t.Errorf("port %+v is published beyond the host's loopback", port)
				}
			}
		})
	}
}

func TestComposeMigrateAndProxy(t *testing.T) {
	p := load(t)
	m, err := p.GetService("migrate")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Command, types.ShellCommand{"migrate"}) || m.Restart != "no" {
		t.Errorf("migrate: command %v, restart %q; want a one-shot `inkwell migrate`", m.Command, m.Restart)
	}
	if d := m.DependsOn["postgres"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("migrate depends on postgres %+v, want it healthy first", d)
	}
	pg, err := p.GetService("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if v := pg.Environment["POSTGRES_PASSWORD_FILE"]; v == nil || len(pg.Secrets) != 1 || *v != "/run/secrets/"+pg.Secrets[0].Source {
		t.Errorf("postgres: want its password from a secret file, got env %v, secrets %v", pg.Environment, pg.Secrets)
	}
	ng, err := p.GetService("nginx")
	if err != nil {
		t.Fatal(err)
	}
	// The folder is mounted so a switched upstream.conf is seen without a restart; the
	// certificates where tls.conf.example looks for them.
	if len(ng.Volumes) != 2 || !strings.HasSuffix(ng.Volumes[0].Source, "/deploy/nginx") || ng.Volumes[0].Target != "/etc/nginx/inkwell" ||
		!strings.HasSuffix(ng.Volumes[1].Source, "/deploy/certs") || ng.Volumes[1].Target != "/etc/nginx/certs" || !ng.Volumes[1].ReadOnly {
		t.Errorf("nginx volumes = %+v, want deploy/nginx at /etc/nginx/inkwell and deploy/certs at /etc/nginx/certs", ng.Volumes)
	}
	var published []uint32
	for _, port := range ng.Ports {
		published = append(published, port.Target)
	}
	if !slices.Equal(published, []uint32{80, 443}) {
		t.Errorf("nginx publishes %v, want 80 and 443", published)
	}
	for _, app := range []string{"app-blue", "app-green"} {
		if d := ng.DependsOn[app]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("nginx depends on %s %+v, want it healthy first", app, d)
		}
	}
}

func TestComposeRefusesMissingSecrets(t *testing.T) {
	example, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"POSTGRES_PASSWORD", "INKWELL_SIGNING_KEY", "INKWELL_IMAGE"} {
		var env []string
		for _, line := range strings.Split(string(example), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, name+"=") {
				env = append(env, line)
			}
		}
		o, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."), cli.WithEnv(env))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: err = %v, want it named", name, err)
		}
	}
}

// Secrets reach the stack only through deploy/.env, which git ignores.
func TestSecretsStayOutOfGit(t *testing.T) {
	ignore, err := os.ReadFile(".gitignore")
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), ".env") {
		t.Errorf("deploy/.gitignore does not ignore .env (%v)", err)
	}
	compose, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secretKey := regexp.MustCompile(`(?m)^\s*([A-Z_]*(?:PASSWORD|SIGNING_KEY|SECRET)[A-Z_]*):\s*(\S+)`)
	keys := secretKey.FindAllSubmatch(compose, -1)
	if len(keys) == 0 {
		t.Fatal("found no secret settings: the pattern is stale")
	}
	for _, m := range keys {
		if v := string(m[2]); !strings.HasPrefix(v, "${") && !strings.HasPrefix(v, "/run/secrets/") {
			t.Errorf("compose.yaml sets %s to a literal: %q", m[1], v)
		}
	}
	for _, m := range regexp.MustCompile(`postgres://[^:@/]+:([^@]*)@`).FindAllSubmatch(compose, -1) {
		if !strings.HasPrefix(string(m[1]), "${") {
			t.Errorf("compose.yaml holds a database password: %q", m[0])
		}
	}
}

func TestNginx(t *testing.T) {
	main, err := os.ReadFile("nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := os.ReadFile("nginx/proxy.conf")
	if err != nil {
		t.Fatal(err)
	}
	// HTTP always; HTTPS and the redirect only once their files exist, so a fresh clone
	// starts without a certificate.
	for _, want := range []string{"listen 80;", "include redirect*.conf;", "include proxy.conf;", "include tls*.conf;"} {
		if !strings.Contains(string(main), want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	tls, err := os.ReadFile("nginx/tls.conf.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listen 443 ssl;", "ssl_certificate /etc/nginx/certs/fullchain.pem;", "ssl_certificate_key /etc/nginx/certs/privkey.pem;", "include proxy.conf;"} {
		if !strings.Contains(string(tls), want) {
			t.Errorf("tls.conf.example lacks %q", want)
		}
	}
	ignored, err := os.ReadFile(".gitignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"certs/", "nginx/tls.conf", "nginx/redirect.conf"} {
		if !slices.Contains(strings.Fields(string(ignored)), want) {
			t.Errorf("deploy/.gitignore does not ignore %s", want)
		}
	}
	conf := append(main, proxy...)
	for _, want := range []string{
		"include upstream.conf;",
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;",
		"proxy_next_upstream error timeout",
		"client_max_body_size 1m;",
	} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	// A POST is never sent twice: a mutation runs at most once.
	if strings.Contains(string(conf), "non_idempotent") {
		t.Error("nginx.conf retries non-idempotent requests")
	}
	upstream, err := os.ReadFile("nginx/upstream.conf")
	if err != nil {
		t.Fatal(err)
	}
	servers := regexp.MustCompile(`(?m)^server (app-(?:blue|green)):8080\b(.*);`).FindAllStringSubmatch(string(upstream), -1)
	if len(servers) != 2 || servers[0][1] == servers[1][1] || strings.Contains(servers[0][2], "backup") || !strings.Contains(servers[1][2], "backup") {
		t.Errorf("upstream.conf servers = %q, want one live color and the other as backup", servers)
	}
	// deploy/switch writes the same lines for the color it makes live.
	script, err := os.ReadFile("switch")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server app-$live:8080 max_fails=3 fail_timeout=10s;", "server app-$other:8080 backup;"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("switch does not write %q", want)
		}
	}
}

// env returns a service's environment variable, "" when unset.
func env(s types.ServiceConfig, name string) string {
	if v := s.Environment[name]; v != nil {
		return *v
	}
	return ""
}

// checkResources: a memory limit and reservation, no CPU limit (throttling adds latency,
// as in deploy/k8s), and GOMEMLIMIT under the limit so the collector acts before the OOM
// killer does.
func checkResources(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Reservations == nil {
		t.Fatalf("%s: deploy.resources = %+v, want limits and reservations", s.Name, s.Deploy)
	}
	limit := int64(s.Deploy.Resources.Limits.MemoryBytes)
	if limit < 256<<20 || s.Deploy.Resources.Limits.NanoCPUs != 0 {
		t.Errorf("%s: limits = %+v, want at least 256 MiB of memory and no CPU limit", s.Name, *s.Deploy.Resources.Limits)
	}
	if r := s.Deploy.Resources.Reservations; r.MemoryBytes == 0 || r.NanoCPUs == 0 || int64(r.MemoryBytes) > limit {
		t.Errorf("%s: reservations = %+v, want memory and CPU, within the limit", s.Name, *r)
	}
	var mib int64
	if _, err := fmt.Sscanf(env(s, "GOMEMLIMIT"), "%dMiB", &mib); err != nil || mib<<20 >= limit*9/10 {
		t.Errorf("%s: GOMEMLIMIT = %q, want MiB well under the memory limit %d", s.Name, env(s, "GOMEMLIMIT"), limit)
	}
}

// The deploy keys `docker compose up` applies: one container per color (blue/green is
// deploy/switch's business) and the same resources for the colors and the migration.
func TestComposeDeploy(t *testing.T) {
	p := load(t, "redis")
	for _, name := range []string{"app-blue", "app-green", "migrate"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		checkResources(t, s)
		if name != "migrate" && (s.Deploy.Replicas == nil || *s.Deploy.Replicas != 1) {
			t.Errorf("%s: replicas = %v, want 1: its loopback port and nginx's upstream name one container", name, s.Deploy.Replicas)
		}
	}
	ng, err := p.GetService("nginx")
	if err != nil {
		t.Fatal(err)
	}
	if ng.Deploy == nil || ng.Deploy.Resources.Limits == nil || ng.Deploy.Resources.Limits.MemoryBytes == 0 {
		t.Errorf("nginx: deploy = %+v, want a memory limit", ng.Deploy)
	}
}

// stackEnv is .env.example's settings, as exported before `docker stack deploy`.
func stackEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vars[k] = v
		}
	}
	return vars
}

// swarmValidate checks a stack file the way `docker stack deploy` does before deploying:
// interpolated from the environment (with its casts of interpolated numbers), then
// validated against the Compose 3.13 schema of docker/cli (testdata, copied from
// github.com/docker/cli at cli/compose/schema/data), with no property the swarm refuses or
// ignores.
func swarmValidate(t *testing.T, file string) error {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	vars := stackEnv(t)
	var interpolate func(v any) any
	interpolate = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				v[k] = interpolate(e)
			}
		case []any:
			for i, e := range v {
				v[i] = interpolate(e)
			}
		case string:
			out, err := template.Substitute(v, func(k string) (string, bool) { x, ok := vars[k]; return x, ok })
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if n, err := strconv.Atoi(out); err == nil && strings.Contains(v, "${") {
				return n
			}
			return out
		}
		return v
	}
	doc = interpolate(doc)
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	schemaFile, err := os.Open("testdata/stack-schema-v3.13.json")
	if err != nil {
		t.Fatal(err)
	}
	defer schemaFile.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	// docker/cli's own meaning of the schema's "duration": Go's, not ISO 8601's.
	c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(v any) error {
		if s, ok := v.(string); ok {
			_, err := time.ParseDuration(s)
			return err
		}
		return nil
	}})
	if err := c.AddResource("stack-schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("stack-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		return err
	}
	if services, ok := doc.(map[string]any)["services"].(map[string]any); ok {
		for name, s := range services {
			for key := range s.(map[string]any) {
				// docker/cli's cli/compose/types: refused, and silently ignored, properties.
				switch key {
				case "extends", "volume_driver", "volumes_from", "cpu_quota", "cpu_shares", "cpuset", "mem_limit", "memswap_limit",
					"build", "cgroupns_mode", "cgroup_parent", "devices", "domainname", "external_links", "ipc", "links",
					"mac_address", "network_mode", "pid", "privileged", "restart", "security_opt", "shm_size", "userns_mode":
					return fmt.Errorf("service %s: %s is refused or ignored by a swarm", name, key)
				}
			}
		}
	}
	return nil
}

// deploy/stack.yaml is what `docker stack deploy` accepts, and compose.yaml is not: the
// reason the swarm has a file of its own. The second also shows the validator is strict.
func TestStackIsSwarmValid(t *testing.T) {
	if err := swarmValidate(t, "stack.yaml"); err != nil {
		t.Errorf("stack.yaml would be refused by docker stack deploy: %v", err)
	}
	if err := swarmValidate(t, "compose.yaml"); err == nil {
		t.Error("the swarm schema accepts compose.yaml: it no longer checks strictly (or compose.yaml could serve the swarm)")
	}
}

// The swarm's update and restart behaviour, read by compose-go as `docker compose
// config` would.
func TestStackDeploy(t *testing.T) {
	p := loadFile(t, "stack.yaml")
	names := p.ServiceNames()
	slices.Sort(names)
	if !slices.Equal(names, []string{"app", "nginx", "postgres"}) {
		t.Fatalf("services = %v", names)
	}
	app, err := p.GetService("app")
	if err != nil {
		t.Fatal(err)
	}
	if app.Image != stackEnv(t)["INKWELL_IMAGE"] {
		t.Errorf("app image = %q, want INKWELL_IMAGE", app.Image)
	}
	checkResources(t, app)
	d := app.Deploy
	if d.Replicas == nil || *d.Replicas < 2 {
		t.Errorf("app replicas = %v, want 2 or more: one keeps serving while the other is replaced", d.Replicas)
	}
	// One task at a time, the new one healthy before an old one stops; a failed update
	// goes back to the previous image.
	if u := d.UpdateConfig; u == nil || u.Parallelism == nil || *u.Parallelism != 1 || u.Order != "start-first" ||
		u.FailureAction != "rollback" || u.Monitor == 0 {
		t.Errorf("app update_config = %+v, want parallelism 1, start-first, rollback on failure, a monitor period", u)
	}
	if r := d.RollbackConfig; r == nil || r.Order != "start-first" {
		t.Errorf("app rollback_config = %+v, want start-first", r)
	}
	if r := d.RestartPolicy; r == nil || r.Condition != "any" || r.Delay == nil {
		t.Errorf("app restart_policy = %+v, want condition any with a delay", r)
	}
	if hc := app.HealthCheck; hc == nil || !slices.Equal(hc.Test, types.HealthCheckTest{"CMD", "/inkwell", "healthcheck"}) {
		t.Errorf("app healthcheck = %+v, want liveness: an update waits for it", hc)
	}
	grace, err1 := time.ParseDuration(env(app, "INKWELL_SHUTDOWN_GRACE"))
	delay, err2 := time.ParseDuration(env(app, "INKWELL_SHUTDOWN_DELAY"))
	if err1 != nil || err2 != nil || app.StopGracePeriod == nil || time.Duration(*app.StopGracePeriod) <= grace+delay {
		t.Errorf("app stop_grace_period %v, shutdown delay %v and grace %v: want the first longer than both", app.StopGracePeriod, delay, grace)
	}
	if !app.ReadOnly || !slices.Equal(app.CapDrop, []string{"ALL"}) {
		t.Errorf("app read_only %v, cap_drop %v", app.ReadOnly, app.CapDrop)
	}
	if got := env(app, "DATABASE_URL"); !strings.HasPrefix(got, "postgres://inkwell:change-me-hex-only@postgres:5432/inkwell") {
		t.Errorf("app DATABASE_URL = %q", got)
	}

	pg, err := p.GetService("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if d := pg.Deploy; d == nil || d.Replicas == nil || *d.Replicas != 1 || d.UpdateConfig == nil || d.UpdateConfig.Order != "stop-first" ||
		len(d.Placement.Constraints) == 0 {
		t.Errorf("postgres deploy = %+v, want one replica, placed on its volume's node, never two at once", d)
	}
	if v := pg.Environment["POSTGRES_PASSWORD_FILE"]; v == nil || len(pg.Secrets) != 1 || *v != "/run/secrets/"+pg.Secrets[0].Source {
		t.Errorf("postgres: want its password from a secret file")
	}
	if sec := p.Secrets["postgres_password"]; !sec.External {
		t.Errorf("secret postgres_password = %+v, want external (created with docker secret create)", sec)
	}

	ng, err := p.GetService("nginx")
	if err != nil {
		t.Fatal(err)
	}
	// The routing mesh would hide the client's address from the rate limits.
	if len(ng.Ports) != 1 || ng.Ports[0].Mode != "host" || ng.Ports[0].Published != "8080" || ng.Ports[0].Target != 80 {
		t.Errorf("nginx ports = %+v, want 8080 published in host mode", ng.Ports)
	}
	if d := ng.Deploy; d == nil || d.UpdateConfig == nil || d.UpdateConfig.Order != "stop-first" || d.RestartPolicy == nil {
		t.Errorf("nginx deploy = %+v, want stop-first (one task holds the host port) and a restart policy", d)
	}
	targets := map[string]string{}
	for _, c := range ng.Configs {
		targets[c.Target] = p.Configs[c.Source].File
	}
	if !strings.HasSuffix(targets["/etc/nginx/inkwell/nginx.conf"], "/deploy/nginx/nginx.conf") ||
		!strings.HasSuffix(targets["/etc/nginx/inkwell/upstream.conf"], "/deploy/nginx/swarm-upstream.conf") {
		t.Errorf("nginx configs = %v, want the Compose stack's nginx.conf with the swarm's upstream", targets)
	}
	// Every file nginx.conf includes by name must be in the stack: a swarm task sees only
	// its configs. (An include by pattern may match nothing.)
	conf, err := os.ReadFile("nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*include\s+([^;*?\[]+);`).FindAllStringSubmatch(string(conf), -1) {
		target := m[1]
		if !strings.HasPrefix(target, "/") {
			target = "/etc/nginx/inkwell/" + target
		}
		if _, ok := targets[target]; !ok {
			t.Errorf("nginx.conf includes %s, which stack.yaml does not give nginx as a config", m[1])
		}
	}
	upstream, err := os.ReadFile("nginx/swarm-upstream.conf")
	if err != nil {
		t.Fatal(err)
	}
	if servers := regexp.MustCompile(`(?m)^server .*;`).FindAllString(string(upstream), -1); !slices.Equal(servers, []string{"server app:8080;"}) {
		t.Errorf("swarm-upstream.conf servers = %q, want the app service alone", servers)
	}
}

// The monitoring profile: Prometheus scrapes both colors' metrics listeners with the
// alerts checked in .ci/check-deploy, and Grafana is provisioned with its datasource and
// the dashboard, all from deploy/monitoring.
func TestComposeMonitoring(t *testing.T) {
	p := load(t, "monitoring")
	prom, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	mounts := func(s types.ServiceConfig) map[string]string {
		out := map[string]string{}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if !v.ReadOnly {
					t.Errorf("%s mounts %s writable", s.Name, v.Source)
				}
				rel, err := filepath.Rel(p.WorkingDir, v.Source)
				if err != nil {
					t.Fatal(err)
				}
				out[rel] = v.Target
			}
		}
		return out
	}
	pm := mounts(prom)
	if pm["monitoring"] == "" || !slices.Contains(prom.Command, "--config.file="+pm["monitoring"]+"/prometheus.yml") {
		t.Errorf("prometheus: command %v, mounts %v; want monitoring/prometheus.yml as its configuration", prom.Command, pm)
	}
	b, err := os.ReadFile("monitoring/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(conf.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("rule_files = %v, want alerts.yml", conf.RuleFiles)
	}
	blue, err := p.GetService("app-blue")
	if err != nil {
		t.Fatal(err)
	}
	metricsPort := strings.TrimPrefix(*blue.Environment["INKWELL_METRICS_ADDR"], ":")
	var targets []string
	for _, sc := range conf.ScrapeConfigs {
		if sc.JobName != "inkwell" {
			continue
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	if want := []string{"app-blue:" + metricsPort, "app-green:" + metricsPort}; !slices.Equal(targets, want) {
		t.Errorf("job inkwell scrapes %v, want %v (job=\"inkwell\" is what alerts.yml selects)", targets, want)
	}

	g, err := p.GetService("grafana")
	if err != nil {
		t.Fatal(err)
	}
	gm := mounts(g)
	if gm["monitoring/grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("grafana mounts %v: want the provisioning folder at /etc/grafana/provisioning", gm)
	}
	b, err = os.ReadFile("monitoring/grafana/provisioning/dashboards/inkwell.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var provider struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(b, &provider); err != nil {
		t.Fatal(err)
	}
	if len(provider.Providers) != 1 || gm["monitoring/grafana/dashboards"] != provider.Providers[0].Options.Path {
		t.Errorf("dashboards provided from %+v, but monitoring/grafana/dashboards is mounted at %q", provider.Providers, gm["monitoring/grafana/dashboards"])
	}
	b, err = os.ReadFile("monitoring/grafana/provisioning/datasources/prometheus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct{ UID, Type, URL string } `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("datasources %+v, want the prometheus service", ds.Datasources)
	}
	if v := g.Environment["GF_SECURITY_ADMIN_PASSWORD__FILE"]; v == nil || len(g.Secrets) != 1 || *v != "/run/secrets/"+g.Secrets[0].Source {
		t.Errorf("grafana: want the admin password from a secret file, got env %v, secrets %v", g.Environment, g.Secrets)
	}
	for _, s := range []types.ServiceConfig{prom, g} {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %+v beyond the host's loopback", s.Name, port)
			}
		}
	}
}

// Every service's logs are rotated, so they cannot fill the host's disk.
func TestComposeLogRotation(t *testing.T) {
	p := load(t, "redis", "monitoring", "cluster")
	for _, s := range p.Services {
		l := s.Logging
		if l == nil || l.Driver != "json-file" || l.Options["max-size"] == "" || l.Options["max-file"] == "" {
			t.Errorf("%s: logging %+v, want json-file with max-size and max-file", s.Name, l)
		}
	}
}

// A fresh clone starts without a registry: the app's services build this checkout's
// Dockerfile when their image is not there.
func TestComposeBuild(t *testing.T) {
	p := load(t)
	for _, name := range []string{"migrate", "app-blue", "app-green"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Build == nil {
			t.Errorf("%s has no build section", name)
			continue
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s builds %s in %s: %v", name, s.Build.Dockerfile, s.Build.Context, err)
		}
		if s.Image == "" {
			t.Errorf("%s: want an image name for the build (INKWELL_IMAGE)", name)
		}
	}
}

// The backup service runs backup/pg-backup, the script make restore-test restores from,
// against the postgres service with the password's secret file.
func TestComposeBackup(t *testing.T) {
	p := load(t)
	b, err := p.GetService("backup")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := p.GetService("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if b.Image != pg.Image {
		t.Errorf("backup image %q, want the server's %q: pg_dump must not be older than the server", b.Image, pg.Image)
	}
	script := ""
	for _, v := range b.Volumes {
		if strings.HasSuffix(v.Source, "/deploy/backup/pg-backup") {
			script = v.Target
		}
	}
	if script == "" || !slices.Equal(b.Entrypoint, types.ShellCommand{script}) {
		t.Errorf("backup: entrypoint %v, volumes %+v; want backup/pg-backup mounted and run", b.Entrypoint, b.Volumes)
	}
	env := func(name string) string {
		if v := b.Environment[name]; v != nil {
			return *v
		}
		return ""
	}
	if env("PGHOST") != "postgres" || env("PGPASSWORD_FILE") != "/run/secrets/postgres_password" || len(b.Secrets) != 1 || b.Secrets[0].Source != "postgres_password" {
		t.Errorf("backup: env %v, secrets %v; want the postgres service with the password's secret", b.Environment, b.Secrets)
	}
	if d := b.DependsOn["postgres"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("backup depends on postgres %+v, want it healthy first", d)
	}
	if fi, err := os.Stat("backup/pg-backup"); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("backup/pg-backup: %v; want an executable", err)
	}
}
