package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// queryCache keeps parsed and validated documents by their text, bounded by bytes: a
// count alone let a thousand padded 1 MB texts hold a gigabyte. A parsed document
// takes a few times its text's size, hence the weight.
type queryCache struct {
	c       *otter.Cache[string, *ast.QueryDocument]
	maxText int
}

var _ graphql.Cache[*ast.QueryDocument] = (*queryCache)(nil)

// queryWeight is what a document of text size n is taken to cost.
func queryWeight(n int) uint32 { return uint32(min(4*n+1024, 1<<31)) }

// newQueryCache keeps about maxBytes of documents; a text larger than 1/64 of that is
// parsed on each request instead (a large text is rare from real clients, and would
// push out many small ones).
func newQueryCache(maxBytes int) *queryCache {
	return &queryCache{
		c: otter.Must(&otter.Options[string, *ast.QueryDocument]{
			MaximumWeight: uint64(max(maxBytes, 1)),
			Weigher:       func(k string, _ *ast.QueryDocument) uint32 { return queryWeight(len(k)) },
		}),
		maxText: maxBytes / 64,
	}
}

func (q *queryCache) Get(_ context.Context, text string) (*ast.QueryDocument, bool) {
	return q.c.GetIfPresent(text)
}

func (q *queryCache) Add(_ context.Context, text string, doc *ast.QueryDocument) {
	if len(text) > q.maxText {
		return
	}
	q.c.Set(text, doc)
}
