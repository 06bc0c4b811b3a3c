package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// DepthLimit is a gqlgen extension that refuses, before execution, an operation whose
// fields nest deeper than Limit, with extensions.code QUERY_TOO_COMPLEX. { viewer { name } }
// has depth 2; fragments add the depth of their fields and none of their own.
//
// __schema and __type are not counted: gqlparser's MaxIntrospectionDepth rule bounds them,
// and GraphiQL's introspection query nests deeper than any useful limit.
type DepthLimit struct {
	Limit int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = DepthLimit{}

// ExtensionName implements graphql.HandlerExtension.
func (DepthLimit) ExtensionName() string { return "DepthLimit" }

// Validate implements graphql.HandlerExtension.
func (d DepthLimit) Validate(graphql.ExecutableSchema) error {
	if d.Limit < 1 {
		return errors.New("depth limit must be at least 1")
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator. It runs after
// validation, so the document is known to be well formed and free of fragment cycles.
func (d DepthLimit) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	m := depthMeter{doc: opCtx.Doc, fragments: map[string]int{}}
	if depth := m.selectionSet(opCtx.Operation.SelectionSet); depth > d.Limit {
		return &gqlerror.Error{
			Message: "operation has depth " + strconv.Itoa(depth) +
				", which exceeds the limit of " + strconv.Itoa(d.Limit),
			Extensions: map[string]any{"code": codeTooComplex},
		}
	}
	return nil
}

// depthMeter measures selection sets, remembering each fragment's depth so that a fragment
// spread many times is walked once and the walk stays linear in the document's size.
type depthMeter struct {
	doc       *ast.QueryDocument
	fragments map[string]int
}

func (m *depthMeter) selectionSet(set ast.SelectionSet) int {
	deepest := 0
	for _, sel := range set {
		var depth int
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__schema" || sel.Name == "__type" {
				continue
			}
			depth = 1 + m.selectionSet(sel.SelectionSet)
		case *ast.InlineFragment:
			depth = m.selectionSet(sel.SelectionSet)
		case *ast.FragmentSpread:
			depth = m.fragment(sel)
		}
		deepest = max(deepest, depth)
	}
	return deepest
}

func (m *depthMeter) fragment(spread *ast.FragmentSpread) int {
	if depth, ok := m.fragments[spread.Name]; ok {
		return depth
	}
	// Validation refuses fragment cycles; should one slip through, it counts as nothing
	// rather than recursing forever.
	m.fragments[spread.Name] = 0
	def := spread.Definition
	if def == nil && m.doc != nil {
		def = m.doc.Fragments.ForName(spread.Name)
	}
	if def == nil {
		return 0
	}
	depth := m.selectionSet(def.SelectionSet)
	m.fragments[spread.Name] = depth
	return depth
}

// refuseIntrospection refuses operations that select __schema or __type when
// introspection is off. Without it gqlgen runs them and fails the field with an uncoded
// error, which the presenter would report as an internal error.
type refuseIntrospection struct{}

func (refuseIntrospection) ExtensionName() string                   { return "RefuseIntrospection" }
func (refuseIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (refuseIntrospection) MutateOperationContext(_ context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil || !selectsIntrospection(opCtx.Doc, opCtx.Operation.SelectionSet, map[string]bool{}) {
		return nil
	}
	return &gqlerror.Error{
		Message:    "introspection is disabled",
		Extensions: map[string]any{"code": codeValidationFailed},
	}
}

// selectsIntrospection looks at the root fields only: __schema and __type exist on the
// query root and nowhere else.
func selectsIntrospection(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__schema" || sel.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if selectsIntrospection(doc, sel.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[sel.Name] {
				continue
			}
			seen[sel.Name] = true
			def := sel.Definition
			if def == nil && doc != nil {
				def = doc.Fragments.ForName(sel.Name)
			}
			if def != nil && selectsIntrospection(doc, def.SelectionSet, seen) {
				return true
			}
		}
	}
	return false
}
