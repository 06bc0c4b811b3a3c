package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// releaseDir copies the Compose recipe into a fresh folder, with .env.example as its
// .env and a stand-in `docker` that logs each call and fails the one whose arguments
// contain $FAIL_ON.
func releaseDir(t *testing.T) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	for _, f := range []string{"compose.yaml", "switch", "release", "nginx/nginx.conf", "nginx/upstream.conf"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".env"), env, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	log = filepath.Join(dir, "docker.log")
	stub := "#!/bin/sh\necho \"$*\" >>\"$DOCKER_LOG\"\ncase \"$*\" in *\"$FAIL_ON\"*) [ -n \"$FAIL_ON\" ] && exit 1 ;; esac\nexit 0\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

func runRelease(t *testing.T, dir, log, failOn string, args ...string) (string, []string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(dir, "release"), args...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"), "DOCKER_LOG="+log, "FAIL_ON="+failOn)
	out, err := cmd.CombinedOutput()
	calls, _ := os.ReadFile(log)
	return string(out), strings.Split(strings.TrimSpace(string(calls)), "\n"), err
}

func envFile(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

const testImage = "ghcr.io/acme/inkwell@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// deploy/release: the idle color gets the image, migrations first, then the color is
// started and switched to; the live color is not touched.
func TestRelease(t *testing.T) {
	dir, log := releaseDir(t)
	blue := envFile(t, dir)["INKWELL_BLUE_IMAGE"]
	out, calls, err := runRelease(t, dir, log, "", testImage)
	if err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	want := []string{
		"pull -q " + testImage,
		"compose -f compose.yaml run --rm migrate",
		"compose -f compose.yaml up -d --no-deps --wait app-green",
		"compose -f compose.yaml exec -T app-green /inkwell healthcheck -path /readyz",
		"compose -f compose.yaml exec -T nginx nginx -c /etc/nginx/inkwell/nginx.conf -t -q",
		"compose -f compose.yaml exec -T nginx nginx -c /etc/nginx/inkwell/nginx.conf -s reload",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	env := envFile(t, dir)
	if env["INKWELL_IMAGE"] != testImage || env["INKWELL_GREEN_IMAGE"] != testImage || env["INKWELL_BLUE_IMAGE"] != blue {
		t.Errorf(".env images: %q %q %q, want the new one for the migration and green only",
			env["INKWELL_IMAGE"], env["INKWELL_GREEN_IMAGE"], env["INKWELL_BLUE_IMAGE"])
	}
	upstream, err := os.ReadFile(filepath.Join(dir, "nginx/upstream.conf"))
	if err != nil || !strings.Contains(string(upstream), "server app-green:8080 max_fails=3") {
		t.Errorf("upstream.conf after the release:\n%s", upstream)
	}

	// The next release goes to blue.
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(testImage, "0123", "4567", 1)
	if out, calls, err := runRelease(t, dir, log, "", next); err != nil || !strings.Contains(strings.Join(calls, "\n"), "--wait app-blue") {
		t.Errorf("second release: %v, calls %q\n%s", err, calls, out)
	}
	if env := envFile(t, dir); env["INKWELL_BLUE_IMAGE"] != next || env["INKWELL_GREEN_IMAGE"] != testImage {
		t.Errorf(".env after the second release: blue %q, green %q", env["INKWELL_BLUE_IMAGE"], env["INKWELL_GREEN_IMAGE"])
	}
}

// A failed step leaves the live color live and .env as it was; a color that was started
// gets its previous image back.
func TestReleaseFailure(t *testing.T) {
	for _, tc := range []struct {
		failOn    string
		restarted bool
	}{
		{"run --rm migrate", false},
		{"--wait app-green", true},
		{"healthcheck -path /readyz", true},
	} {
		t.Run(tc.failOn, func(t *testing.T) {
			dir, log := releaseDir(t)
			before, err := os.ReadFile(filepath.Join(dir, ".env"))
			if err != nil {
				t.Fatal(err)
			}
			out, calls, err := runRelease(t, dir, log, tc.failOn, testImage)
			if err == nil {
				t.Fatalf("release succeeded with %q failing\n%s", tc.failOn, out)
			}
			after, _ := os.ReadFile(filepath.Join(dir, ".env"))
			if string(after) != string(before) {
				t.Error(".env was not restored")
			}
			upstream, _ := os.ReadFile(filepath.Join(dir, "nginx/upstream.conf"))
			if !strings.Contains(string(upstream), "server app-blue:8080 max_fails=3") {
				t.Errorf("blue is no longer live:\n%s", upstream)
			}
			last := calls[len(calls)-1]
			if restarted := last == "compose -f compose.yaml up -d --no-deps app-green"; restarted != tc.restarted {
				t.Errorf("last docker call %q: want green put back on its image: %v", last, tc.restarted)
			}
		})
	}
	dir, log := releaseDir(t)
	if _, _, err := runRelease(t, dir, log, "", "ghcr.io/acme/inkwell:1.2.3"); err == nil {
		t.Error("release took an image by tag, want a digest")
	}
}
