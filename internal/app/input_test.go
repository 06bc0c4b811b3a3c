package app_test

import (
	"maps"
	"testing"

	"inkwell/internal/apptest"
)

// PostgreSQL text cannot hold a NUL character. Wherever a client sends one, in a
// variable or an inline literal, it gets BAD_USER_INPUT naming that variable or
// argument, never an internal error, and nothing is written.
func TestInputNULRefused(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Hello")
	for _, tc := range []struct {
		name, token, query string
		vars               map[string]any
		field              string
	}{
		{"signIn email", "", `mutation($e: String!) { signIn(input: {email: $e, password: "password-alice"}) { accessToken } }`,
			map[string]any{"e": "alice\x00@example.com"}, "e"},
		{"user lookup", "", `query($u: String!) { user(username: $u) { id } }`, map[string]any{"u": "al\x00ice"}, "u"},
		{"article lookup literal", "", `{ article(slug: "hel\u0000lo") { id } }`, nil, "slug"},
		{"articles filter", "", `query($t: String) { articles(filter: {tag: $t}) { totalCount } }`, map[string]any{"t": "g\x00o"}, "t"},
		{"createArticle body", alice.Token, `mutation($b: String!) { createArticle(input: {title: "T", description: "", body: $b}) { article { id } } }`,
			map[string]any{"b": "text\x00more"}, "b"},
		{"addComment body", alice.Token, `mutation($b: String!) { addComment(input: {articleSlug: "` + art.Slug + `", body: $b}) { comment { id } } }`,
			map[string]any{"b": "\x00"}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			r := e.Query(t, tc.token, tc.query, tc.vars)
			if r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("code = %q, want BAD_USER_INPUT: %s", r.Code(), r.Body)
			}
			if _, ok := r.Errors[0].Extensions.Fields[tc.field]; !ok {
				t.Fatalf("fields = %v, want %q named", r.Errors[0].Extensions.Fields, tc.field)
			}
			if after := e.Snapshot(t); !maps.Equal(before, after) {
				t.Fatalf("rows changed: %v -> %v", before, after)
			}
		})
	}
}
