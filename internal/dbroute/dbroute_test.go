package dbroute_test

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"

	"inkwell/internal/dbroute"
	"inkwell/internal/localpg"
	"inkwell/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestParseLSN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want dbroute.LSN
		ok   bool
	}{
		{"0/0", 0, true},
		{"16/B374D848", 0x16_B374D848, true},
		{" 1/2 ", 0x1_00000002, true},
		{"FFFFFFFF/FFFFFFFF", 1<<64 - 1, true},
		{"", 0, false},
		{"16", 0, false},
		{"/1", 0, false},
		{"1/", 0, false},
		{"1/2/3", 0, false},
		{"G/1", 0, false},
		{"100000000/0", 0, false},
		{"-1/0", 0, false},
	} {
		got, err := dbroute.ParseLSN(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseLSN(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && tc.in == "16/B374D848" && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

func open(t *testing.T, u string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// setup is a database with a table on the primary and its replica, both reachable
// through a routing driver.
type setup struct {
	url              string // the primary's
	primary, replica *sql.DB
	router           *dbroute.Router
	drv              *dbroute.Driver
	rep              *localpg.Server
}

func newSetup(t *testing.T, maxLag, poll time.Duration) *setup {
	t.Helper()
	onReplica, rep := pgtest.Replica(t)
	dbURL := pgtest.New(t)
	s := &setup{url: dbURL, primary: open(t, dbURL), rep: rep}
	if _, err := s.primary.Exec("CREATE TABLE probe (n int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	s.replica = open(t, onReplica(dbURL))
	eventually(t, 20*time.Second, "the replica has the test database", func() bool {
		var n int
		return s.replica.QueryRow("SELECT count(*) FROM probe").Scan(&n) == nil
	})
	s.router = dbroute.New(dbroute.Config{Primary: s.primary, MaxLag: maxLag, Poll: poll,
		Wait:     200 * time.Millisecond,
		Replicas: []dbroute.Replica{{Name: "replica", DB: s.replica}}})
	s.router.Start()
	t.Cleanup(s.router.Close)
	s.drv = dbroute.NewDriver(s.router, entsql.OpenDB(dialect.Postgres, s.primary), entsql.OpenDB(dialect.Postgres, s.replica))
	eventually(t, 10*time.Second, "the replica joins the rotation", func() bool {
		s.router.MarkChanged() // asks for a poll now, whatever the poll period
		return s.router.Replicas()[0].Up
	})
	return s
}

func eventually(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// read runs, through the driver, a query that says where it ran and how many rows of
// probe it saw.
func (s *setup) read(t *testing.T, ctx context.Context) (onReplica bool, rows int) {
	t.Helper()
	var r entsql.Rows
	if err := s.drv.Query(ctx, "SELECT pg_is_in_recovery(), (SELECT count(*) FROM probe)", []any{}, &r); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	if !r.Next() {
		t.Fatal("no row")
	}
	if err := r.Scan(&onReplica, &rows); err != nil {
		t.Fatal(err)
	}
	return onReplica, rows
}

func (s *setup) write(t *testing.T, n int) dbroute.LSN {
	t.Helper()
	if _, err := s.primary.Exec("INSERT INTO probe VALUES ($1)", n); err != nil {
		t.Fatal(err)
	}
	lsn, err := s.router.PrimaryLSN(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

func (s *setup) pauseReplay(t *testing.T, pause bool) {
	t.Helper()
	q := "SELECT pg_wal_replay_resume()"
	if pause {
		q = "SELECT pg_wal_replay_pause()"
	}
	if _, err := s.replica.Exec(q); err != nil {
		t.Fatal(err)
	}
}

func TestReadsGoWhereTheyMay(t *testing.T) {
	s := newSetup(t, 10*time.Second, 20*time.Millisecond)
	ctx := context.Background()

	if on, _ := s.read(t, ctx); on {
		t.Error("a read without AllowReplica ran on the replica")
	}
	if on, _ := s.read(t, dbroute.AllowReplica(ctx, 0)); !on {
		t.Error("a read with AllowReplica(0) ran on the primary, with a healthy replica")
	}
	if on, _ := s.read(t, dbroute.PrimaryOnly(dbroute.AllowReplica(ctx, 0))); on {
		t.Error("a read with PrimaryOnly ran on the replica")
	}

	// Read-your-writes: with replay paused, the write's LSN is out of the replica's
	// reach; the read waits, then goes to the primary and sees the row.
	s.pauseReplay(t, true)
	lsn := s.write(t, 1)
	start := time.Now()
	if on, rows := s.read(t, dbroute.AllowReplica(ctx, lsn)); on || rows != 1 {
		t.Errorf("read at the write's LSN with replay paused: on replica %v, %d rows; want the primary and 1", on, rows)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("the read went to the primary after %v, before its wait for the replica ran out", waited)
	}
	// A read that needs nothing still takes the (stale) replica.
	if on, rows := s.read(t, dbroute.AllowReplica(ctx, 0)); !on || rows != 0 {
		t.Errorf("read at LSN 0 with replay paused: on replica %v, %d rows; want the replica and 0", on, rows)
	}

	// Once replay resumes the replica serves the read, with the row.
	s.pauseReplay(t, false)
	eventually(t, 5*time.Second, "the replica serves the read at the write's LSN", func() bool {
		on, rows := s.read(t, dbroute.AllowReplica(ctx, lsn))
		if on && rows != 1 {
			t.Fatalf("the replica served a read at %v without the row written there", lsn)
		}
		return on
	})
}

// A change applied to the caches keeps reads off a replica that has not replayed it,
// even reads that ask for no position: they could refill the caches with what the change
// took out.
func TestCacheChangesHoldBackReplicas(t *testing.T) {
	s := newSetup(t, 10*time.Second, 20*time.Millisecond)
	ctx := dbroute.AllowReplica(context.Background(), 0)
	s.pauseReplay(t, true)
	s.write(t, 1)
	s.router.MarkChanged()
	if on, rows := s.read(t, ctx); on || rows != 1 {
		t.Errorf("after a change the replica has not replayed: on replica %v, %d rows; want the primary and 1", on, rows)
	}
	s.pauseReplay(t, false)
	eventually(t, 5*time.Second, "the replica serves reads again", func() bool {
		on, rows := s.read(t, ctx)
		if on && rows != 1 {
			t.Fatal("the replica served a read before replaying the change")
		}
		return on
	})
}

// Changes that never pause do not keep reads off the replica: a read needs the replica
// to have replayed the changes applied before it began, not the ones that keep coming.
// And it gets that: every replica read sees every row whose change was marked before it.
func TestContinuousChangesLeaveReplicasInUse(t *testing.T) {
	s := newSetup(t, 10*time.Second, 20*time.Millisecond)
	ctx := dbroute.AllowReplica(context.Background(), 0)
	var marked atomic.Int64 // rows written and their change marked
	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.primary.Exec("INSERT INTO probe VALUES ($1)", n); err != nil {
				t.Error(err)
				return
			}
			s.router.MarkChanged() // as a change event arrives after its commit
			marked.Store(int64(n))
			time.Sleep(time.Millisecond)
		}
	})
	onReplica := 0
	const reads = 40
	for range reads {
		before := marked.Load()
		on, rows := s.read(t, ctx)
		if on {
			onReplica++
			if int64(rows) < before {
				t.Errorf("a replica read saw %d rows, but %d were written and marked before it began", rows, before)
			}
		}
	}
	close(stop)
	writer.Wait()
	t.Logf("%d of %d reads ran on the replica while changes were marked every millisecond or so", onReplica, reads)
	if onReplica == 0 {
		t.Error("no read ran on the replica while changes kept coming")
	}
}

// While the primary cannot be reached (a failover), a replica's lag is not counted up:
// the replica stays in the rotation and serves the reads it may, rather than leaving it
// once MaxLag has passed and failing them with the primary.
func TestUnreachablePrimaryKeepsReplicasInRotation(t *testing.T) {
	s := newSetup(t, 10*time.Second, 20*time.Millisecond)
	px := newCutProxy(t, s.url)
	const maxLag = 2 * time.Second
	router := dbroute.New(dbroute.Config{Primary: open(t, px.url), MaxLag: maxLag, Poll: 20 * time.Millisecond,
		Wait: 100 * time.Millisecond, Replicas: []dbroute.Replica{{Name: "replica", DB: s.replica}}})
	router.Start()
	t.Cleanup(router.Close)
	eventually(t, 10*time.Second, "the replica joins the rotation", func() bool {
		router.MarkChanged()
		return router.Replicas()[0].Up
	})
	// The replica misses the primary's last write, as an asynchronous one may when the
	// primary dies.
	s.pauseReplay(t, true)
	t.Cleanup(func() { s.pauseReplay(t, false) })
	s.write(t, 1)
	eventually(t, 10*time.Second, "the router sees the replica behind", func() bool {
		router.MarkChanged()
		return router.Replicas()[0].Lag > 0
	})
	px.cut()
	time.Sleep(3 * maxLag)
	if st := router.Replicas()[0]; !st.Up {
		t.Errorf("the replica left the rotation (lag %v) while the primary was unreachable", st.Lag)
	}
}

// cutProxy forwards TCP connections to a database until cut, which closes them all and
// refuses new ones: the database as unreachable as a dead host.
type cutProxy struct {
	url string // the database's URL through the proxy
	ln  net.Listener

	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, dbURL string) *cutProxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.Host = ln.Addr().String()
	p := &cutProxy{url: u.String(), ln: ln}
	t.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func TestLaggingReplicaLeavesTheRotation(t *testing.T) {
	s := newSetup(t, 300*time.Millisecond, 20*time.Millisecond)
	s.pauseReplay(t, true)
	s.write(t, 1)
	eventually(t, 5*time.Second, "the lagging replica leaves the rotation", func() bool { return !s.router.Replicas()[0].Up })
	if lag := s.router.Replicas()[0].Lag; lag < 300*time.Millisecond {
		t.Errorf("replica out of the rotation with a lag of %v, under MaxLag", lag)
	}
	if on, rows := s.read(t, dbroute.AllowReplica(context.Background(), 0)); on || rows != 1 {
		t.Errorf("read with the replica out: on replica %v, %d rows; want the primary and 1", on, rows)
	}
	s.pauseReplay(t, false)
	eventually(t, 5*time.Second, "the replica rejoins once caught up", func() bool { return s.router.Replicas()[0].Up })
}

// A replica that goes away fails no read: the read runs again on the primary and the
// replica leaves the rotation.
func TestReplicaLossFailsNoRead(t *testing.T) {
	// Polled rarely, so that the reads, not the poll, find the replica gone.
	s := newSetup(t, 10*time.Second, time.Hour)
	ctx := dbroute.AllowReplica(context.Background(), 0)
	if on, _ := s.read(t, ctx); !on {
		t.Fatal("the replica served nothing before it was stopped")
	}
	if err := s.rep.Stop(); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if on, rows := s.read(t, ctx); on || rows != 0 {
			t.Fatalf("read with the replica stopped: on replica %v, %d rows", on, rows)
		}
	}
	if s.router.Replicas()[0].Up {
		t.Error("a stopped replica is still in the rotation")
	}
}
