package telemetry_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"inkwell/internal/telemetry"
)

func TestHeapProfileAsked(t *testing.T) {
	t.Parallel()
	for godebug, want := range map[string]bool{
		"":                                 false,
		"gctrace=1":                        false,
		"memprofilerate=524288":            true,
		"memprofilerate=0":                 true,
		"gctrace=1, memprofilerate=1":      true,
		"xmemprofilerate=1,memprofile=1":   false,
		"memprofilerate":                   false,
		"madvdontneed=1,memprofilerate=64": true,
	} {
		if got := telemetry.HeapProfileAsked(godebug); got != want {
			t.Errorf("HeapProfileAsked(%q) = %v, want %v", godebug, got, want)
		}
	}
}

// Not parallel: it sets the process's profiling rate, as main does.
func TestHeapProfileSaysHowToTurnItOn(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	h := telemetry.Handler(telemetry.NewMetrics().Registry)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}

	telemetry.LimitHeapProfile("gctrace=1")
	if runtime.MemProfileRate != 0 {
		t.Fatalf("MemProfileRate = %d without memprofilerate in GODEBUG, want 0", runtime.MemProfileRate)
	}
	for _, p := range []string{"/debug/pprof/heap", "/debug/pprof/allocs"} {
		rec := get(p)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "GODEBUG=memprofilerate=") {
			t.Errorf("%s with the profiler off: HTTP %d %q, want 404 naming GODEBUG=memprofilerate", p, rec.Code, rec.Body)
		}
	}
	if rec := get("/debug/pprof/goroutine?debug=1"); rec.Code != http.StatusOK {
		t.Errorf("goroutine profile with the heap profiler off: HTTP %d, want 200", rec.Code)
	}

	runtime.MemProfileRate = 512 << 10
	telemetry.LimitHeapProfile("memprofilerate=524288")
	if runtime.MemProfileRate != 512<<10 {
		t.Fatalf("MemProfileRate = %d with memprofilerate in GODEBUG, want it left as set", runtime.MemProfileRate)
	}
	for _, p := range []string{"/debug/pprof/heap?debug=1", "/debug/pprof/allocs?debug=1"} {
		if rec := get(p); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "heap profile") {
			t.Errorf("%s with the profiler on: HTTP %d %.80q, want the profile", p, rec.Code, rec.Body)
		}
	}
}
