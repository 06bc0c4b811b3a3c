package telemetry

import (
	"net/http"
	"net/http/pprof"
	"runtime"
	"strings"
)

// LimitHeapProfile turns Go's heap profiler off unless godebug (the GODEBUG variable)
// sets memprofilerate, Go's own switch for it. Go samples an allocation every 512 KB
// and keeps a record for every distinct stack it samples, for as long as the process
// runs: about 3 MB of RSS in a server under load, for a profile that only
// /debug/pprof/heap and /debug/pprof/allocs read, and only when INKWELL_METRICS_ADDR
// serves them. Call it first in main, before the allocations it should not sample.
func LimitHeapProfile(godebug string) {
	if !HeapProfileAsked(godebug) {
		runtime.MemProfileRate = 0
	}
}

// HeapProfileAsked reports whether godebug sets memprofilerate.
func HeapProfileAsked(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if k, _, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "memprofilerate" {
			return true
		}
	}
	return false
}

// heapProfile serves the named profile (heap or allocs), or says how to turn the
// profiler on when LimitHeapProfile turned it off: an empty profile would look like a
// process that allocates nothing.
func heapProfile(name string) http.Handler {
	h := pprof.Handler(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if runtime.MemProfileRate == 0 {
			http.Error(w, "the heap profiler is off: start the server with GODEBUG=memprofilerate=524288 (Go's default rate) to record "+name, http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}
