package dbroute

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LSN is a position in PostgreSQL's write-ahead log, written as PostgreSQL writes it:
// two hexadecimal halves, "16/B374D848".
type LSN uint64

var errLSN = errors.New(`want a PostgreSQL LSN such as "16/B374D848"`)

// ParseLSN reads an LSN as PostgreSQL writes it.
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, errLSN
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, errLSN
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, errLSN
	}
	return LSN(h<<32 | l), nil
}

// String writes l as PostgreSQL does.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// Scan reads an LSN from a pg_lsn column (as text); NULL is 0.
func (l *LSN) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*l = 0
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("dbroute: scan LSN from %T", src)
	}
	v, err := ParseLSN(s)
	if err != nil {
		return fmt.Errorf("dbroute: scan LSN %q: %w", s, err)
	}
	*l = v
	return nil
}

type policyKey struct{}

// policy is how a request's queries may be routed.
type policy struct {
	min LSN // a replica must have replayed at least this far
}

// AllowReplica lets the queries run with ctx go to a replica that has replayed the log
// up to min at least (0: any healthy replica). Without it every query goes to the
// primary: writes, transactions, and reads that must see them.
func AllowReplica(ctx context.Context, min LSN) context.Context {
	return context.WithValue(ctx, policyKey{}, policy{min: min})
}

// PrimaryOnly undoes AllowReplica for the queries run with the returned context.
func PrimaryOnly(ctx context.Context) context.Context {
	if _, ok := ctx.Value(policyKey{}).(policy); !ok {
		return ctx
	}
	return context.WithValue(ctx, policyKey{}, nil)
}

func policyFrom(ctx context.Context) (policy, bool) {
	p, ok := ctx.Value(policyKey{}).(policy)
	return p, ok
}
