package dbroute

import (
	"context"
	"database/sql"
	"errors"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"inkwell/internal/dberr"
)

// SQLDriver is ent's SQL driver, or one wrapping it (as internal/dbstats takes it).
type SQLDriver interface {
	dialect.Driver
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error)
}

// Driver is ent's driver over a primary and its replicas: queries run with a context from
// AllowReplica go to a replica the Router picks, everything else to the primary.
type Driver struct {
	SQLDriver // the primary's
	router    *Router
	replicas  []SQLDriver // in the order of the Router's Config.Replicas
}

// NewDriver returns the driver; replicas are in the order of router's Config.Replicas.
func NewDriver(router *Router, primary SQLDriver, replicas ...SQLDriver) *Driver {
	if len(replicas) != len(router.replicas) {
		panic("dbroute: one driver per replica")
	}
	return &Driver{SQLDriver: primary, router: router, replicas: replicas}
}

// replicaFor is the replica's driver for a query run with ctx, or -1 for the primary.
func (d *Driver) replicaFor(ctx context.Context) (*replica, SQLDriver) {
	if len(d.replicas) == 0 {
		return nil, nil
	}
	p, ok := policyFrom(ctx)
	if !ok {
		return nil, nil
	}
	rep := d.router.pick(ctx, p.min)
	if rep == nil {
		return nil, nil
	}
	for i, r := range d.router.replicas {
		if r == rep {
			return rep, d.replicas[i]
		}
	}
	return nil, nil
}

// Query runs a query on a replica when ctx allows and one is fresh enough, else on the
// primary. A replica that fails for want of a connection (or cancels the query because
// replay needed its rows) leaves the rotation and the query runs on the primary.
func (d *Driver) Query(ctx context.Context, query string, args, v any) error {
	if rep, drv := d.replicaFor(ctx); drv != nil {
		err := drv.Query(ctx, query, args, v)
		if !retryOnPrimary(ctx, err) {
			return err
		}
		d.router.down(rep, err)
	}
	return d.SQLDriver.Query(ctx, query, args, v)
}

// QueryContext is Query for raw SQL.
func (d *Driver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if rep, drv := d.replicaFor(ctx); drv != nil {
		rows, err := drv.QueryContext(ctx, query, args...)
		if !retryOnPrimary(ctx, err) {
			return rows, err
		}
		d.router.down(rep, err)
	}
	return d.SQLDriver.QueryContext(ctx, query, args...)
}

// Close closes the primary's driver and the replicas'.
func (d *Driver) Close() error {
	errs := []error{d.SQLDriver.Close()}
	for _, r := range d.replicas {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// retryOnPrimary reports whether a replica's error says the replica, not the query, is
// at fault: the connection failed, the server is shutting down or starting, or recovery
// cancelled the query (a conflict with replay). The request's own deadline is not.
func retryOnPrimary(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	if dberr.ConnectionLost(err) {
		return true
	}
	if e, ok := errors.AsType[*pq.Error](err); ok {
		switch e.Code.Class() {
		case "57": // operator intervention: shutdown, cannot connect now (not a timeout)
			return e.Code != "57014"
		case "40": // serialization failure: "canceling statement due to conflict with recovery"
			return e.Code == "40001"
		}
	}
	return false
}
