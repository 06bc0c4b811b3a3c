package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.AccessTTL != 15*time.Minute || c.RefreshTTL != 720*time.Hour ||
		!c.MigrateOnStart || !c.DemoData || !c.Introspection || c.Production || c.DataDir != ".inkwell" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestFromEnvValues(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		"DATABASE_URL":         "postgres://db/x",
		"INKWELL_CORS_ORIGINS": "https://a.example, https://b.example ,",
		"INKWELL_ACCESS_TTL":   "5m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DemoData {
		t.Error("demo data must default to off with DATABASE_URL")
	}
	if len(c.CORSOrigins) != 2 || c.CORSOrigins[1] != "https://b.example" {
		t.Errorf("CORSOrigins = %q", c.CORSOrigins)
	}
	if c.AccessTTL != 5*time.Minute {
		t.Errorf("AccessTTL = %v", c.AccessTTL)
	}
}

func TestFromEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"production without key", map[string]string{"INKWELL_ENV": "production", "DATABASE_URL": "postgres://x"}, "INKWELL_SIGNING_KEY: required"},
		{"production without database", map[string]string{"INKWELL_ENV": "production", "INKWELL_SIGNING_KEY": strings.Repeat("k", 32)}, "DATABASE_URL: required"},
		{"short key", map[string]string{"INKWELL_SIGNING_KEY": "short"}, "at least 32 bytes"},
		{"bad duration", map[string]string{"INKWELL_ACCESS_TTL": "soon"}, "INKWELL_ACCESS_TTL"},
		{"bad bool", map[string]string{"INKWELL_DEMO_DATA": "maybe"}, "INKWELL_DEMO_DATA"},
		{"unknown env", map[string]string{"INKWELL_ENV": "staging"}, "INKWELL_ENV"},
		{"unknown persisted queries mode", map[string]string{"INKWELL_PERSISTED_QUERIES": "strict"}, "INKWELL_PERSISTED_QUERIES: \"strict\""},
		{"allowlist without manifest", map[string]string{"INKWELL_PERSISTED_QUERIES": "allowlist"}, "INKWELL_PERSISTED_QUERIES_FILE: required"},
		{"manifest without allowlist", map[string]string{"INKWELL_PERSISTED_QUERIES_FILE": "pq.json"}, "INKWELL_PERSISTED_QUERIES_FILE: used only"},
		{"fractional cache age", map[string]string{"INKWELL_PUBLIC_CACHE_MAX_AGE": "1.5s"}, "INKWELL_PUBLIC_CACHE_MAX_AGE"},
		{"negative cache age", map[string]string{"INKWELL_PUBLIC_CACHE_MAX_AGE": "-1m"}, "INKWELL_PUBLIC_CACHE_MAX_AGE"},
		{"negative seconds", map[string]string{"INKWELL_PUBLIC_CACHE_MAX_AGE": "-60"}, "INKWELL_PUBLIC_CACHE_MAX_AGE"},
		{"zero timeout", map[string]string{"INKWELL_REQUEST_TIMEOUT": "0"}, "INKWELL_REQUEST_TIMEOUT"},
		{"unknown log level", map[string]string{"INKWELL_LOG_LEVEL": "verbose"}, "INKWELL_LOG_LEVEL: \"verbose\" is not debug, info, warn or error"},
		{"database URL without a scheme", map[string]string{"DATABASE_URL": "db.example.com/inkwell"}, "DATABASE_URL: not a PostgreSQL URL"},
		{"database URL of another scheme", map[string]string{"DATABASE_URL": "mysql://db/inkwell"}, "DATABASE_URL: scheme \"mysql\""},
		{"database URL that does not parse", map[string]string{"DATABASE_URL": "postgres://u:p%zz@db/inkwell"}, "DATABASE_URL: not a valid URL"},
		{"replicas without a primary", map[string]string{"DATABASE_REPLICA_URLS": "postgres://r/x"}, "DATABASE_REPLICA_URLS: set DATABASE_URL too"},
		{"replica of another scheme", map[string]string{"DATABASE_URL": "postgres://db/x", "DATABASE_REPLICA_URLS": "postgres://r1/x mysql://r2/x"}, "DATABASE_REPLICA_URLS: URL 2: scheme \"mysql\""},
		{"replica as key=value", map[string]string{"DATABASE_URL": "postgres://db/x", "DATABASE_REPLICA_URLS": "host=r"}, "DATABASE_REPLICA_URLS: URL 1: not a postgres:// URL"},
		{"direct URL without a database URL", map[string]string{"DATABASE_DIRECT_URL": "postgres://db/x"}, "DATABASE_DIRECT_URL: set DATABASE_URL too"},
		{"direct URL of another scheme", map[string]string{"DATABASE_URL": "postgres://pooler/x", "DATABASE_DIRECT_URL": "mysql://db/x"}, "DATABASE_DIRECT_URL: scheme \"mysql\""},
		{"zero replica lag", map[string]string{"INKWELL_REPLICA_MAX_LAG": "0"}, "INKWELL_REPLICA_MAX_LAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromEnv(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDevSigningKeyIsKept(t *testing.T) {
	dir := t.TempDir()
	fill := func(b []byte) error {
		for i := range b {
			b[i] = byte(i)
		}
		return nil
	}
	a, err := DevSigningKey(dir, fill)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DevSigningKey(dir, func([]byte) error { t.Fatal("made a second key"); return nil })
	if err != nil || a != b || len(a) < 32 {
		t.Fatalf("keys %q, %q (err %v): want the same key of at least 32 bytes", a, b, err)
	}
	if KeyID(a) == KeyID(a+"x") || len(KeyID(a)) != 8 {
		t.Fatal("KeyID must tell keys apart in 8 characters")
	}
}

func TestFromEnvPersistedQueries(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.PersistedQueries != "apq" || c.PersistedQueriesFile != "" || c.PublicCacheMaxAge != 0 {
		t.Errorf("defaults: %q %q %v, want apq, no file, no public caching", c.PersistedQueries, c.PersistedQueriesFile, c.PublicCacheMaxAge)
	}
	c, err = FromEnv(env(map[string]string{
		"INKWELL_PERSISTED_QUERIES":      "allowlist",
		"INKWELL_PERSISTED_QUERIES_FILE": "clients/persisted-queries.json",
		"INKWELL_PUBLIC_CACHE_MAX_AGE":   "2m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PersistedQueries != "allowlist" || c.PersistedQueriesFile != "clients/persisted-queries.json" || c.PublicCacheMaxAge != 2*time.Minute {
		t.Errorf("got %q %q %v", c.PersistedQueries, c.PersistedQueriesFile, c.PublicCacheMaxAge)
	}
}

func TestFromEnvClientFacing(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Playground || c.MaxSubscriptionsPerConnection != 20 || c.SubscriptionBuffer != 64 || c.SubscriptionCatchUp != 4096 {
		t.Errorf("defaults: playground %v, subscriptions %d, buffer %d, catch-up %d; want true, 20, 64, 4096",
			c.Playground, c.MaxSubscriptionsPerConnection, c.SubscriptionBuffer, c.SubscriptionCatchUp)
	}
	c, err = FromEnv(env(map[string]string{
		"INKWELL_PLAYGROUND":                       "false",
		"INKWELL_MAX_SUBSCRIPTIONS_PER_CONNECTION": "3",
		"INKWELL_SUBSCRIPTION_BUFFER":              "8",
		"INKWELL_SUBSCRIPTION_CATCH_UP":            "100",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Playground || c.MaxSubscriptionsPerConnection != 3 || c.SubscriptionBuffer != 8 || c.SubscriptionCatchUp != 100 {
		t.Errorf("got playground %v, subscriptions %d, buffer %d, catch-up %d", c.Playground, c.MaxSubscriptionsPerConnection, c.SubscriptionBuffer, c.SubscriptionCatchUp)
	}
	if _, err := FromEnv(env(map[string]string{"INKWELL_SUBSCRIPTION_BUFFER": "128", "INKWELL_SUBSCRIPTION_CATCH_UP": "100"})); err == nil {
		t.Error("INKWELL_SUBSCRIPTION_CATCH_UP below INKWELL_SUBSCRIPTION_BUFFER accepted")
	}
	if c, err := FromEnv(env(map[string]string{"INKWELL_SUBSCRIPTION_BUFFER": "5000"})); err != nil {
		t.Errorf("INKWELL_SUBSCRIPTION_BUFFER=5000 alone: %v", err)
	} else if c.SubscriptionCatchUp != 5000 {
		t.Errorf("INKWELL_SUBSCRIPTION_BUFFER=5000 alone: catch-up %d, want 5000", c.SubscriptionCatchUp)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := FromEnv(env(map[string]string{"INKWELL_SUBSCRIPTION_BUFFER": bad})); err == nil {
			t.Errorf("INKWELL_SUBSCRIPTION_BUFFER=%q accepted", bad)
		}
	}
}

// Issue 12, finding 13: in production, introspection and the playground are off unless
// set; in development they stay on.
func TestProductionHidesSchemaByDefault(t *testing.T) {
	t.Parallel()
	prod := map[string]string{"INKWELL_ENV": "production", "DATABASE_URL": "postgres://db/x",
		"INKWELL_SIGNING_KEY": "0123456789abcdef0123456789abcdef"}
	c, err := FromEnv(env(prod))
	if err != nil {
		t.Fatal(err)
	}
	if c.Introspection || c.Playground {
		t.Fatalf("production: introspection %v, playground %v; want both off", c.Introspection, c.Playground)
	}
	prod["INKWELL_INTROSPECTION"], prod["INKWELL_PLAYGROUND"] = "true", "true"
	if c, err = FromEnv(env(prod)); err != nil || !c.Introspection || !c.Playground {
		t.Fatalf("production with both set: %v %v %v", c.Introspection, c.Playground, err)
	}
	if c, err = FromEnv(env(nil)); err != nil || !c.Introspection || !c.Playground {
		t.Fatalf("development: %v %v %v", c.Introspection, c.Playground, err)
	}
}

// A duration variable takes a Go duration or a bare number of seconds, as the README says.
func TestDurationsTakeSeconds(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(map[string]string{
		"INKWELL_PUBLIC_CACHE_MAX_AGE": "60",
		"INKWELL_SHUTDOWN_DELAY":       "5",
		"INKWELL_SHUTDOWN_GRACE":       "20",
		"INKWELL_ACCESS_TTL":           "900",
		"INKWELL_REQUEST_TIMEOUT":      "10s",
		"INKWELL_WRITE_TIMEOUT":        "45",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]time.Duration{
		"INKWELL_PUBLIC_CACHE_MAX_AGE": {c.PublicCacheMaxAge, time.Minute},
		"INKWELL_SHUTDOWN_DELAY":       {c.ShutdownDelay, 5 * time.Second},
		"INKWELL_SHUTDOWN_GRACE":       {c.ShutdownGrace, 20 * time.Second},
		"INKWELL_ACCESS_TTL":           {c.AccessTTL, 15 * time.Minute},
		"INKWELL_REQUEST_TIMEOUT":      {c.Limits.RequestTimeout, 10 * time.Second},
		"INKWELL_WRITE_TIMEOUT":        {c.Limits.WriteTimeout, 45 * time.Second},
	} {
		if got[0] != got[1] {
			t.Errorf("%s = %v, want %v", name, got[0], got[1])
		}
	}
}

func TestLogLevel(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "INFO": slog.LevelInfo,
		"warn": slog.LevelWarn, "error": slog.LevelError} {
		c, err := FromEnv(env(map[string]string{"INKWELL_LOG_LEVEL": v}))
		if err != nil || c.LogLevel != want {
			t.Errorf("INKWELL_LOG_LEVEL=%q: %v, %v; want %v", v, c.LogLevel, err, want)
		}
	}
}

func TestRotateDevSigningKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var n byte
	random := func(b []byte) error {
		n++
		for i := range b {
			b[i] = n
		}
		return nil
	}
	old, err := DevSigningKey(dir, random)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := RotateDevSigningKey(dir, random)
	if err != nil || rotated == old {
		t.Fatalf("rotated key %q (err %v), old %q: want a new one", rotated, err, old)
	}
	if kept, err := DevSigningKey(dir, random); err != nil || kept != rotated {
		t.Fatalf("after rotation the kept key is %q (err %v), want %q", kept, err, rotated)
	}
}

func TestReplicaURLs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"postgres://r1/x", []string{"postgres://r1/x"}},
		{"postgres://r1/x, postgres://r2/x", []string{"postgres://r1/x", "postgres://r2/x"}},
		{"postgres://r1/x\npostgresql://r2/x\n", []string{"postgres://r1/x", "postgresql://r2/x"}},
		// A multi-host URL keeps its commas.
		{"postgres://a:5432,b:5432/x?target_session_attrs=any,postgres://c/x",
			[]string{"postgres://a:5432,b:5432/x?target_session_attrs=any", "postgres://c/x"}},
	} {
		c, err := FromEnv(env(map[string]string{"DATABASE_URL": "postgres://db/x", "DATABASE_REPLICA_URLS": tc.in}))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if strings.Join(c.ReplicaURLs, " ") != strings.Join(tc.want, " ") || len(c.ReplicaURLs) != len(tc.want) {
			t.Errorf("DATABASE_REPLICA_URLS=%q: %q, want %q", tc.in, c.ReplicaURLs, tc.want)
		}
		if c.ReplicaMaxLag != 5*time.Second || c.ReplicaWait != 50*time.Millisecond {
			t.Errorf("defaults: max lag %v, wait %v", c.ReplicaMaxLag, c.ReplicaWait)
		}
	}
}
