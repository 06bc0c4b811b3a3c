package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Target names.
const (
	targetInkwell = "inkwell"
	targetFloor   = "floor"
	targetPeer    = "postgraphile"
)

// target is one server under test.
type target struct {
	name       string
	url        string // its POST /graphql endpoint
	proc       *proc
	metricsURL string // Inkwell's telemetry listener (…/metrics), "" for the anchors
	// targeter makes the request source of a workload for this server.
	targeter func(w *workload) vegeta.Targeter
	docs     map[string]*doc   // an anchor's kit documents by workload
	env      map[string]string // Inkwell's environment, for a second instance (-stale)
}

func (t *target) anchorDoc(w *workload) *doc { return t.docs[w.name] }

// roundResult is what one attack measured.
type roundResult struct {
	Workload string  `json:"workload"`
	Target   string  `json:"target"`
	Round    int     `json:"round"` // 0 for a warm-up
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"` // successful responses per second
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	AvgBytes float64 `json:"avg_response_bytes"`
	// StatementsPerRequest is the rise of inkwell_sql_statements_total over the round
	// divided by the requests sent in it (Inkwell only; -1 for the anchors).
	StatementsPerRequest float64 `json:"sql_statements_per_request"`
	// KeptAnswers is the share of the round's lookups that the response cache answered
	// (inkwell_response_cache_hits_total over hits and misses; -1 for the anchors).
	KeptAnswers float64 `json:"response_cache_hit_ratio"`
	RSSKiB      int     `json:"server_rss_kib_peak"` // peak of 1 s samples of ps -o rss
	ServerCPU   float64 `json:"server_cpu_pct"`      // % of one core
	PostgresCPU float64 `json:"postgres_cpu_pct"`    // % of one core: postmaster and its children
	LoadgenCPU  float64 `json:"loadgen_cpu_pct"`     // % of one core
	MachineCPU  float64 `json:"machine_busy_pct"`    // % of all cores together
	// OtherCPU is what the rest of the machine used meanwhile (% of one core): other
	// targets idling, and anything else running; high values mean a disturbed round.
	OtherCPU   float64 `json:"other_cpu_pct"`
	FirstError string  `json:"first_error,omitempty"`
}

// attack runs one closed-loop attack of w against t for dur and measures it.
func attack(ctx context.Context, t *target, w *workload, dur time.Duration, conc, postmaster int) (roundResult, error) {
	res := roundResult{Workload: w.name, Target: t.name, StatementsPerRequest: -1, KeptAnswers: -1}
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(conc)), vegeta.MaxWorkers(uint64(conc)),
		vegeta.KeepAlive(true), vegeta.Connections(conc), vegeta.MaxConnections(conc),
		vegeta.Timeout(30*time.Second), vegeta.HTTP2(false), vegeta.Redirects(0),
	)
	stopAttack := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stopAttack()

	var before counters
	if t.metricsURL != "" {
		var err error
		if before, err = readCounters(ctx, t.metricsURL); err != nil {
			return res, err
		}
	}
	rss := sampleRSS(t.proc.pid())
	srv0 := procTicks(t.proc.pid())
	pg0 := postgresTicks(postmaster)
	self0 := procTicks(os.Getpid())
	mb0, mt0 := machineTicks()
	start := time.Now()

	var lat []time.Duration
	var bytesIn uint64
	for r := range atk.Attack(t.targeter(w), vegeta.Rate{Freq: 0, Per: time.Second}, dur, w.name) {
		res.Requests++
		bad := r.Error != "" || r.Code != http.StatusOK || bytes.Contains(r.Body, []byte(`"errors"`)) ||
			!bytes.Contains(r.Body, []byte(`"data"`))
		if bad {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("HTTP %d %s: %.300s", r.Code, r.Error, r.Body)
			}
			continue
		}
		lat = append(lat, r.Latency)
		bytesIn += r.BytesIn
	}
	elapsed := time.Since(start).Seconds()
	srv1 := procTicks(t.proc.pid())
	pg1 := postgresTicks(postmaster)
	self1 := procTicks(os.Getpid())
	mb1, mt1 := machineTicks()
	res.RSSKiB = rss.stop()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if t.metricsURL != "" {
		after, err := readCounters(ctx, t.metricsURL)
		if err != nil {
			return res, err
		}
		if res.Requests > 0 {
			res.StatementsPerRequest = (after.statements - before.statements) / float64(res.Requests)
		}
		res.KeptAnswers = 0
		if looked := after.hits + after.misses - before.hits - before.misses; looked > 0 {
			res.KeptAnswers = (after.hits - before.hits) / looked
		}
	}

	slices.Sort(lat)
	res.Seconds = elapsed
	res.RPS = float64(len(lat)) / elapsed
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = quantileMs(lat, 0.50), quantileMs(lat, 0.90), quantileMs(lat, 0.99), quantileMs(lat, 1)
	if len(lat) > 0 {
		res.AvgBytes = float64(bytesIn) / float64(len(lat))
	}
	pct := func(d int64) float64 { return float64(d) / clkTck / elapsed * 100 }
	res.ServerCPU = pct(srv1 - srv0)
	res.PostgresCPU = pct(pg1 - pg0)
	res.LoadgenCPU = pct(self1 - self0)
	if mt1 > mt0 {
		res.MachineCPU = float64(mb1-mb0) / float64(mt1-mt0) * 100
		res.OtherCPU = max(0, res.MachineCPU*float64(runtime.NumCPU())-res.ServerCPU-res.PostgresCPU-res.LoadgenCPU)
	}
	return res, nil
}

// inkwellTargeter sends w's documents with the viewer's bearer token.
func inkwellTargeter(url string, d *dataset) func(w *workload) vegeta.Targeter {
	anon := http.Header{"Content-Type": {"application/json"}}
	return func(w *workload) vegeta.Targeter {
		return func(tgt *vegeta.Target) error {
			c := w.next(d)
			tgt.Method, tgt.URL, tgt.Body, tgt.Header = http.MethodPost, url, c.doc.body(c.vars), anon
			if c.viewer > 0 {
				tgt.Header = d.headers[c.viewer-1]
			}
			return nil
		}
	}
}

// anchorTargeter sends the kit's documents for w; the viewer travels as a variable.
func anchorTargeter(url string, docs map[string]*doc, d *dataset) func(w *workload) vegeta.Targeter {
	hdr := http.Header{"Content-Type": {"application/json"}}
	return func(w *workload) vegeta.Targeter {
		dc := docs[w.name]
		return func(tgt *vegeta.Target) error {
			tgt.Method, tgt.URL, tgt.Body, tgt.Header = http.MethodPost, url, dc.body(w.anchorVars(d)), hdr
			return nil
		}
	}
}

// counters are the figures the benchmark reads from Inkwell's /metrics.
type counters struct {
	statements   float64 // inkwell_sql_statements_total
	hits, misses float64 // inkwell_response_cache_{hits,misses}_total (0 with the cache off)
}

// readCounters reads the counters from Inkwell's /metrics.
func readCounters(ctx context.Context, metricsURL string) (counters, error) {
	var c counters
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return c, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, fmt.Errorf("read the metrics: %w", err)
	}
	defer res.Body.Close()
	found := false
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "inkwell_sql_statements_total":
			dst, found = &c.statements, true
		case "inkwell_response_cache_hits_total":
			dst = &c.hits
		case "inkwell_response_cache_misses_total":
			dst = &c.misses
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !found {
		return c, fmt.Errorf("%s has no inkwell_sql_statements_total", metricsURL)
	}
	return c, nil
}

// saveCPUProfile fetches a CPU profile of secs seconds from Inkwell's /debug/pprof/ into path.
func saveCPUProfile(ctx context.Context, metricsURL string, secs int, path string) error {
	u := strings.TrimSuffix(metricsURL, "/metrics") + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", u, res.StatusCode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ---- process figures from /proc and ps ----

const clkTck = 100 // Linux USER_HZ

// procStat returns utime+stime, cutime+cstime (CPU of reaped children) and the parent PID.
func procStat(pid int) (self, children, ppid int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, 0, 0, false
	}
	f := strings.Fields(s[i+2:]) // f[0] is field 3 of proc(5), the state
	if len(f) < 15 {
		return 0, 0, 0, false
	}
	n := func(k int) int64 { v, _ := strconv.ParseInt(f[k], 10, 64); return v }
	return n(11) + n(12), n(13) + n(14), n(1), true
}

func procTicks(pid int) int64 {
	t, _, _, _ := procStat(pid)
	return t
}

// postgresTicks is the CPU of a PostgreSQL server so far: the postmaster, its exited
// children (reaped into cutime/cstime, so closing pool connections loses nothing) and its
// live children (backends, background workers).
func postgresTicks(postmaster int) int64 {
	if postmaster <= 0 {
		return 0
	}
	own, reaped, _, _ := procStat(postmaster)
	total := own + reaped
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		if t, _, ppid, ok := procStat(pid); ok && int(ppid) == postmaster {
			total += t
		}
	}
	return total
}

// machineTicks are the busy and total ticks of all CPUs together.
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 {
		return 0, 0
	}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total
}

// psRSS is the resident set size of pid in KiB, as ps reports it.
func psRSS(pid int) int {
	out, err := exec.Command("ps", "-o", "rss=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// rssSampler keeps the peak of one ps sample a second.
type rssSampler struct {
	mu   sync.Mutex
	peak int
	pid  int
	quit chan struct{}
	done chan struct{}
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-tk.C:
				s.take()
			}
		}
	}()
	return s
}

func (s *rssSampler) take() {
	r := psRSS(s.pid)
	s.mu.Lock()
	s.peak = max(s.peak, r)
	s.mu.Unlock()
}

// stop takes a last sample and returns the peak in KiB.
func (s *rssSampler) stop() int {
	close(s.quit)
	<-s.done
	s.take()
	return s.peak
}
