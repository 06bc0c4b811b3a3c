// Package dbstats counts the SQL statements sent through ent, per request and in total,
// so tests can prove batching and telemetry can report statements per operation. With a
// tracer it also gives each statement an OpenTelemetry span.
package dbstats

import (
	"context"
	stdsql "database/sql"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"inkwell/internal/cache"
)

// Counter counts the statements of one unit of work: an HTTP request, or one GraphQL
// operation within it. Counters nest; a statement counts in every enclosing one.
type Counter struct {
	n      atomic.Int64
	nanos  atomic.Int64
	parent *Counter
}

// Count is the number of statements so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// Duration is the time the statements so far took to answer, added up: statements run
// in parallel each count in full. A query's time ends when PostgreSQL starts answering,
// not when its rows have been read.
func (c *Counter) Duration() time.Duration { return time.Duration(c.nanos.Load()) }

type counterKey struct{}

// WithCounter returns ctx carrying a fresh Counter, and that Counter. A Counter already in
// ctx keeps counting the statements of the new one too.
func WithCounter(ctx context.Context) (context.Context, *Counter) {
	c := &Counter{parent: CounterFrom(ctx)}
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

// background counts the statements of work no request asked for (the periodic jobs).
var background Counter

// Background returns ctx counting its statements as background work (in Total and in
// BackgroundTotal), for a job that runs on its own clock.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, counterKey{}, &background)
}

// BackgroundTotal is how many of Total's statements were background work: what a
// measurement of requests leaves out, since a job's tick may fall within it or not.
func BackgroundTotal() int64 { return background.Count() }

func count(ctx context.Context) {
	total.Add(1)
	// A statement the request's recorded reads do not describe keeps its response out
	// of the response cache.
	cache.Statement(ctx)
	for c := CounterFrom(ctx); c != nil; c = c.parent {
		c.n.Add(1)
	}
}

// timed adds the time since start to every Counter in ctx.
func timed(ctx context.Context, start time.Time) {
	d := int64(time.Since(start))
	for c := CounterFrom(ctx); c != nil; c = c.parent {
		c.nanos.Add(d)
	}
}

// statements counts, and traces when it has a tracer.
type statements struct {
	tracer trace.Tracer
}

// begin counts a statement and, when tracing and inside a traced request, starts its span.
// Statements outside any span (background work) get none: a trace each would only be noise.
func (s statements) begin(ctx context.Context, query string) (context.Context, func(error)) {
	count(ctx)
	start := time.Now()
	if s.tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, func(error) { timed(ctx, start) }
	}
	op := query
	if i := strings.IndexAny(op, " \n\t("); i > 0 {
		op = op[:i]
	}
	op = strings.ToUpper(op)
	// The text holds placeholders only: ent sends every value as an argument, and
	// arguments (password hashes, emails, tokens) never go into a span.
	ctx, span := s.tracer.Start(ctx, "db "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("db.system.name", "postgresql"),
			attribute.String("db.operation.name", op),
			attribute.String("db.query.text", query),
		))
	return ctx, func(err error) {
		timed(ctx, start)
		if err != nil {
			span.SetStatus(codes.Error, "statement failed")
		}
		span.End()
	}
}

// SQLDriver is what Driver wraps: ent's SQL driver (*entsql.Driver), or one wrapping it.
type SQLDriver interface {
	dialect.Driver
	ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error)
	BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error)
}

var _ SQLDriver = (*entsql.Driver)(nil)

// Driver wraps ent's SQL driver and counts every statement, inside transactions too.
// BEGIN, COMMIT and ROLLBACK are not counted: they carry no query.
type Driver struct {
	SQLDriver
	statements
}

// Wrap returns d counting its statements.
func Wrap(d SQLDriver) *Driver { return &Driver{SQLDriver: d} }

// WrapTraced returns d counting its statements and tracing each one with a span from tp,
// as a child of the span in the statement's context. A nil tp traces nothing.
func WrapTraced(d SQLDriver, tp trace.TracerProvider) *Driver {
	w := Wrap(d)
	if tp != nil {
		w.tracer = tp.Tracer("inkwell/internal/dbstats")
	}
	return w
}

// Exec counts and runs a statement.
func (d *Driver) Exec(ctx context.Context, query string, args, v any) error {
	ctx, end := d.begin(ctx, query)
	err := d.SQLDriver.Exec(ctx, query, args, v)
	end(err)
	return err
}

// Query counts and runs a query.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	ctx, end := d.begin(ctx, query)
	err := d.SQLDriver.Query(ctx, query, args, v)
	end(err)
	return err
}

// ExecContext counts and runs a raw statement.
func (d *Driver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	ctx, end := d.begin(ctx, query)
	res, err := d.SQLDriver.ExecContext(ctx, query, args...)
	end(err)
	return res, err
}

// QueryContext counts and runs a raw query. Its span ends when the query has answered,
// not when the rows are read.
func (d *Driver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	ctx, end := d.begin(ctx, query)
	rows, err := d.SQLDriver.QueryContext(ctx, query, args...)
	end(err)
	return rows, err
}

// Tx starts a counted transaction.
func (d *Driver) Tx(ctx context.Context) (dialect.Tx, error) {
	return d.BeginTx(ctx, nil)
}

// BeginTx starts a counted transaction with options.
func (d *Driver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	tx, err := d.SQLDriver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &countedTx{Tx: tx, statements: d.statements}, nil
}

type countedTx struct {
	dialect.Tx
	statements
}

func (t *countedTx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, end := t.begin(ctx, query)
	err := t.Tx.Exec(ctx, query, args, v)
	end(err)
	return err
}

func (t *countedTx) Query(ctx context.Context, query string, args, v any) error {
	ctx, end := t.begin(ctx, query)
	err := t.Tx.Query(ctx, query, args, v)
	end(err)
	return err
}

func (t *countedTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	ctx, end := t.begin(ctx, query)
	res, err := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (stdsql.Result, error)
	}).ExecContext(ctx, query, args...)
	end(err)
	return res, err
}

func (t *countedTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	ctx, end := t.begin(ctx, query)
	rows, err := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*stdsql.Rows, error)
	}).QueryContext(ctx, query, args...)
	end(err)
	return rows, err
}
