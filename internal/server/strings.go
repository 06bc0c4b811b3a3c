package server

import (
	"context"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
)

// rejectNUL refuses an operation that carries a NUL character in a variable or in a
// string literal. JSON and GraphQL can both carry one ("\u0000"), but PostgreSQL text
// cannot store it and would answer with an internal error; a client deserves
// BAD_USER_INPUT naming the variable or argument instead. It looks once per operation,
// before execution, so fields pay nothing for it.
type rejectNUL struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = rejectNUL{}

func (rejectNUL) ExtensionName() string                   { return "RejectNUL" }
func (rejectNUL) Validate(graphql.ExecutableSchema) error { return nil }

func (rejectNUL) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	bad := map[string]bool{}
	for name, v := range rc.Variables {
		if jsonHasNUL(v) {
			bad[name] = true
		}
	}
	if rc.Doc != nil {
		for _, op := range rc.Doc.Operations {
			selectionNUL(op.SelectionSet, bad)
		}
		for _, f := range rc.Doc.Fragments {
			selectionNUL(f.SelectionSet, bad)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	names := make([]string, 0, len(bad))
	fields := map[string][]string{}
	for name := range bad {
		names = append(names, name)
		fields[name] = []string{"must not contain NUL characters"}
	}
	sort.Strings(names)
	return &gqlerror.Error{
		Message: "invalid input: " + strings.Join(names, ", ") + " must not contain NUL characters",
		Extensions: map[string]any{
			"code":   string(apperr.CodeBadUserInput),
			"fields": fields,
		},
	}
}

// jsonHasNUL reports whether a decoded JSON value holds a string with a NUL.
func jsonHasNUL(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.IndexByte(v, 0) >= 0
	case []any:
		for _, e := range v {
			if jsonHasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.IndexByte(k, 0) >= 0 || jsonHasNUL(e) {
				return true
			}
		}
	}
	return false
}

// selectionNUL records the arguments whose literal values hold a NUL.
func selectionNUL(set ast.SelectionSet, bad map[string]bool) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			for _, arg := range s.Arguments {
				if valueHasNUL(arg.Value) {
					bad[arg.Name] = true
				}
			}
			selectionNUL(s.SelectionSet, bad)
		case *ast.InlineFragment:
			selectionNUL(s.SelectionSet, bad)
		}
	}
}

func valueHasNUL(v *ast.Value) bool {
	if v == nil {
		return false
	}
	if v.Kind == ast.StringValue || v.Kind == ast.BlockValue {
		return strings.IndexByte(v.Raw, 0) >= 0
	}
	for _, c := range v.Children {
		if valueHasNUL(c.Value) {
			return true
		}
	}
	return false
}
