package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	recorded := &debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "false"},
	}}
	dirty := &debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"the toolchain's commit and date", "1.2.3", "", "", recorded,
			Info{"1.2.3", "0123abcd", "2026-12-01T10:00:00Z", "go1.26.0"}},
		{"the linker's values win", "1.2.3", "feedbeef", "2026-12-02T00:00:00Z", recorded,
			Info{"1.2.3", "feedbeef", "2026-12-02T00:00:00Z", "go1.26.0"}},
		{"a modified work tree is marked", "dev", "", "", dirty,
			Info{"dev", "0123abcd-dirty", "unknown", "go1.26.0"}},
		{"nothing recorded", "", "", "", nil,
			Info{"dev", "unknown", "unknown", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := resolve(tc.version, tc.commit, tc.date, tc.bi)
			if tc.bi == nil {
				got.GoVersion = ""
			}
			if got != tc.want {
				t.Fatalf("resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	i := Get()
	if i.Version == "" || i.Commit == "" || i.Date == "" || !strings.HasPrefix(i.GoVersion, "go") {
		t.Fatalf("Get() = %+v: every field must be set", i)
	}
	for _, want := range []string{"inkwell " + i.Version, i.Commit, i.Date, i.GoVersion} {
		if !strings.Contains(i.String(), want) {
			t.Errorf("String() = %q, missing %q", i.String(), want)
		}
	}
}
