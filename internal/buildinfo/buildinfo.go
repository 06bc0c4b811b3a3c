// Package buildinfo tells which build of Inkwell is running: the version given at link
// time, and the commit and date the Go toolchain recorded from version control.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// Set at link time, e.g.
//
//	go build -ldflags "-X inkwell/internal/buildinfo.version=1.2.3" ./cmd/inkwell
//
// commit and date override what the toolchain recorded, for builds without the
// repository's .git (a container build context that leaves it out).
var (
	version = "dev"
	commit  string
	date    string
)

// Info describes one build.
type Info struct {
	// Version is the release (1.2.3), or "dev" for a build without one.
	Version string
	// Commit is the revision built, with "-dirty" when the work tree had changes;
	// "unknown" when neither the linker nor the toolchain said.
	Commit string
	// Date is when that commit was made (RFC 3339), or "unknown".
	Date string
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Get returns this binary's build information.
var Get = sync.OnceValue(func() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
})

// resolve merges what the linker was given with what the toolchain recorded; the
// linker's values win.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		var rev, at string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if info.Commit == "" && rev != "" {
			info.Commit = rev
			if dirty {
				info.Commit += "-dirty"
			}
		}
		if info.Date == "" {
			info.Date = at
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// String is what `inkwell version` prints.
func (i Info) String() string {
	return "inkwell " + i.Version + "\ncommit  " + i.Commit + "\ndate    " + i.Date + "\ngo      " + i.GoVersion + "\n"
}
