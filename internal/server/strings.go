package server

import (
	"context"
	"reflect"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"inkwell/internal/apperr"
)

// rejectNUL refuses field arguments holding a NUL character. JSON and GraphQL both can
// carry one ("\u0000"), but PostgreSQL text cannot store it and would answer with an
// internal error; a client deserves BAD_USER_INPUT naming the argument instead. Checking
// every field's arguments here covers every resolver at once.
type rejectNUL struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.FieldInterceptor
} = rejectNUL{}

func (rejectNUL) ExtensionName() string                   { return "RejectNUL" }
func (rejectNUL) Validate(graphql.ExecutableSchema) error { return nil }

func (rejectNUL) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		for name, v := range fc.Args {
			if hasNUL(reflect.ValueOf(v)) {
				return nil, apperr.BadInput(name, "must not contain NUL characters")
			}
		}
	}
	return next(ctx)
}

// hasNUL reports whether any string inside v (through pointers, structs, slices and
// maps, as gqlgen builds arguments) contains a NUL.
func hasNUL(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.IndexByte(v.String(), 0) >= 0
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil() && hasNUL(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if hasNUL(v.Field(i)) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if hasNUL(v.Index(i)) {
				return true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if hasNUL(it.Key()) || hasNUL(it.Value()) {
				return true
			}
		}
	}
	return false
}
