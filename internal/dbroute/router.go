// Package dbroute sends reads to PostgreSQL streaming replicas when they are fresh enough
// for the request, and everything else to the primary.
//
// Freshness is measured in log positions (LSN), not guessed from time: a read that must
// see a write (its LSN came back to the client in the mutation's response, and the client
// sent it again) goes to a replica only once that replica has replayed the log that far;
// after a bounded wait it goes to the primary. The instance's shared caches take part
// too: once a change has been applied to them, a replica serves reads again only when it
// has replayed past a primary position sampled after that change, so a cache is never
// refilled from a replica older than what it just forgot.
//
// A replica leaves the rotation when it cannot be reached, when it is no longer in
// recovery (promoted), or when it is further behind than Config.MaxLag; a read that fails
// on a replica for want of a connection is run again on the primary.
package dbroute

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Replica is one streaming replica to read from.
type Replica struct {
	// Name identifies the replica in metrics and logs (host:port, no secrets).
	Name string
	DB   *sql.DB
}

// Config configures a Router.
type Config struct {
	// Primary is the read-write database; the Router asks it for the log position.
	Primary *sql.DB
	// Replicas may be empty: every read then goes to the primary.
	Replicas []Replica
	// MaxLag is how far behind the primary, in time, a replica may be and stay in the
	// rotation (default 5s).
	MaxLag time.Duration
	// Wait bounds how long a read waits for a replica to reach the position it needs
	// before it goes to the primary (default 50ms).
	Wait time.Duration
	// Poll is how often positions are sampled when nothing asks sooner (default 100ms).
	Poll time.Duration
	// Logger hears of replicas leaving and rejoining the rotation (nil: slog.Default()).
	Logger *slog.Logger
}

// Router tracks the primary's log position and each replica's, and picks a replica for a
// read. Start it; Close it when done.
type Router struct {
	cfg      Config
	log      *slog.Logger
	replicas []*replica
	next     atomic.Uint64 // round robin over fresh replicas

	changed atomic.Uint64 // changes applied to the caches (MarkChanged)
	wake    chan struct{}

	mu        sync.Mutex
	samples   []sample // the primary's positions, oldest first, for lag
	covered   uint64   // the changed count the watermark was sampled after
	watermark LSN      // a primary position at or past every change counted in covered
	round     chan struct{}

	stop context.CancelFunc
	done chan struct{}
}

type sample struct {
	at  time.Time
	lsn LSN
}

type replica struct {
	Replica
	up     atomic.Bool
	replay atomic.Uint64 // pg_last_wal_replay_lsn() at the last poll
	lag    atomic.Int64  // nanoseconds behind the primary at the last poll
	reads  atomic.Uint64
}

// New returns a Router over cfg; Start begins sampling.
func New(cfg Config) *Router {
	if cfg.MaxLag <= 0 {
		cfg.MaxLag = 5 * time.Second
	}
	if cfg.Wait < 0 {
		cfg.Wait = 0
	} else if cfg.Wait == 0 {
		cfg.Wait = 50 * time.Millisecond
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Router{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), round: make(chan struct{}),
		done: make(chan struct{})}
	for _, rep := range cfg.Replicas {
		r.replicas = append(r.replicas, &replica{Replica: rep})
	}
	return r
}

// Start samples positions until Close. Replicas are out of the rotation until their first
// good sample.
func (r *Router) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go r.run(ctx)
}

// Close stops sampling. It does not close the databases.
func (r *Router) Close() {
	if r.stop == nil {
		return
	}
	r.stop()
	<-r.done
}

// HasReplicas reports whether any replica is configured.
func (r *Router) HasReplicas() bool { return r != nil && len(r.replicas) > 0 }

// PrimaryLSN is the primary's current log position: at or past the commit of every
// transaction that committed before the call. The insert position, not the write
// position: with synchronous_commit off a commit returns before its record is written.
func (r *Router) PrimaryLSN(ctx context.Context) (LSN, error) {
	var l LSN
	err := r.cfg.Primary.QueryRowContext(ctx, "SELECT pg_current_wal_insert_lsn()").Scan(&l)
	return l, err
}

// MarkChanged says a change is about to be applied to the caches: until a primary
// position sampled after it is known, and a replica has replayed that far, reads that
// begin after it and could refill the caches go to the primary. Call it before the
// change evicts anything, so that a read whose loads the eviction does not refuse
// counts the change.
func (r *Router) MarkChanged() {
	if !r.HasReplicas() {
		return
	}
	r.changed.Add(1)
	r.kick()
}

func (r *Router) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// ReplicaState is a replica as the last poll saw it, for metrics.
type ReplicaState struct {
	Name  string
	Up    bool
	Lag   time.Duration
	Reads uint64
}

// Replicas reports each replica's state.
func (r *Router) Replicas() []ReplicaState {
	out := make([]ReplicaState, len(r.replicas))
	for i, rep := range r.replicas {
		out[i] = ReplicaState{Name: rep.Name, Up: rep.up.Load(), Lag: time.Duration(rep.lag.Load()), Reads: rep.reads.Load()}
	}
	return out
}

// pick returns a replica that has replayed at least min and past the caches' watermark,
// waiting up to Config.Wait for one; nil means the primary.
func (r *Router) pick(ctx context.Context, min LSN) *replica {
	// The changes the caches had applied when this read began: a replica must have
	// replayed past a position sampled after them. Later ones need not hold the read
	// back: what it loads is refused by the caches (their epochs) if a later change
	// evicted it. Under writes that never pause, requiring every change to be covered
	// would send every read to the primary.
	began := r.changed.Load()
	var (
		deadline time.Time
		covering LSN // the first watermark seen that covers began
	)
	for {
		r.mu.Lock()
		known := r.covered >= began
		if known && covering == 0 {
			// Kept: later watermarks cover later changes too, and chasing them would
			// never let a replica catch up while writes go on.
			covering = r.watermark
		}
		need := max(min, covering)
		round := r.round
		r.mu.Unlock()
		anyUp := false
		if known {
			n := len(r.replicas)
			start := int(r.next.Add(1) % uint64(n))
			for i := range n {
				rep := r.replicas[(start+i)%n]
				if !rep.up.Load() {
					continue
				}
				anyUp = true
				if LSN(rep.replay.Load()) >= need {
					rep.reads.Add(1)
					return rep
				}
			}
		} else {
			for _, rep := range r.replicas {
				anyUp = anyUp || rep.up.Load()
			}
		}
		if !anyUp {
			return nil
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(r.cfg.Wait)
		}
		wait := deadline.Sub(now)
		if wait <= 0 {
			return nil
		}
		r.kick()
		t := time.NewTimer(wait)
		select {
		case <-round:
			t.Stop()
		case <-t.C:
			return nil
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

// down takes rep out of the rotation after a failed read, until a poll finds it well.
func (r *Router) down(rep *replica, err error) {
	if rep.up.Swap(false) {
		r.log.Warn("replica left the rotation", "replica", rep.Name, "err", err)
	}
	r.kick()
}

// minGap keeps a burst of changes from turning into a burst of samples.
const minGap = 5 * time.Millisecond

func (r *Router) run(ctx context.Context) {
	defer close(r.done)
	if len(r.replicas) == 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		start := time.Now()
		r.poll(ctx)
		if ctx.Err() != nil {
			return
		}
		if gap := minGap - time.Since(start); gap > 0 {
			time.Sleep(gap)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// poll samples the primary's position, then each replica's.
func (r *Router) poll(ctx context.Context) {
	timeout := max(r.cfg.Poll*5, time.Second)
	changed := r.changed.Load()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	lsn, err := r.PrimaryLSN(pctx)
	cancel()
	now := time.Now()
	r.mu.Lock()
	if err == nil {
		r.samples = append(r.samples, sample{at: now, lsn: lsn})
		// Enough history to tell a lag of twice MaxLag.
		cut := 0
		for cut < len(r.samples)-1 && now.Sub(r.samples[cut].at) > 2*r.cfg.MaxLag {
			cut++
		}
		r.samples = r.samples[cut:]
		if changed > r.covered {
			r.covered, r.watermark = changed, lsn
		}
	}
	samples := r.samples
	r.mu.Unlock()
	// While the primary cannot be sampled it is not known to write anything the replicas
	// lack, so lag is measured up to its last sample, not to now. Otherwise a failover
	// would push every replica out of the rotation as MaxLag passed, and the reads they
	// could serve would fail with the primary.
	if err != nil && len(samples) > 0 {
		now = samples[len(samples)-1].at
	}

	var wg sync.WaitGroup
	for _, rep := range r.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.pollReplica(ctx, rep, timeout, samples, now)
		}()
	}
	wg.Wait()

	r.mu.Lock()
	close(r.round)
	r.round = make(chan struct{})
	r.mu.Unlock()
}

func (r *Router) pollReplica(parent context.Context, rep *replica, timeout time.Duration, samples []sample, now time.Time) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	var recovering bool
	var replay LSN
	err := rep.DB.QueryRowContext(ctx, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()").Scan(&recovering, &replay)
	if parent.Err() != nil {
		return // closing
	}
	var lag time.Duration
	switch {
	case err != nil:
	case !recovering:
		err = errPromoted
	default:
		rep.replay.Store(uint64(replay))
		var bounded bool
		lag, bounded = lagOf(replay, samples, now)
		rep.lag.Store(int64(lag))
		if !bounded || lag > r.cfg.MaxLag {
			err = errBehind
		}
	}
	if err != nil {
		if rep.up.Swap(false) {
			r.log.Warn("replica left the rotation", "replica", rep.Name, "lag", lag, "err", err)
		}
		return
	}
	if !rep.up.Swap(true) {
		r.log.Info("replica in the rotation", "replica", rep.Name, "lag", lag)
	}
}

var (
	errPromoted = errors.New("no longer in recovery: promoted")
	errBehind   = errors.New("too far behind the primary")
)

// lagOf is how long ago the primary first wrote log the replica has not replayed: the
// time of the oldest sample past replay (0 when none is). When even the oldest sample is
// past replay the lag is at least that old, and not bounded: the replica may be far
// further behind than the samples reach.
func lagOf(replay LSN, samples []sample, now time.Time) (time.Duration, bool) {
	if len(samples) == 0 {
		return 0, false
	}
	for i, s := range samples {
		if s.lsn > replay {
			return now.Sub(s.at), i > 0
		}
	}
	return 0, true
}
