package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type runConfig struct {
	Size        string   `json:"size"`
	Seed        uint64   `json:"seed"`
	Database    string   `json:"database"`
	Rounds      int      `json:"rounds"`
	DurationS   float64  `json:"duration_s"`
	WarmupS     float64  `json:"warmup_s"`
	Concurrency int      `json:"concurrency"`
	Workloads   []string `json:"workloads"`
	Anchors     bool     `json:"anchors"`
	AnchorPool  int      `json:"anchor_db_pool"`
	// PGSettings are the PostgreSQL settings over localpg's Fast ones (fsync,
	// synchronous_commit and full_page_writes off).
	PGSettings map[string]string `json:"pg_settings"`
	LoadTool   string            `json:"load_tool"`
}

type machine struct {
	Date          string  `json:"date_utc"`
	CPU           string  `json:"cpu"`
	Cores         int     `json:"cores"`
	MemoryGiB     float64 `json:"memory_gib"`
	Kernel        string  `json:"kernel"`
	Go            string  `json:"go"`
	PostgreSQL    string  `json:"postgresql"`
	Node          string  `json:"node,omitempty"`
	PostGraphile  string  `json:"postgraphile,omitempty"`
	Vegeta        string  `json:"vegeta"`
	InkwellCommit string  `json:"inkwell_commit"`
	// BusyBeforePct is how busy the machine was (all cores, %) in 2 s before the first
	// workload, with the servers idle: anything above a few % is someone else's load.
	BusyBeforePct float64 `json:"busy_before_pct"`
}

// summary is one target on one workload over all its rounds: medians, except errors and
// requests (totals) and RSS (the highest peak of any round).
type summary struct {
	Workload             string  `json:"workload"`
	Target               string  `json:"target"`
	RPS                  float64 `json:"rps_median"`
	P50ms                float64 `json:"p50_ms_median"`
	P99ms                float64 `json:"p99_ms_median"`
	Errors               int     `json:"errors_total"`
	Requests             int     `json:"requests_total"`
	StatementsPerRequest float64 `json:"sql_statements_per_request_median"` // -1: not measured (anchors)
	KeptAnswers          float64 `json:"response_cache_hit_ratio_median"`   // -1: not measured (anchors)
	RSSKiB               int     `json:"rss_kib_peak"`
	IdleRSSKiB           int     `json:"rss_kib_idle_before"`
	ServerCPU            float64 `json:"server_cpu_pct_median"`
	PostgresCPU          float64 `json:"postgres_cpu_pct_median"`
	LoadgenCPU           float64 `json:"loadgen_cpu_pct_median"`
	MachineCPU           float64 `json:"machine_busy_pct_median"`
	OtherCPU             float64 `json:"other_cpu_pct_median"`
	AvgBytes             float64 `json:"avg_response_bytes"`
}

// ratio compares Inkwell with one anchor on one workload.
type ratio struct {
	Workload string  `json:"workload"`
	Anchor   string  `json:"anchor"`
	RPS      float64 `json:"inkwell_rps_over_anchor_rps"`
	P50      float64 `json:"inkwell_p50_over_anchor_p50"`
}

// check is one target of issue 11, as this run measured it.
type check struct {
	Target string `json:"target"`
	Got    string `json:"measured"`
	Met    bool   `json:"met"`
}

type report struct {
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	Config     runConfig       `json:"config"`
	Machine    machine         `json:"machine"`
	Summary    []summary       `json:"summary"`
	Ratios     []ratio         `json:"ratios"`
	Checks     []check         `json:"checks"`
	Rounds     []roundResult   `json:"rounds"`
	IdleRSSKiB map[string]int  `json:"idle_rss_kib"`       // "W1/inkwell": RSS before the workload's warm-up
	Overload   *overloadResult `json:"overload,omitempty"` // -overload
	Stale      *staleResult    `json:"stale,omitempty"`    // -stale
}

var titles = map[string]string{}

func init() {
	for _, w := range workloads {
		titles[w.name] = w.title
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func (r *report) find(wl, target string) *summary {
	for i := range r.Summary {
		if r.Summary[i].Workload == wl && r.Summary[i].Target == target {
			return &r.Summary[i]
		}
	}
	return nil
}

// summarize fills Summary, Ratios and Checks from Rounds.
func (r *report) summarize() {
	r.Summary, r.Ratios, r.Checks = nil, nil, nil
	for _, wl := range r.Config.Workloads {
		for _, tg := range []string{targetInkwell, targetFloor, targetPeer} {
			var rps, p50, p99, stmts, kept, scpu, pcpu, lcpu, mcpu, ocpu, avg []float64
			s := summary{Workload: wl, Target: tg, IdleRSSKiB: r.IdleRSSKiB[wl+"/"+tg]}
			for _, x := range r.Rounds {
				if x.Workload != wl || x.Target != tg {
					continue
				}
				rps, p50, p99 = append(rps, x.RPS), append(p50, x.P50ms), append(p99, x.P99ms)
				stmts, kept = append(stmts, x.StatementsPerRequest), append(kept, x.KeptAnswers)
				scpu, pcpu = append(scpu, x.ServerCPU), append(pcpu, x.PostgresCPU)
				lcpu, mcpu, ocpu = append(lcpu, x.LoadgenCPU), append(mcpu, x.MachineCPU), append(ocpu, x.OtherCPU)
				avg = append(avg, x.AvgBytes)
				s.Errors += x.Errors
				s.Requests += x.Requests
				s.RSSKiB = max(s.RSSKiB, x.RSSKiB)
			}
			if len(rps) == 0 {
				continue
			}
			s.RPS, s.P50ms, s.P99ms, s.StatementsPerRequest = median(rps), median(p50), median(p99), median(stmts)
			s.ServerCPU, s.PostgresCPU, s.LoadgenCPU, s.MachineCPU = median(scpu), median(pcpu), median(lcpu), median(mcpu)
			s.OtherCPU = median(ocpu)
			s.AvgBytes = median(avg)
			s.KeptAnswers = median(kept)
			r.Summary = append(r.Summary, s)
		}
		ink := r.find(wl, targetInkwell)
		for _, a := range []string{targetFloor, targetPeer} {
			if an := r.find(wl, a); ink != nil && an != nil && an.RPS > 0 && an.P50ms > 0 {
				r.Ratios = append(r.Ratios, ratio{Workload: wl, Anchor: a, RPS: ink.RPS / an.RPS, P50: ink.P50ms / an.P50ms})
			}
		}
	}
	r.checks()
}

func (r *report) ratio(wl, anchor string) *ratio {
	for i := range r.Ratios {
		if r.Ratios[i].Workload == wl && r.Ratios[i].Anchor == anchor {
			return &r.Ratios[i]
		}
	}
	return nil
}

// checks compares the run with the targets of issue 11 (c=16, size M).
func (r *report) checks() {
	add := func(target string, met bool, format string, args ...any) {
		r.Checks = append(r.Checks, check{Target: target, Got: fmt.Sprintf(format, args...), Met: met})
	}
	for _, t := range []struct {
		wl, anchor string
		min        float64
	}{{"W1", targetPeer, 2}, {"W2", targetPeer, 2}, {"W1", targetFloor, 1}, {"W2", targetFloor, 1}, {"W3", targetFloor, 8}} {
		if x := r.ratio(t.wl, t.anchor); x != nil {
			add(fmt.Sprintf("%s req/s ≥ %g× %s's", t.wl, t.min, t.anchor), x.RPS >= t.min, "%.2f×", x.RPS)
		}
	}
	if s := r.find("W1", targetInkwell); s != nil && s.RPS > 0 {
		ms := cpuPerRequestMs(*s)
		add("W1 server CPU per request ≤ 1.5 ms", ms <= 1.5, "%.2f ms", ms)
	}
	for _, wl := range r.Config.Workloads {
		s := r.find(wl, targetInkwell)
		if s == nil {
			continue
		}
		add(wl+" p99 ≤ 3× p50", s.P99ms <= 3*s.P50ms, "%.2f×", s.P99ms/s.P50ms)
		add(wl+" 0 errors", s.Errors == 0, "%d of %d", s.Errors, s.Requests)
	}
	for wl, limit := range map[string]float64{"W1": 6, "W2": 4.96} {
		if s := r.find(wl, targetInkwell); s != nil {
			add(fmt.Sprintf("%s SQL statements per request ≤ %g", wl, limit), s.StatementsPerRequest <= limit+0.005, "%.2f", s.StatementsPerRequest)
		}
	}
	if s := r.find("W3", targetInkwell); s != nil {
		// One statement reads the maintained counts; a kept answer needs none.
		add("W3 SQL statements per request ≤ 1", s.StatementsPerRequest <= 1.005, "%.2f", s.StatementsPerRequest)
	}
	if s := r.find("W5", targetInkwell); s != nil {
		add("server RSS under W5 ≤ 100 MB", float64(s.RSSKiB)*1024 <= 100e6, "%.1f MB", float64(s.RSSKiB)*1024/1e6)
	}
	slices.SortStableFunc(r.Checks, func(a, b check) int { return strings.Compare(a.Target[:2], b.Target[:2]) })
}

// cpuPerRequestMs is the server's CPU time per successful request, in milliseconds.
func cpuPerRequestMs(s summary) float64 {
	if s.RPS <= 0 {
		return 0
	}
	return s.ServerCPU / 100 / s.RPS * 1000
}

func keptCell(s summary) string {
	if s.KeptAnswers < 0 {
		return "–"
	}
	return strconv.FormatFloat(100*s.KeptAnswers, 'f', 0, 64) + " %"
}

func mib(kib int) float64 { return float64(kib) / 1024 }

func stmtsCell(s summary) string {
	if s.StatementsPerRequest < 0 {
		return "–"
	}
	return strconv.FormatFloat(s.StatementsPerRequest, 'f', 2, 64)
}

// text is the terminal report: a table per workload, then the checks.
func (r *report) text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Median of %d rounds × %gs per target, %d closed-loop workers, size %s; RSS is the peak of any round.\n",
		r.Config.Rounds, r.Config.DurationS, r.Config.Concurrency, r.Config.Size)
	for _, wl := range r.Config.Workloads {
		fmt.Fprintf(&b, "\n%s\n", titles[wl])
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\treq/s\tp50 ms\tp99 ms\terrors/requests\tSQL/req\tkept\tRSS peak MiB\tserver CPU\tCPU ms/req\tpostgres CPU\tother CPU\t")
		for _, s := range r.Summary {
			if s.Workload != wl {
				continue
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%d/%d\t%s\t%s\t%.1f\t%.0f%%\t%.2f\t%.0f%%\t%.0f%%\t\n", s.Target, s.RPS, s.P50ms, s.P99ms,
				s.Errors, s.Requests, stmtsCell(s), keptCell(s), mib(s.RSSKiB), s.ServerCPU, cpuPerRequestMs(s), s.PostgresCPU, s.OtherCPU)
		}
		_ = tw.Flush() // it writes into a bytes.Buffer
		var parts []string
		for _, x := range r.Ratios {
			if x.Workload == wl {
				parts = append(parts, fmt.Sprintf("Inkwell ÷ %s: req/s %.2f×, p50 %.2f×", x.Anchor, x.RPS, x.P50))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "%s\n", strings.Join(parts, "; "))
		}
	}
	if r.Overload != nil {
		fmt.Fprintf(&b, "\nOverload: %s\n", r.Overload)
	}
	if r.Stale != nil {
		fmt.Fprintf(&b, "\nStale reads: %s\n", r.Stale)
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(&b, "\nTargets of issue 11:\n")
		for _, c := range r.Checks {
			mark := "met"
			if !c.Met {
				mark = "NOT met"
			}
			fmt.Fprintf(&b, "  %-42s %-12s %s\n", c.Target, c.Got, mark)
		}
	}
	return b.String()
}

// markdown is results.md: the tables, the checks and the machine.
func (r *report) markdown() string {
	var b bytes.Buffer
	c := r.Config
	fmt.Fprintf(&b, "Inkwell load benchmark, %s UTC. Size %s (%s), seed %d. Median of %d rounds × %gs per target after a %gs warm-up per target, "+
		"%d closed-loop workers, targets alternating round by round. RSS is the highest of the rounds' peaks.\n\n",
		r.Started.Format("2006-01-02 15:04"), c.Size, c.Database, c.Seed, c.Rounds, c.DurationS, c.WarmupS, c.Concurrency)
	b.WriteString("| workload | target | req/s | p50 ms | p99 ms | errors / requests | SQL statements / request | answers from the response cache | RSS peak MiB (idle) | server CPU | server CPU ms / request | PostgreSQL CPU | load generator CPU | other CPU |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Summary {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.2f | %.2f | %d / %d | %s | %s | %.1f (%.1f) | %.0f%% | %.2f | %.0f%% | %.0f%% | %.0f%% |\n",
			titles[s.Workload], s.Target, s.RPS, s.P50ms, s.P99ms, s.Errors, s.Requests, stmtsCell(s), keptCell(s),
			mib(s.RSSKiB), mib(s.IdleRSSKiB), s.ServerCPU, cpuPerRequestMs(s), s.PostgresCPU, s.LoadgenCPU, s.OtherCPU)
	}
	b.WriteString("\nCPU is in % of one core (the machine's cores together make " + strconv.Itoa(100*r.Machine.Cores) +
		" %); \"other\" is the rest of the machine meanwhile: the idle targets and any process the benchmark did not start.\n")
	if len(r.Ratios) > 0 {
		b.WriteString("\n| workload | req/s Inkwell ÷ floor | req/s Inkwell ÷ PostGraphile | p50 Inkwell ÷ floor | p50 Inkwell ÷ PostGraphile |\n")
		b.WriteString("|---|---:|---:|---:|---:|\n")
		for _, wl := range c.Workloads {
			f, p := r.ratio(wl, targetFloor), r.ratio(wl, targetPeer)
			if f == nil || p == nil {
				continue
			}
			fmt.Fprintf(&b, "| %s | %.2f× | %.2f× | %.2f× | %.2f× |\n", wl, f.RPS, p.RPS, f.P50, p.P50)
		}
	}
	if len(r.Checks) > 0 {
		b.WriteString("\n| target (issue 11) | measured | met |\n|---|---:|---|\n")
		for _, x := range r.Checks {
			met := "yes"
			if !x.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", x.Target, x.Got, met)
		}
	}
	if r.Overload != nil {
		fmt.Fprintf(&b, "\nOverload: %s.\n", r.Overload)
	}
	if r.Stale != nil {
		fmt.Fprintf(&b, "\nStale reads: %s.\n", r.Stale)
	}
	m := r.Machine
	fmt.Fprintf(&b, "\nMachine: %s × %d cores, %.0f GiB memory, %s; %s; %s", m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.PostgreSQL)
	if m.Node != "" {
		fmt.Fprintf(&b, "; Node %s, PostGraphile %s", m.Node, m.PostGraphile)
	}
	fmt.Fprintf(&b, "; vegeta %s; Inkwell at %s. Before the load the machine was %.0f %% busy.\n", m.Vegeta, m.InkwellCommit, m.BusyBeforePct)
	return b.String()
}

func (r *report) write(dir, md string) error {
	jb, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(jb, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}

// describeMachine records what the run ran on.
func describeMachine(ctx context.Context, db *sql.DB, root, work string, anchors bool) machine {
	m := machine{Date: time.Now().UTC().Format(time.RFC3339), Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				m.MemoryGiB = math.Round(kb/1024/1024*10) / 10
			}
		}
	}
	cmdOut := func(dir, name string, args ...string) string {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	m.Kernel = cmdOut("", "uname", "-sr")
	_ = db.QueryRowContext(ctx, `SELECT version()`).Scan(&m.PostgreSQL)
	if v, _, ok := strings.Cut(m.PostgreSQL, " on "); ok {
		m.PostgreSQL = v
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tsenart/vegeta/v12" {
				m.Vegeta = d.Version
			}
		}
	}
	m.InkwellCommit = cmdOut(root, "git", "rev-parse", "--short", "HEAD")
	if cmdOut(root, "git", "status", "--porcelain", "--untracked-files=no") != "" {
		m.InkwellCommit += " with uncommitted changes"
	}
	if anchors {
		m.Node = cmdOut("", "node", "--version")
		var pkg struct{ Version string }
		if b, err := os.ReadFile(filepath.Join(work, "peer", "node_modules", "postgraphile", "package.json")); err == nil {
			_ = json.Unmarshal(b, &pkg)
		}
		m.PostGraphile = pkg.Version
	}
	return m
}
