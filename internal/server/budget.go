package server

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"inkwell/internal/apperr"
)

// codeResponseTooLarge refuses a response whose data would pass the byte budget.
const codeResponseTooLarge = string(apperr.CodeResponseTooLarge)

// responseBudget caps the bytes of each query's or mutation's data. The complexity
// model prices large fields (graph.Complexity) so that most such operations are refused
// before they run; this is the hard bound behind it: while the data are marshalled, the
// bytes past the budget are counted, not kept, and the response becomes one
// RESPONSE_TOO_LARGE error with "data": null. A mutation's writes stand (they were
// committed before the answer was built); the error says so.
//
// Subscription events are not budgeted: each carries one entity the server chose.
type responseBudget struct {
	max int64
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
	graphql.RootFieldInterceptor
} = responseBudget{}

func (responseBudget) ExtensionName() string                   { return "ResponseBudget" }
func (responseBudget) Validate(graphql.ExecutableSchema) error { return nil }

// budget is one response's allowance. The root fields are marshalled one after another
// on the response's goroutine, so it needs no lock.
type budget struct {
	left int64
	over bool
}

type budgetKey struct{}

func (b responseBudget) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if b.max <= 0 || !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	op := graphql.GetOperationContext(ctx).Operation
	if op == nil || op.Operation == ast.Subscription {
		return next(ctx)
	}
	left := &budget{left: b.max}
	resp := next(context.WithValue(ctx, budgetKey{}, left))
	if resp == nil || !left.over {
		return resp
	}
	msg := "the response would be larger than " + strconv.FormatInt(b.max, 10) +
		" bytes, the limit: ask for fewer items or fields, or page through them"
	if op.Operation == ast.Mutation {
		msg += " (the mutation itself was carried out)"
	}
	return &graphql.Response{
		Errors:     append(resp.Errors, limitError(codeResponseTooLarge, msg)),
		Extensions: resp.Extensions,
	}
}

func (responseBudget) InterceptRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	m := next(ctx)
	left, _ := ctx.Value(budgetKey{}).(*budget)
	// graphql.Null stays itself: the executor compares with it to propagate a null.
	if left == nil || m == nil || m == graphql.Null {
		return m
	}
	return budgeted{m: m, left: left}
}

// budgeted marshals a root field's value through the response's budget.
type budgeted struct {
	m    graphql.Marshaler
	left *budget
}

// fieldBuffers hold root fields' values while they are marshalled. The executor's own
// buffer then grows once, to the value's size, instead of doubling through it.
var fieldBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer: a buffer grown past it by a large answer is left to the collector,
// so that one such answer does not pin its size in the pool.
const maxPooledBuffer = 256 << 10

func (b budgeted) MarshalGQL(w io.Writer) {
	buf := fieldBuffers.Get().(*bytes.Buffer)
	b.m.MarshalGQL(budgetWriter{w: buf, left: b.left})
	_, _ = w.Write(buf.Bytes()) // the executor's buffer, which does not fail
	if buf.Cap() <= maxPooledBuffer {
		buf.Reset()
		fieldBuffers.Put(buf)
	}
}

// budgetWriter passes bytes on while the budget lasts, then drops them all.
type budgetWriter struct {
	w    *bytes.Buffer
	left *budget
}

func (b budgetWriter) Write(p []byte) (int, error) {
	if !b.take(len(p)) {
		return len(p), nil
	}
	return b.w.Write(p)
}

// WriteString spares gqlgen's string writes (io.WriteString) a copy into a []byte.
func (b budgetWriter) WriteString(s string) (int, error) {
	if !b.take(len(s)) {
		return len(s), nil
	}
	return b.w.WriteString(s)
}

// take reports whether n more bytes fit the budget, and counts them if they do.
func (b budgetWriter) take(n int) bool {
	if b.left.over {
		return false
	}
	if int64(n) > b.left.left {
		b.left.over = true
		return false
	}
	b.left.left -= int64(n)
	return true
}
