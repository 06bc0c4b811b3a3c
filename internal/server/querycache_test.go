package server

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

// Finding 6: 1,000 anonymous 1 MB queries (padded with spaces) kept about 1 GiB of
// parsed documents live. The cache is bounded by bytes, and large texts stay out.
func TestParsedQueryCacheHasByteBound(t *testing.T) {
	const max = 1 << 20
	c := newQueryCache(max)
	ctx := context.Background()
	pad := strings.Repeat(" ", 10<<10) // 10 KB: under max/64
	for i := range 1000 {
		c.Add(ctx, "{ a"+strconv.Itoa(i)+": __typename }"+pad, &ast.QueryDocument{})
	}
	c.c.CleanUp()
	if w := c.c.WeightedSize(); w > max {
		t.Fatalf("1,000 texts of 10 KB: the cache weighs %d, above its bound %d", w, max)
	}
	if n := c.c.EstimatedSize(); n == 0 || n > max/(4*len(pad)) {
		t.Fatalf("the cache kept %d documents of 10 KB with a 1 MB bound", n)
	}

	big := "{ __typename }" + strings.Repeat(" ", max/64+1)
	c.Add(ctx, big, &ast.QueryDocument{})
	if _, ok := c.Get(ctx, big); ok {
		t.Fatal("a text above 1/64 of the cache was kept")
	}
	small := "{ __typename }"
	c.Add(ctx, small, &ast.QueryDocument{})
	if _, ok := c.Get(ctx, small); !ok {
		t.Fatal("a small text was not kept")
	}
}
