package server_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"entgo.io/ent/privacy"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
	"inkwell/internal/server"
)

func TestPresentError(t *testing.T) {
	t.Parallel()
	path := ast.Path{ast.PathName("article"), ast.PathName("author")}
	validation := &gqlerror.Error{
		Message:    `Cannot query field "nope" on type "Query".`,
		Locations:  []gqlerror.Location{{Line: 1, Column: 3}},
		Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"},
	}
	for _, tc := range []struct {
		name   string
		err    error
		msg    string
		code   string
		fields map[string][]string
		path   ast.Path
	}{
		{"an apperr keeps its message and code", apperr.NotFound("article"), "article not found", "NOT_FOUND", nil, nil},
		{"a wrapped apperr is found", fmt.Errorf("load: %w", apperr.Forbidden("only the author")), "only the author", "FORBIDDEN", nil, nil},
		{"bad input carries its fields", apperr.BadInput("email", "is already taken"),
			"invalid input: email is already taken", "BAD_USER_INPUT", map[string][]string{"email": {"is already taken"}}, nil},
		{"unauthenticated stays a GraphQL error", apperr.Unauthenticated(""), "you must be signed in", "UNAUTHENTICATED", nil, nil},
		{"an internal apperr hides its message", &apperr.Error{Code: apperr.CodeInternal, Message: "db password wrong"},
			"internal server error", "INTERNAL_SERVER_ERROR", nil, nil},
		{"a plain error is internal", errors.New("pq: relation users does not exist"),
			"internal server error", "INTERNAL_SERVER_ERROR", nil, nil},
		{"a privacy denial is forbidden", fmt.Errorf("article: %w", privacy.Deny), "you may not do this", "FORBIDDEN", nil, nil},
		{"a validation error is kept", validation, validation.Message, "GRAPHQL_VALIDATION_FAILED", nil, nil},
		{"a complexity refusal is QUERY_TOO_COMPLEX", &gqlerror.Error{
			Message:    "operation has complexity 9, which exceeds the limit of 2",
			Extensions: map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED"},
		}, "operation has complexity 9, which exceeds the limit of 2", "QUERY_TOO_COMPLEX", nil, nil},
		{"an uncoded gqlerror is internal", &gqlerror.Error{Message: "something odd"}, "internal server error", "INTERNAL_SERVER_ERROR", nil, nil},
		{"a resolver error keeps its path", gqlerror.WrapPath(path, apperr.NotFound("user")), "user not found", "NOT_FOUND", nil, path},
		{"a hidden error keeps its path", gqlerror.WrapPath(path, errors.New("boom")), "internal server error", "INTERNAL_SERVER_ERROR", nil, path},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := server.PresentError(context.Background(), tc.err)
			if got.Message != tc.msg {
				t.Errorf("message = %q, want %q", got.Message, tc.msg)
			}
			if got.Extensions["code"] != tc.code {
				t.Errorf("code = %v, want %s", got.Extensions["code"], tc.code)
			}
			fields, _ := got.Extensions["fields"].(map[string][]string)
			if tc.fields != nil && !reflect.DeepEqual(fields, tc.fields) {
				t.Errorf("fields = %v, want %v", got.Extensions["fields"], tc.fields)
			}
			if tc.fields == nil && got.Extensions["fields"] != nil {
				t.Errorf("fields = %v, want none", got.Extensions["fields"])
			}
			if !reflect.DeepEqual(got.Path, tc.path) {
				t.Errorf("path = %v, want %v", got.Path, tc.path)
			}
		})
	}

	t.Run("nil is nil", func(t *testing.T) {
		t.Parallel()
		if got := server.PresentError(context.Background(), nil); got != nil {
			t.Errorf("got %v", got)
		}
	})

	t.Run("a kept error keeps its locations", func(t *testing.T) {
		t.Parallel()
		got := server.PresentError(context.Background(), validation)
		if !reflect.DeepEqual(got.Locations, validation.Locations) {
			t.Errorf("locations = %v", got.Locations)
		}
	})
}
