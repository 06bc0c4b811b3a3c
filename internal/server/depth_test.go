package server_test

import (
	"strconv"
	"strings"
	"testing"

	gqlparser "github.com/vektah/gqlparser/v2"

	"inkwell/graph"
	"inkwell/internal/server"
)

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{}}).Schema()

	for _, tc := range []struct {
		name  string
		query string
		depth int
	}{
		{"one field", `{ __typename }`, 1},
		{"nested fields", `{ viewer { followers { totalCount } } }`, 3},
		{"the deepest branch counts", `{ viewer { id followers { nodes { id } } } __typename }`, 4},
		{"a fragment adds its fields' depth", `{ viewer { ...F } } fragment F on User { followers { totalCount } }`, 3},
		{"an inline fragment adds nothing itself", `{ viewer { ... on User { id } } }`, 2},
		{"nested fragments", `{ viewer { ...A } }
			fragment A on User { followers { nodes { ...B } } }
			fragment B on User { following { nodes { id } } }`, 6},
		{"a fragment spread at two depths counts at the deeper", `{ viewer { ...B followers { nodes { ...B } } } }
			fragment B on User { following { nodes { id } } }`, 6},
		{"introspection is not counted", `{ __schema { types { fields { type { ofType { name } } } } } viewer { id } }`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, errs := gqlparser.LoadQueryWithRules(schema, tc.query, nil)
			if errs != nil {
				t.Fatalf("query does not validate: %v", errs)
			}
			if err := (server.DocumentLimits{Depth: tc.depth}).Check(doc); err != nil {
				t.Errorf("limit %d refused: %v", tc.depth, err)
			}
			err := (server.DocumentLimits{Depth: tc.depth - 1}).Check(doc)
			if tc.depth > 1 && (err == nil || err.Extensions["code"] != "QUERY_TOO_COMPLEX") {
				t.Errorf("limit %d: err = %v, want QUERY_TOO_COMPLEX", tc.depth-1, err)
			}
		})
	}

	t.Run("a fragment spread many times is walked once", func(t *testing.T) {
		t.Parallel()
		// Each fragment spreads the next twice: walked naively that is 2^30 visits.
		var b strings.Builder
		b.WriteString("{ viewer { ...F0 } }\n")
		const n = 30
		for i := range n {
			b.WriteString("fragment F" + strconv.Itoa(i) + " on User { followers { nodes { ...F" + strconv.Itoa(i+1) + " } } following { nodes { ...F" + strconv.Itoa(i+1) + " } } }\n")
		}
		b.WriteString("fragment F" + strconv.Itoa(n) + " on User { id }\n")
		doc, errs := gqlparser.LoadQueryWithRules(schema, b.String(), nil)
		if errs != nil {
			t.Fatalf("query does not validate: %v", errs)
		}
		err := (server.DocumentLimits{Depth: 12}).Check(doc)
		if err == nil || !strings.Contains(err.Message, "has depth 62,") {
			t.Errorf("err = %v, want depth 62 refused", err)
		}
	})
}
