// Package dbstats counts the SQL statements sent through ent, per request and in total,
// so tests can prove batching and telemetry can report statements per operation.
package dbstats

import (
	"context"
	stdsql "database/sql"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// Counter counts the statements of one unit of work, usually one HTTP request.
type Counter struct{ n atomic.Int64 }

// Count is the number of statements so far.
func (c *Counter) Count() int64 { return c.n.Load() }

type counterKey struct{}

// WithCounter returns ctx carrying a fresh Counter, and that Counter.
func WithCounter(ctx context.Context) (context.Context, *Counter) {
	c := &Counter{}
	return context.WithValue(ctx, counterKey{}, c), c
}

// CounterFrom returns the Counter in ctx, or nil.
func CounterFrom(ctx context.Context) *Counter {
	c, _ := ctx.Value(counterKey{}).(*Counter)
	return c
}

var total atomic.Int64

// Total is the number of statements sent since the process started.
func Total() int64 { return total.Load() }

func count(ctx context.Context) {
	total.Add(1)
	if c := CounterFrom(ctx); c != nil {
		c.n.Add(1)
	}
}

// Driver wraps ent's SQL driver and counts every statement, inside transactions too.
// BEGIN, COMMIT and ROLLBACK are not counted: they carry no query.
type Driver struct {
	*entsql.Driver
}

// Wrap returns d counting its statements.
func Wrap(d *entsql.Driver) *Driver { return &Driver{Driver: d} }

// Exec counts and runs a statement.
func (d *Driver) Exec(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return d.Driver.Exec(ctx, query, args, v)
}

// Query counts and runs a query.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return d.Driver.Query(ctx, query, args, v)
}

// ExecContext counts and runs a raw statement.
func (d *Driver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	count(ctx)
	return d.Driver.ExecContext(ctx, query, args...)
}

// QueryContext counts and runs a raw query.
func (d *Driver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	count(ctx)
	return d.Driver.QueryContext(ctx, query, args...)
}

// Tx starts a counted transaction.
func (d *Driver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx starts a counted transaction with options.
func (d *Driver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countedTx{Tx: tx}, nil
}

type countedTx struct {
	dialect.Tx
}

func (t *countedTx) Exec(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countedTx) Query(ctx context.Context, query string, args, v any) error {
	count(ctx)
	return t.Tx.Query(ctx, query, args, v)
}

func (t *countedTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	count(ctx)
	return t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	}).ExecContext(ctx, query, args...)
}

func (t *countedTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	count(ctx)
	return t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	}).QueryContext(ctx, query, args...)
}
