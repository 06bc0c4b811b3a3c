package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/app"
	"inkwell/internal/config"
	"inkwell/internal/dbmigrate"
	"inkwell/internal/localpg"
	"inkwell/internal/seed"
)

// pgSettings are the anchor kit's PostgreSQL settings (its run.sh), so the anchors measure
// as they did there; localpg's Fast adds fsync, synchronous_commit and full_page_writes off.
var pgSettings = map[string]string{
	"max_connections":      "100",
	"shared_buffers":       "256MB",
	"effective_cache_size": "4GB",
	"work_mem":             "8MB",
	"random_page_cost":     "1.1", // everything is cached
	"jit":                  "off",
	"max_wal_size":         "2GB",
}

// pgSettingsOf is pgSettings with the -pg overrides.
func pgSettingsOf(o options) map[string]string {
	s := maps.Clone(pgSettings)
	maps.Copy(s, o.pgSettings)
	return s
}

// peerBridge makes Inkwell's schema read like the kit's to PostGraphile. Inkwell keeps
// articles.slug unique with a unique index (ent's way), while PostGraphile derives
// articleBySlug only from unique constraints; the smart comment declares the same
// uniqueness to it without touching the schema Inkwell runs on.
const peerBridge = `COMMENT ON TABLE articles IS E'@unique slug'`

// anchorIndexes are the kit's plain-schema indexes (schema.sql) that Inkwell's schema no
// longer has: Inkwell orders lists by publication (published_at, partial indexes of
// published articles), the anchors by creation, as plain Conduit does. Without them the
// anchors' feeds sort every followed author's articles (the floor's W1 fell from 748 to
// 150 requests a second) and a ratio to them would flatter Inkwell. Inkwell pays their
// upkeep on writes (W4, W5) like any index.
const anchorIndexes = `
CREATE INDEX IF NOT EXISTS articles_author_created_idx ON articles (author_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS articles_created_idx ON articles (created_at DESC, id DESC);`

// stack is everything the benchmark started, stopped in reverse order by close.
type stack struct {
	pgDir string
	pg    *localpg.Server
	pgLog *os.File
	procs []*proc
}

func (s *stack) close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		if err := p.stop(); err != nil {
			log.Printf("stopping %s (pid %d): %v", p.name, p.pid(), err)
		} else {
			log.Printf("stopped %s (pid %d)", p.name, p.pid())
		}
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			log.Printf("stopping PostgreSQL: %v", err)
		} else {
			log.Printf("stopped PostgreSQL")
		}
	}
	if s.pgLog != nil {
		s.pgLog.Close()
	}
	if s.pgDir != "" {
		if err := os.RemoveAll(s.pgDir); err != nil {
			log.Printf("removing %s: %v", s.pgDir, err)
		} else {
			log.Printf("removed %s", s.pgDir)
		}
	}
}

// postmasterPID reads the server's PID from its data folder, for PostgreSQL's CPU.
func (s *stack) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(s.pgDir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

func run(ctx context.Context, o options) error {
	began := time.Now()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	work, out := under(root, o.work), under(root, o.out)
	kit := ""
	if o.anchors != "" {
		kit = under(root, o.anchors)
		if _, err := os.Stat(filepath.Join(kit, "floor", "main.go")); err != nil {
			return fmt.Errorf("-anchors %s is not the anchor kit (no floor/main.go): %w", kit, err)
		}
	}
	for _, d := range []string{work, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	st := &stack{}
	defer st.close()

	// The builds run while PostgreSQL starts and is seeded.
	var builds sync.WaitGroup
	var buildErr error
	builds.Add(1)
	go func() {
		defer builds.Done()
		buildErr = build(ctx, root, work, kit)
	}()

	size := seed.Sizes[o.size]
	dbURL, err := startDatabase(ctx, st, o, work, size, kit)
	builds.Wait()
	if err != nil {
		return err
	}
	if buildErr != nil {
		return buildErr
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	ds, err := loadDataset(ctx, db)
	if err != nil {
		return err
	}

	if o.explain {
		if err := explain(ctx, db, out, size.Name); err != nil {
			return err
		}
		log.Printf("explain: no sequential scan of articles or notifications; plans in %s", filepath.Join(out, "explain.txt"))
	}
	targets, inkCfg, err := startServers(ctx, st, work, kit, dbURL, o.pool, ds)
	if err != nil {
		return err
	}
	tokens, err := app.NewTokens(inkCfg)
	if err != nil {
		return err
	}
	if err := ds.mintTokens(ctx, db, tokens); err != nil {
		return err
	}

	if o.verify && kit != "" {
		if err := verify(ctx, targets, ds); err != nil {
			return err
		}
	}
	env := describeMachine(ctx, db, root, work, kit != "")

	rep := &report{
		Started: began.UTC(),
		Config: runConfig{
			Size: size.Name, Seed: o.seed, Rounds: o.rounds, DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(),
			Concurrency: o.conc, Workloads: o.workloads, Anchors: kit != "", AnchorPool: o.pool,
			PGSettings: pgSettingsOf(o),
			Database: fmt.Sprintf("users %d, articles %d, comments %d, favorites %d, follows %d, tags %d",
				size.Users, size.Articles, size.Comments, size.Favorites, size.Users*size.FollowsPerUser, size.Tags),
			LoadTool: "github.com/tsenart/vegeta/v12 v12.13.0 as a library, rate 0 (closed loop)",
		},
		Machine: env,
	}
	// The figures mean something only on a quiet machine; say so when it is not.
	b0, t0 := machineTicks()
	time.Sleep(2 * time.Second)
	b1, t1 := machineTicks()
	if t1 > t0 {
		rep.Machine.BusyBeforePct = math.Round(float64(b1-b0)/float64(t1-t0)*1000) / 10
		if rep.Machine.BusyBeforePct > 15 {
			log.Printf("warning: the machine is %.0f%% busy before any load (load average %s): other processes will disturb the figures",
				rep.Machine.BusyBeforePct, loadAverage())
		}
	}
	postmaster := st.postmasterPID()
	for _, name := range o.workloads {
		w := workloadByName(name)
		ts := targets[:1]
		if w.anchors && len(targets) > 1 {
			ts = targets
		}
		if err := measure(ctx, o, w, ts, postmaster, out, rep); err != nil {
			return err
		}
	}
	rep.summarize()
	if o.overload {
		capacity := 0.0
		if s := rep.find("W1", targetInkwell); s != nil {
			capacity = s.RPS
		}
		ov, err := overload(ctx, targets[0], workloadByName("W1"), capacity, o.duration)
		if err != nil {
			return err
		}
		rep.Overload = &ov
		log.Printf("overload: %s", ov)
	}
	if o.stale {
		sr, err := stale(ctx, st, work, targets[0], db, ds, 16, o.duration)
		if err != nil {
			return err
		}
		rep.Stale = &sr
		log.Printf("stale reads: %s", sr)
	}
	rep.Finished = time.Now().UTC()
	md := rep.markdown()
	if err := rep.write(out, md); err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(rep.text())
	log.Printf("results in %s (results.json, results.md); took %s", out, time.Since(began).Round(time.Second))
	return nil
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// build compiles inkwell and the floor into work and installs PostGraphile there.
func build(ctx context.Context, root, work, kit string) error {
	t := time.Now()
	// Built as the Dockerfile builds it, so the figures (RSS above all) are the shipped
	// binary's: static, without cgo's libc, and without symbol tables.
	if err := runCmd(ctx, root, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags=-s -w",
		"-o", filepath.Join(work, "inkwell"), "./cmd/inkwell"); err != nil {
		return fmt.Errorf("build inkwell: %w", err)
	}
	log.Printf("built inkwell (%s)", time.Since(t).Round(100*time.Millisecond))
	if kit == "" {
		return nil
	}
	t = time.Now()
	// The kit is read-only: go build -C writes nothing into it, only the binary into work.
	if err := runCmd(ctx, kit, nil, "go", "build", "-o", filepath.Join(work, "floor"), "./floor"); err != nil {
		return fmt.Errorf("build floor: %w", err)
	}
	log.Printf("built floor (%s)", time.Since(t).Round(100*time.Millisecond))
	return installPeer(ctx, kit, filepath.Join(work, "peer"))
}

// installPeer copies the kit's package.json and package-lock.json into dir and runs
// npm ci there, unless dir already holds an install of the same lock file.
func installPeer(ctx context.Context, kit, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	lock, err := os.ReadFile(filepath.Join(kit, "peer", "package-lock.json"))
	if err != nil {
		return err
	}
	pkg, err := os.ReadFile(filepath.Join(kit, "peer", "package.json"))
	if err != nil {
		return err
	}
	have, _ := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "postgraphile", "package.json")); err == nil && bytes.Equal(have, lock) {
		log.Printf("PostGraphile already installed in %s", dir)
		return nil
	}
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	t := time.Now()
	if err := runCmd(ctx, dir, nil, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"); err != nil {
		return fmt.Errorf("install PostGraphile: %w", err)
	}
	log.Printf("installed PostGraphile with npm ci (%s)", time.Since(t).Round(100*time.Millisecond))
	return nil
}

// startDatabase starts a throw-away PostgreSQL, migrates and seeds database inkwell, adds
// the anchors' SQL when they run, and returns the database's URL.
func startDatabase(ctx context.Context, st *stack, o options, work string, size seed.Size, kit string) (string, error) {
	dir, err := os.MkdirTemp("", "inkwell-bench-pg-")
	if err != nil {
		return "", err
	}
	st.pgDir = dir
	t := time.Now()
	settings := pgSettingsOf(o)
	pglog, err := os.Create(filepath.Join(work, "postgres.log"))
	if err != nil {
		return "", err
	}
	st.pgLog = pglog
	srv, err := localpg.Start(ctx, localpg.Options{Dir: dir, Fast: true, Settings: settings, Log: pglog})
	if err != nil {
		return "", err
	}
	st.pg = srv
	log.Printf("PostgreSQL up in %s (%s)", dir, time.Since(t).Round(100*time.Millisecond))
	admin, err := sql.Open("postgres", srv.URL("postgres"))
	if err != nil {
		return "", err
	}
	_, err = admin.ExecContext(ctx, `CREATE DATABASE inkwell`)
	admin.Close()
	if err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	url := srv.URL("inkwell")
	db, err := sql.Open("postgres", url)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if err := dbmigrate.UpDB(ctx, db); err != nil {
		return "", err
	}
	t = time.Now()
	err = seed.Run(ctx, db, seed.Options{Size: size, Seed: o.seed, Progress: func(table string, done, total int) {
		if done == total {
			log.Printf("seeded %-12s %8d rows", table, total)
		}
	}})
	if err != nil {
		return "", err
	}
	log.Printf("seeded size %s with seed %d (%s)", size.Name, o.seed, time.Since(t).Round(100*time.Millisecond))
	if kit != "" {
		b, err := os.ReadFile(filepath.Join(kit, "peer", "postgraphile.sql"))
		if err != nil {
			return "", err
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			return "", fmt.Errorf("apply the kit's peer/postgraphile.sql: %w", err)
		}
		if _, err := db.ExecContext(ctx, peerBridge); err != nil {
			return "", fmt.Errorf("bridge for PostGraphile: %w", err)
		}
		if _, err := db.ExecContext(ctx, anchorIndexes); err != nil {
			return "", fmt.Errorf("the anchors' indexes: %w", err)
		}
	}
	// As the kit does: visibility maps set (index-only scans), statistics fresh, dirty
	// pages written, so no target pays for the seed's aftermath.
	for _, q := range []string{`VACUUM (ANALYZE, FREEZE)`, `CHECKPOINT`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
	}
	return url, nil
}

// startServers starts inkwell serve and, with a kit, the floor and PostGraphile, all on
// loopback ports, and waits until each answers. targets[0] is Inkwell.
func startServers(ctx context.Context, st *stack, work, kit, dbURL string, pool int, ds *dataset) ([]*target, config.Config, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, config.Config{}, err
	}
	inkEnv := map[string]string{
		"INKWELL_ENV":              "production",
		"DATABASE_URL":             dbURL,
		"INKWELL_SIGNING_KEY":      hex.EncodeToString(key),
		"INKWELL_DEMO_DATA":        "false",
		"INKWELL_MIGRATE_ON_START": "false",
		// Tokens are minted once, up front; they must outlive the longest run.
		"INKWELL_ACCESS_TTL": "24h",
		// -stale's one client edits an article about 100 times a second, past any
		// account's write budget (120 a minute); the other workloads stay under it.
		"INKWELL_RATE_WRITE": "off",
	}
	// The config the server will read, so the tokens minted here verify there.
	cfg, err := config.FromEnv(func(k string) string {
		if v, ok := inkEnv[k]; ok {
			return v
		}
		return os.Getenv(k)
	})
	if err != nil {
		return nil, cfg, err
	}
	t, err := startInkwell(ctx, st, work, targetInkwell, inkEnv)
	if err != nil {
		return nil, cfg, err
	}
	t.targeter = inkwellTargeter(t.url, ds)
	targets := []*target{t}
	if kit == "" {
		return targets, cfg, nil
	}

	docs, err := anchorDocs(kit)
	if err != nil {
		return nil, cfg, err
	}
	faddr, err := freeAddr()
	if err != nil {
		return nil, cfg, err
	}
	floor, err := startProc(targetFloor, filepath.Join(work, "floor.log"), work, nil, filepath.Join(work, "floor"),
		"-addr", faddr, "-db", dbURL, "-max-conns", strconv.Itoa(pool))
	if err != nil {
		return nil, cfg, err
	}
	st.procs = append(st.procs, floor)
	paddr, err := freeAddr()
	if err != nil {
		return nil, cfg, err
	}
	_, pport, _ := strings.Cut(paddr, ":")
	peer, err := startProc(targetPeer, filepath.Join(work, "postgraphile.log"), work, []string{"NODE_ENV=production"},
		"node", filepath.Join(work, "peer", "node_modules", "postgraphile", "cli.js"),
		"-c", dbURL, "-s", "public", "-n", "127.0.0.1", "-p", pport, "-m", strconv.Itoa(pool),
		"--disable-query-log", "--disable-graphiql", "--no-setof-functions-contain-nulls", "--no-ignore-rbac")
	if err != nil {
		return nil, cfg, err
	}
	st.procs = append(st.procs, peer)
	if err := floor.waitReady(ctx, httpOK("GET", "http://"+faddr+"/healthz", "")); err != nil {
		return nil, cfg, err
	}
	if err := peer.waitReady(ctx, httpOK("POST", "http://"+paddr+"/graphql", `{"query":"{__typename}"}`)); err != nil {
		return nil, cfg, err
	}
	log.Printf("floor up (pid %d) on http://%s/graphql, PostGraphile up (pid %d) on http://%s/graphql (pool %d each)",
		floor.pid(), faddr, peer.pid(), paddr, pool)
	floorURL, peerURL := "http://"+faddr+"/graphql", "http://"+paddr+"/graphql"
	targets = append(targets,
		&target{name: targetFloor, url: floorURL, proc: floor, docs: docs[targetFloor],
			targeter: anchorTargeter(floorURL, docs[targetFloor], ds)},
		&target{name: targetPeer, url: peerURL, proc: peer, docs: docs[targetPeer],
			targeter: anchorTargeter(peerURL, docs[targetPeer], ds)})
	return targets, cfg, nil
}

// startInkwell starts `inkwell serve` with env, on addresses of its own (any given in env
// are replaced), and waits until it is ready.
func startInkwell(ctx context.Context, st *stack, work, name string, env map[string]string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	maddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env = maps.Clone(env)
	env["INKWELL_ADDR"], env["INKWELL_METRICS_ADDR"] = addr, maddr
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	slices.Sort(list)
	ink, err := startProc(name, filepath.Join(work, name+".log"), work, list, filepath.Join(work, "inkwell"), "serve")
	if err != nil {
		return nil, err
	}
	st.procs = append(st.procs, ink)
	if err := ink.waitReady(ctx, httpOK("GET", "http://"+addr+"/readyz", "")); err != nil {
		return nil, err
	}
	if err := ink.waitReady(ctx, httpOK("GET", "http://"+maddr+"/metrics", "")); err != nil {
		return nil, err
	}
	log.Printf("%s serve up (pid %d) on http://%s/graphql, metrics on http://%s/metrics", name, ink.pid(), addr, maddr)
	return &target{name: name, url: "http://" + addr + "/graphql", proc: ink, metricsURL: "http://" + maddr + "/metrics", env: env}, nil
}

// measure runs one workload: a warm-up per target, then the rounds, the order of the
// targets reversed every other round.
func measure(ctx context.Context, o options, w *workload, ts []*target, postmaster int, out string, rep *report) error {
	log.Printf("%s: %s", w.name, w.title)
	for _, t := range ts {
		rep.IdleRSSKiB = setIdle(rep.IdleRSSKiB, w.name, t.name, psRSS(t.proc.pid()))
		if o.warmup <= 0 {
			continue
		}
		r, err := attack(ctx, t, w, o.warmup, o.conc, postmaster)
		if err != nil {
			return err
		}
		log.Printf("%s %-12s warm-up  %7.0f req/s  %d errors %s", w.name, t.name, r.RPS, r.Errors, r.FirstError)
	}
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(ts)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, t := range order {
			var profile chan error
			if o.cpuProfile == w.name && round == 1 && t.metricsURL != "" {
				profile = make(chan error, 1)
				secs := max(1, min(30, int(o.duration.Seconds())-2))
				path := filepath.Join(out, "inkwell-"+w.name+".cpu.pprof")
				go func() { profile <- saveCPUProfile(ctx, t.metricsURL, secs, path) }()
				log.Printf("%s: CPU profile of %ds into %s", w.name, secs, path)
			}
			r, err := attack(ctx, t, w, o.duration, o.conc, postmaster)
			if profile != nil {
				if perr := <-profile; perr != nil {
					log.Printf("CPU profile: %v", perr)
				}
			}
			if err != nil {
				return err
			}
			r.Round = round
			rep.Rounds = append(rep.Rounds, r)
			stmts := ""
			if r.StatementsPerRequest >= 0 {
				stmts = fmt.Sprintf("  sql/req %.2f  kept %.0f%%", r.StatementsPerRequest, 100*r.KeptAnswers)
			}
			log.Printf("%s %-12s round %d %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d/%d  rss %.1f MiB  cpu server %3.0f%% pg %3.0f%% other %3.0f%%%s %s",
				w.name, t.name, round, r.RPS, r.P50ms, r.P99ms, r.Errors, r.Requests, float64(r.RSSKiB)/1024,
				r.ServerCPU, r.PostgresCPU, r.OtherCPU, stmts, r.FirstError)
		}
	}
	if err := ctx.Err(); err != nil {
		return errors.New("interrupted")
	}
	return nil
}

func setIdle(m map[string]int, wl, target string, kib int) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[wl+"/"+target] = kib
	return m
}
