package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodKey = "5f0c9a7e21b84d3c96e1a0f47b2d8c6e3a9f1b5d7c0e2a4f6b8d1c3e5a7f9b0d"

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFromEnvSecretFiles(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		"INKWELL_ENV":                        "production",
		"DATABASE_URL_FILE":                  writeFile(t, "postgres://app@db/inkwell\n"),
		"INKWELL_SIGNING_KEY_FILE":           writeFile(t, goodKey+"\r\n"),
		"INKWELL_PREVIOUS_SIGNING_KEYS_FILE": writeFile(t, strings.Repeat("a1b2c3d4e5f6", 3)+"\n"+strings.Repeat("0123456789ab", 3)+"\n"),
		"INKWELL_GITHUB_CLIENT_ID":           "gh-id",
		"INKWELL_GITHUB_CLIENT_SECRET_FILE":  writeFile(t, "gh-secret\n"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://app@db/inkwell" || c.SigningKey != goodKey {
		t.Errorf("DatabaseURL %q, SigningKey %q: want the files' contents without the newline", c.DatabaseURL, c.SigningKey)
	}
	if len(c.PreviousSigningKeys) != 2 || c.PreviousSigningKeys[1] != strings.Repeat("0123456789ab", 3) {
		t.Errorf("PreviousSigningKeys = %q, want one key per line", c.PreviousSigningKeys)
	}
	if len(c.Providers) != 1 || c.Providers[0].ClientSecret != "gh-secret" {
		t.Errorf("Providers = %+v, want GitHub with the file's secret", c.Providers)
	}
}

func TestFromEnvSecretFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"both set", map[string]string{"INKWELL_SIGNING_KEY": goodKey, "INKWELL_SIGNING_KEY_FILE": writeFile(t, goodKey)}, "INKWELL_SIGNING_KEY and INKWELL_SIGNING_KEY_FILE: set only one"},
		{"missing file", map[string]string{"DATABASE_URL_FILE": filepath.Join(t.TempDir(), "nothing")}, "DATABASE_URL_FILE:"},
		{"short key from file", map[string]string{"INKWELL_SIGNING_KEY_FILE": writeFile(t, "short\n")}, "at least 32 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromEnv(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), goodKey) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestFromEnvProductionRefusesWeakKeys(t *testing.T) {
	for _, key := range []string{
		"change-me-to-at-least-32-random-bytes", // deploy/.env.example
		strings.Repeat("k", 32),
		strings.Repeat("abcd", 10),
		"my-default-signing-key-for-inkwell-0123",
		"EXAMPLE0123456789abcdefghijklmnopqrstuv",
	} {
		t.Run(key, func(t *testing.T) {
			_, err := FromEnv(env(map[string]string{"INKWELL_ENV": "production", "DATABASE_URL": "postgres://db/x", "INKWELL_SIGNING_KEY": key}))
			if err == nil || !strings.Contains(err.Error(), "INKWELL_SIGNING_KEY: looks like an example") {
				t.Fatalf("err = %v, want the key refused", err)
			}
			// Development accepts any long enough key.
			if _, err := FromEnv(env(map[string]string{"INKWELL_SIGNING_KEY": key})); err != nil {
				t.Fatalf("development: %v", err)
			}
		})
	}
	if _, err := FromEnv(env(map[string]string{"INKWELL_ENV": "production", "DATABASE_URL": "postgres://db/x", "INKWELL_SIGNING_KEY": goodKey})); err != nil {
		t.Fatalf("a random key: %v", err)
	}
}

func TestFromEnvLifecycle(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownGrace != 10*time.Second || c.ShutdownDelay != 0 || c.DBMaxConns != 20 {
		t.Errorf("defaults: grace %v, delay %v, max conns %d; want 10s, 0s, 20", c.ShutdownGrace, c.ShutdownDelay, c.DBMaxConns)
	}
	c, err = FromEnv(env(map[string]string{"INKWELL_SHUTDOWN_GRACE": "30s", "INKWELL_SHUTDOWN_DELAY": "5s", "INKWELL_DB_MAX_CONNS": "4"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownGrace != 30*time.Second || c.ShutdownDelay != 5*time.Second || c.DBMaxConns != 4 {
		t.Errorf("got grace %v, delay %v, max conns %d", c.ShutdownGrace, c.ShutdownDelay, c.DBMaxConns)
	}
	if _, err := FromEnv(env(map[string]string{"INKWELL_SHUTDOWN_DELAY": "-1s"})); err == nil {
		t.Error("a negative shutdown delay was accepted")
	}
	if _, err := FromEnv(env(map[string]string{"INKWELL_DB_MAX_CONNS": "0"})); err == nil {
		t.Error("zero database connections were accepted")
	}
}
