// Package stmtcache keeps the statements the server reads with prepared on PostgreSQL,
// so that each is parsed and planned once per connection instead of once per query.
// On the hot pages planning cost PostgreSQL more CPU than running the statements.
//
// Only reads outside transactions are prepared: writes are rarer, and a transaction's
// statements stay on its connection anyway. Behind a pooler in transaction mode that
// cannot keep prepared statements (PgBouncer before 1.21), turn the cache off
// (INKWELL_DB_PREPARED_STATEMENTS=0).
package stmtcache

import (
	"container/list"
	"context"
	"database/sql"
	"fmt"
	"sync"

	entsql "entgo.io/ent/dialect/sql"
)

// Driver is ent's SQL driver that runs reads through prepared statements, keeping at
// most max of them (the least recently used is closed first).
type Driver struct {
	*entsql.Driver
	db  *sql.DB
	max int

	mu      sync.Mutex
	byQuery map[string]*list.Element // of *stmt
	recent  list.List                // most recently used first
}

// stmt is one prepared statement. A statement that leaves the cache is closed when the
// last query that took it has started (database/sql closes it on each connection once
// that connection is idle, so rows still being read are safe).
type stmt struct {
	query   string
	st      *sql.Stmt
	users   int
	evicted bool
}

// Wrap returns d preparing up to max statements. max ≤ 0 returns a driver that prepares
// nothing.
func Wrap(d *entsql.Driver, max int) *Driver {
	return &Driver{Driver: d, db: d.DB(), max: max, byQuery: map[string]*list.Element{}}
}

// Len is the number of statements kept prepared.
func (d *Driver) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.byQuery)
}

// Query runs an ent query through its prepared statement.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	argv, ok2 := args.([]any)
	if !ok || !ok2 || d.max <= 0 {
		return d.Driver.Query(ctx, query, args, v)
	}
	r, err := d.QueryContext(ctx, query, argv...)
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}

// QueryContext runs a raw query through its prepared statement.
func (d *Driver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if d.max <= 0 {
		return d.Driver.QueryContext(ctx, query, args...)
	}
	s, err := d.take(ctx, query)
	if err != nil {
		return nil, err
	}
	defer d.give(s)
	return s.st.QueryContext(ctx, args...)
}

// take returns query's statement, preparing it on first use, and marks it in use.
func (d *Driver) take(ctx context.Context, query string) (*stmt, error) {
	d.mu.Lock()
	if e, ok := d.byQuery[query]; ok {
		s := e.Value.(*stmt)
		s.users++
		d.recent.MoveToFront(e)
		d.mu.Unlock()
		return s, nil
	}
	d.mu.Unlock()

	// Prepare outside the lock: it is a round trip. Two first uses may both prepare; the
	// second one keeps the first's statement and closes its own.
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.byQuery[query]; ok {
		_ = st.Close()
		s := e.Value.(*stmt)
		s.users++
		d.recent.MoveToFront(e)
		return s, nil
	}
	s := &stmt{query: query, st: st, users: 1}
	d.byQuery[query] = d.recent.PushFront(s)
	for len(d.byQuery) > d.max {
		old := d.recent.Back()
		o := old.Value.(*stmt)
		d.recent.Remove(old)
		delete(d.byQuery, o.query)
		o.evicted = true
		if o.users == 0 {
			_ = o.st.Close()
		}
	}
	return s, nil
}

// give marks s no longer in use, closing it when it has left the cache.
func (d *Driver) give(s *stmt) {
	d.mu.Lock()
	s.users--
	closeNow := s.evicted && s.users == 0
	d.mu.Unlock()
	if closeNow {
		_ = s.st.Close()
	}
}

// Close closes every prepared statement, then the database.
func (d *Driver) Close() error {
	d.mu.Lock()
	for _, e := range d.byQuery {
		s := e.Value.(*stmt)
		s.evicted = true
		if s.users == 0 {
			_ = s.st.Close()
		}
	}
	d.byQuery = map[string]*list.Element{}
	d.recent.Init()
	d.mu.Unlock()
	return d.Driver.Close()
}
