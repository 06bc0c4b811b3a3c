//go:build opstest

package opstest

import (
	"database/sql"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// drainEnv is how the instances stop behind the proxy: a shutdown delay longer than
// nginx's upstream keepalive_timeout (2s), then the grace period.
var drainEnv = []string{"INKWELL_SHUTDOWN_DELAY=3s", "INKWELL_SHUTDOWN_GRACE=10s"}

// Two instances behind nginx; under load each in turn is taken out of the upstream, gets
// SIGTERM and is replaced by a new process on its port. Not one request may fail, and
// every acknowledged write must be in the database.
func TestRollingDeployUnderLoad(t *testing.T) {
	dsn := newDatabase(t)
	ports := []int{freePort(t), freePort(t)}
	// Both start at once on an empty database: the migrations' advisory lock lets one
	// apply them while the other waits.
	var a, b *instance
	var wg sync.WaitGroup
	wg.Go(func() { a = startInstance(t, ports[0], dsn, drainEnv...) })
	wg.Go(func() { b = startInstance(t, ports[1], dsn, drainEnv...) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	px := startProxy(t, ports...)
	token, slug := signUp(t, px.base())

	load := loadRun{readers: 4, writers: 2, duration: 22 * time.Second, base: px.base(), token: token, slug: slug, tag: "rolling", freshConns: true}
	results := make(chan []outcome, 1)
	go func() { results <- load.run() }()

	time.Sleep(2 * time.Second)
	for n, old := range []*instance{a, b} {
		// nginx has no active health checks, so it cannot see /readyz turn: like any
		// rolling deploy behind it, take the instance out of rotation first. Requests it
		// is still serving are what SIGTERM must let finish.
		px.setDown(t, old.port)
		sent := time.Now()
		_ = old.cmd.Process.Signal(syscall.SIGTERM)
		// Readiness turns at once, while requests are still served.
		time.Sleep(200 * time.Millisecond)
		if got := readyz(old.base()); got != http.StatusServiceUnavailable {
			t.Errorf("instance %d: /readyz = %d just after SIGTERM, want 503", n, got)
		}
		if code := old.stop(t, syscall.SIGTERM, 20*time.Second); code != 0 {
			t.Errorf("instance %d exited with %d after SIGTERM, want 0", n, code)
		}
		stopped := time.Since(sent)
		startInstance(t, old.port, dsn, drainEnv...)
		px.setDown(t, 0)
		t.Logf("instance %d: stopped %s after SIGTERM, replacement ready %s after", n, stopped.Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
	}
	out := <-results
	f := summarise(out)
	found := checkAcked(t, dsn, out)
	refused, other := px.retried()
	t.Logf("rolling deploy: %s; acknowledged writes found in the database %d/%d; nginx passed on %d refused and %d other failed attempts",
		f, found, f.Acked, refused, other)
	if f.Failed > 0 {
		t.Errorf("%d requests failed, want 0:%s", f.Failed, failures(out, 10))
	}
	if f.Acked == 0 || f.Reads == 0 {
		t.Errorf("the load did nothing: %s", f)
	}
}

// An instance killed mid-load: reads, retried by nginx, all succeed; writes sent to it as
// it dies may fail, and are then not acknowledged; every acknowledged one is stored.
func TestKilledInstanceUnderLoad(t *testing.T) {
	dsn := newDatabase(t)
	ports := []int{freePort(t), freePort(t)}
	a := startInstance(t, ports[0], dsn)
	startInstance(t, ports[1], dsn)
	px := startProxy(t, ports...)
	token, slug := signUp(t, px.base())

	load := loadRun{readers: 4, writers: 2, duration: 10 * time.Second, base: px.base(), token: token, slug: slug, tag: "killed"}
	results := make(chan []outcome, 1)
	began := time.Now()
	go func() { results <- load.run() }()
	time.Sleep(3 * time.Second)
	killed := time.Since(began)
	a.stop(t, syscall.SIGKILL, 10*time.Second)
	time.Sleep(2 * time.Second)
	startInstance(t, ports[0], dsn)

	out := <-results
	f := summarise(out)
	found := checkAcked(t, dsn, out)
	refused, other := px.retried()
	t.Logf("SIGKILL at %s: %s; acknowledged writes found in the database %d/%d; nginx passed on %d refused and %d other failed attempts; failed:%s",
		killed.Round(time.Millisecond), f, found, f.Acked, refused, other, failures(out, 5))
	if f.ReadsFailed > 0 {
		t.Errorf("%d reads failed, want 0 (nginx retries them):%s", f.ReadsFailed, failures(out, 10))
	}
	// Only writes sent to the killed instance as it died may fail: those in flight, and
	// those nginx sent on a kept-alive connection before it saw that connection close.
	// Once it has, every new connection is refused and passed on, so nothing later fails.
	for _, o := range out {
		if !o.ok() && o.at > killed+time.Second {
			t.Errorf("a write sent %s after the kill failed: status %d err %v", o.at-killed, o.status, o.err)
		}
	}
	if f.Acked == 0 {
		t.Errorf("no write acknowledged: %s", f)
	}
}

// PostgreSQL stops mid-load and comes back two seconds later on the same port: meanwhile
// requests are answered 503 DATABASE_UNAVAILABLE (never 500, never hanging) and /readyz is
// 503; afterwards everything works again without restarting the instances.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	dsn := newDatabase(t)
	ports := []int{freePort(t), freePort(t)}
	a := startInstance(t, ports[0], dsn)
	startInstance(t, ports[1], dsn)
	px := startProxy(t, ports...)
	token, slug := signUp(t, px.base())

	load := loadRun{readers: 4, writers: 2, duration: 14 * time.Second, base: px.base(), token: token, slug: slug, tag: "pgrestart"}
	results := make(chan []outcome, 1)
	began := time.Now()
	go func() { results <- load.run() }()
	time.Sleep(3 * time.Second)
	down := time.Since(began)
	if err := pg.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	readyDuring := readyz(a.base())
	time.Sleep(1500 * time.Millisecond)
	if err := pg.Start(); err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	up := time.Since(began)
	readyAfter := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if readyAfter = readyz(a.base()); readyAfter == http.StatusOK {
			break
		}
	}
	out := <-results
	f := summarise(out)
	found := checkAcked(t, dsn, out)
	var recovered time.Duration
	unavailable, lateFailures := 0, 0
	for _, o := range out {
		switch {
		case o.ok():
			continue
		case o.coded503():
			if o.code == "DATABASE_UNAVAILABLE" {
				unavailable++
			}
			recovered = max(recovered, o.at+o.latency)
		default:
			t.Errorf("at %s: status %d code %q err %v, want 200 or 503 DATABASE_UNAVAILABLE (or OVERLOADED)", o.at.Round(time.Millisecond), o.status, o.code, o.err)
		}
		if o.at > up+5*time.Second {
			lateFailures++
		}
	}
	t.Logf("PostgreSQL restart: down at %s, up at %s, last failure answered at %s; %s; 503 DATABASE_UNAVAILABLE %d; /readyz %d during, %d after; acknowledged writes found %d/%d",
		down.Round(time.Millisecond), up.Round(time.Millisecond), recovered.Round(time.Millisecond), f, unavailable, readyDuring, readyAfter, found, f.Acked)
	if unavailable == 0 {
		t.Error("no request saw the outage: want 503 DATABASE_UNAVAILABLE while PostgreSQL was down")
	}
	if lateFailures > 0 {
		t.Errorf("%d requests failed more than 5s after PostgreSQL was back", lateFailures)
	}
	if f.MaxLatency > 10*time.Second {
		t.Errorf("slowest answer took %s, want a bounded wait", f.MaxLatency)
	}
	if readyDuring != http.StatusServiceUnavailable || readyAfter != http.StatusOK {
		t.Errorf("/readyz %d during the outage and %d after, want 503 then 200", readyDuring, readyAfter)
	}
}

// Four database connections and a table locked by another session for a few seconds:
// the requests that need it wait (holding the connections) and are answered when the
// lock goes, or are refused at once with a coded 503 (OVERLOADED once the in-flight bound
// is reached, DATABASE_UNAVAILABLE at the request deadline); /healthz answers meanwhile;
// nothing deadlocks, and afterwards the instance serves normally.
func TestExhaustedPool(t *testing.T) {
	dsn := newDatabase(t)
	inst := startInstance(t, freePort(t), dsn, "INKWELL_DB_MAX_CONNS=4")
	token, slug := signUp(t, inst.base())

	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE articles IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	const held = 4 * time.Second
	locked := time.Now()
	load := loadRun{readers: 12, writers: 4, duration: held - time.Second, base: inst.base(), token: token, slug: slug, tag: "pool"}
	results := make(chan []outcome, 1)
	go func() { results <- load.run() }()
	time.Sleep(time.Second)
	t0 := time.Now()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(inst.base() + "/healthz")
	healthz := time.Since(t0)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz with the pool exhausted: %v", err)
	} else {
		resp.Body.Close()
	}
	readyDuring := readyz(inst.base())
	time.Sleep(held - time.Since(locked))
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	out := <-results
	f := summarise(out)
	for _, o := range out {
		if !o.ok() && !o.coded503() {
			t.Errorf("at %s: status %d code %q err %v, want 200 or 503 DATABASE_UNAVAILABLE or OVERLOADED", o.at.Round(time.Millisecond), o.status, o.code, o.err)
		}
	}
	// Every request waited at most for the lock, plus a margin; none was left hanging.
	if f.MaxLatency > held+3*time.Second {
		t.Errorf("slowest answer took %s with the lock held %s", f.MaxLatency, held)
	}
	after := loadRun{readers: 4, writers: 2, duration: 2 * time.Second, base: inst.base(), token: token, slug: slug, tag: "pool-after"}.run()
	fa := summarise(after)
	found := checkAcked(t, dsn, append(out, after...))
	t.Logf("exhausted pool (4 connections, table locked %s): %s; /healthz %s, /readyz %d meanwhile; afterwards: %s; acknowledged writes found %d/%d",
		held, f, healthz.Round(time.Millisecond), readyDuring, fa, found, f.Acked+fa.Acked)
	if fa.Failed > 0 || fa.Requests == 0 {
		t.Errorf("after the lock: %s", fa)
	}
	if healthz > time.Second {
		t.Errorf("/healthz took %s with the pool exhausted", healthz)
	}
}
