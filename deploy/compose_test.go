package deploy

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// load reads compose.yaml with .env.example as its .env, the way `docker compose
// --env-file .env.example --profile ... config` would, schema and interpolation included.
func load(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	o, err := cli.NewProjectOptions([]string{"compose.yaml"},
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
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func TestComposeServices(t *testing.T) {
	for _, tc := range []struct {
		profiles []string
		want     []string
	}{
		{nil, []string{"app-blue", "app-green", "migrate", "nginx", "postgres"}},
		{[]string{"redis"}, []string{"app-blue", "app-green", "migrate", "nginx", "postgres", "redis"}},
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
			if s.Image != "ghcr.io/your-org/inkwell:1.0.0" {
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
	// The folder is mounted so a switched upstream.conf is seen without a restart.
	if len(ng.Volumes) != 1 || !strings.HasSuffix(ng.Volumes[0].Source, "/deploy/nginx") || ng.Volumes[0].Target != "/etc/nginx/inkwell" {
		t.Errorf("nginx volumes = %+v, want the deploy/nginx folder at /etc/nginx/inkwell", ng.Volumes)
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
	conf, err := os.ReadFile("nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
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
