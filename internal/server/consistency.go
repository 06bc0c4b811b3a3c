package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/dbroute"
)

// MinLSNHeader carries, on a request, the log position its reads must see: the
// extensions.consistency.lsn of the client's last mutation.
const MinLSNHeader = "Inkwell-Min-LSN"

// consistency routes each query's reads and tells each mutation's client where its
// writes are in the log:
//
//   - A query with Inkwell-Min-LSN may read from a replica that has replayed that far
//     (dbroute waits a little for one, then reads from the primary). A query without it
//     reads from any healthy replica if it is anonymous; with a token it reads from the
//     primary, since the session may have written through another client.
//   - A mutation's response carries extensions.consistency.lsn: the primary's position
//     once the mutation is done, at or past every write it made.
//
// Subscriptions read from the primary: their events come from committed writes the
// replicas may not have replayed yet.
type consistency struct {
	router *dbroute.Router
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = consistency{}

func (consistency) ExtensionName() string                   { return "Consistency" }
func (consistency) Validate(graphql.ExecutableSchema) error { return nil }

// lsnTimeout bounds the extra statement of a mutation: the mutation's answer does not
// wait long for its position.
const lsnTimeout = time.Second

func (c consistency) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if c.router == nil || !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil {
		return next(ctx)
	}
	switch oc.Operation.Operation {
	case ast.Query:
		min, given, err := minLSN(oc.Headers)
		if err != nil {
			return &graphql.Response{Errors: gqlerror.List{limitError(string(apperr.CodeBadRequest), err.Error())}}
		}
		if c.router.HasReplicas() && (given || auth.ViewerFrom(ctx).Anonymous()) {
			ctx = dbroute.AllowReplica(ctx, min)
		}
		return next(ctx)
	case ast.Mutation:
		resp := next(ctx)
		if resp == nil {
			return resp
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lsnTimeout)
		lsn, err := c.router.PrimaryLSN(lctx)
		cancel()
		if err != nil {
			// The answer stands without it; the client's next read goes by its token.
			return resp
		}
		if resp.Extensions == nil {
			resp.Extensions = map[string]any{}
		}
		resp.Extensions["consistency"] = consistencyReceipt{LSN: lsn.String()}
		return resp
	}
	return next(ctx)
}

type consistencyReceipt struct {
	LSN string `json:"lsn"`
}

// minLSN reads Inkwell-Min-LSN; given is false when the request has none.
func minLSN(h http.Header) (lsn dbroute.LSN, given bool, err error) {
	v := strings.TrimSpace(h.Get(MinLSNHeader))
	if v == "" {
		return 0, false, nil
	}
	lsn, err = dbroute.ParseLSN(v)
	if err != nil {
		return 0, false, &headerError{MinLSNHeader + ": " + err.Error() + " (the extensions.consistency.lsn of a mutation's answer)"}
	}
	return lsn, true, nil
}

type headerError struct{ msg string }

func (e *headerError) Error() string { return e.msg }
