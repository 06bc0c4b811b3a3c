package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql/introspection"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"inkwell/internal/server"
)

// fragmentChain is n fragments each spreading the next twice: 2^n fields expanded from a
// document of a few hundred bytes per level.
func fragmentChain(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }\n")
	for i := range n {
		next := "...F" + strconv.Itoa(i+1)
		b.WriteString("fragment F" + strconv.Itoa(i) + " on Query { __typename " + next + " " + next + " }\n")
	}
	b.WriteString("fragment F" + strconv.Itoa(n) + " on Query { __typename }\n")
	return b.String()
}

func repeat(n int, f func(i int) string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(f(i))
		b.WriteByte(' ')
	}
	return b.String()
}

func TestDocumentLimits(t *testing.T) {
	t.Parallel()
	signIn := func(i int) string {
		return "s" + strconv.Itoa(i) + `: signIn(input: {email: "a@b.c", password: "x"}) { accessToken }`
	}
	for _, tc := range []struct {
		name, query, code string
		cfg               server.Config
	}{
		{"more tokens than the limit", "{ " + strings.Repeat("__typename ", 5001) + "}", "TOO_MANY_TOKENS", server.Config{}},
		{"a lower token limit applies", "{ viewer { id username } }", "TOO_MANY_TOKENS", server.Config{TokenLimit: 5}},
		{"nesting past the parser's limit", strings.Repeat("{ a ", 1200) + strings.Repeat("}", 1200), "QUERY_TOO_COMPLEX", server.Config{}},
		{"more fields than the limit", "{ " + strings.Repeat("__typename ", 1001) + "}", "TOO_MANY_FIELDS", server.Config{}},
		{"10,000 duplicated fields", "{ " + strings.Repeat("__typename ", 10000) + "}", "TOO_MANY_FIELDS", server.Config{TokenLimit: 20000}},
		{"fields counted through fragments", "{ ...A ...A } fragment A on Query { " + strings.Repeat("__typename ", 600) + "}", "TOO_MANY_FIELDS", server.Config{}},
		{"fragments spreading the next twice", fragmentChain(30), "TOO_MANY_FIELDS", server.Config{}},
		{"an unused fragment is measured too", "{ __typename } fragment A on Query { " + strings.Repeat("__typename ", 1001) + "}", "TOO_MANY_FIELDS", server.Config{}},
		{"more aliases than the limit", "{ " + repeat(31, func(i int) string { return "a" + strconv.Itoa(i) + ": __typename" }) + "}", "TOO_MANY_ALIASES", server.Config{}},
		{"aliases counted through fragments", "{ ...A ...A } fragment A on Query { " + repeat(16, func(i int) string { return "a" + strconv.Itoa(i) + ": __typename" }) + "}", "TOO_MANY_ALIASES", server.Config{}},
		{"more directives than the limit", "{ " + strings.Repeat("__typename @include(if: true) ", 51) + "}", "TOO_MANY_DIRECTIVES", server.Config{}},
		{"directives on fragments count", "{ " + strings.Repeat("... @skip(if: false) { __typename } ", 51) + "}", "TOO_MANY_DIRECTIVES", server.Config{}},
		{"a fragment spreading itself", "{ ...A } fragment A on Query { __typename ...A }", "GRAPHQL_VALIDATION_FAILED", server.Config{}},
		{"fragments spreading each other", "{ ...A } fragment A on Query { ...B } fragment B on Query { ...C } fragment C on Query { ...A }", "GRAPHQL_VALIDATION_FAILED", server.Config{}},
		{"an unused fragment cycle", "{ __typename } fragment A on Query { ...B } fragment B on Query { ...A }", "GRAPHQL_VALIDATION_FAILED", server.Config{}},
		{"two signIns under aliases", "mutation { " + repeat(2, signIn) + "}", "TOO_MANY_AUTH_FIELDS", server.Config{}},
		{"signIn and signUp", `mutation { signIn(input: {email: "a@b.c", password: "x"}) { accessToken } signUp(input: {username: "u", email: "a@b.c", password: "x"}) { accessToken } }`, "TOO_MANY_AUTH_FIELDS", server.Config{}},
		{"signIn spread twice from a fragment", `mutation { ...S ...S } fragment S on Mutation { signIn(input: {email: "a@b.c", password: "x"}) { accessToken } }`, "TOO_MANY_AUTH_FIELDS", server.Config{}},
		{"signIn in an inline fragment", `mutation { ... { ` + signIn(0) + ` } ` + signIn(1) + ` }`, "TOO_MANY_AUTH_FIELDS", server.Config{}},
		{"a higher auth field limit applies", "mutation { " + repeat(3, signIn) + "}", "TOO_MANY_AUTH_FIELDS", server.Config{AuthFieldLimit: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newHandler(t, tc.cfg, server.Deps{})
			r := post(tc.query)
			r.Header.Set("Accept", "application/graphql-response+json")
			wantError(t, serve(h, r), http.StatusBadRequest, tc.code)
		})
	}

	t.Run("GraphiQL's introspection query passes", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.DefaultConfig(), server.Deps{})
		rec := serve(h, post(introspection.Query))
		if resp := decode(t, rec); rec.Code != http.StatusOK || len(resp.Errors) != 0 {
			t.Fatalf("status %d, errors %+v", rec.Code, resp.Errors)
		}
	})

	t.Run("a document at the limits passes, twice", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, server.Deps{})
		q := "{ " + repeat(30, func(i int) string { return "a" + strconv.Itoa(i) + ": __typename @include(if: true)" }) + "}"
		for range 2 {
			rec := serve(h, post(q))
			if resp := decode(t, rec); rec.Code != http.StatusOK || len(resp.Errors) != 0 {
				t.Fatalf("status %d, errors %+v", rec.Code, resp.Errors)
			}
		}
	})

	t.Run("one signIn passes the limit", func(t *testing.T) {
		t.Parallel()
		doc, err := parser.ParseQuery(&ast.Source{Input: "mutation { " + signIn(0) + " } mutation Other { " + signIn(1) + " }"})
		if err != nil {
			t.Fatal(err)
		}
		if err := (server.DocumentLimits{AuthFields: 1}).Check(doc); err != nil {
			t.Errorf("refused: %v", err)
		}
	})

	t.Run("a fragment chain of 30 levels is measured, saturated", func(t *testing.T) {
		t.Parallel()
		doc, err := parser.ParseQuery(&ast.Source{Input: fragmentChain(30)})
		if err != nil {
			t.Fatal(err)
		}
		gerr := (server.DocumentLimits{Fields: 1000}).Check(doc)
		if gerr == nil || !strings.Contains(gerr.Message, "more than 1073741824 fields") {
			t.Errorf("err = %v, want the saturated count refused", gerr)
		}
		if gerr := (server.DocumentLimits{Depth: 1}).Check(doc); gerr != nil {
			t.Errorf("depth 1 refused: %v", gerr)
		}
	})

	t.Run("without limits nothing is refused but cycles", func(t *testing.T) {
		t.Parallel()
		doc, err := parser.ParseQuery(&ast.Source{Input: fragmentChain(20)})
		if err != nil {
			t.Fatal(err)
		}
		if gerr := (server.DocumentLimits{}).Check(doc); gerr != nil {
			t.Errorf("refused: %v", gerr)
		}
	})
}

func TestErrorLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		fields     int
		cfg        server.Config
		wantErrors int
		dropped    string
	}{
		{"25 errors keep 9 and a note", 25, server.Config{}, 10, "16 more errors were dropped"},
		{"10 errors are all kept", 10, server.Config{}, 10, ""},
		{"a lower limit applies", 5, server.Config{ErrorLimit: 3}, 3, "3 more errors were dropped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newHandler(t, tc.cfg, server.Deps{})
			rec := serve(h, post("{ "+repeat(tc.fields, func(i int) string { return "unknown" + strconv.Itoa(i) })+"}"))
			resp := decode(t, rec)
			if len(resp.Errors) != tc.wantErrors {
				t.Fatalf("errors = %d, want %d: %+v", len(resp.Errors), tc.wantErrors, resp.Errors)
			}
			last := resp.Errors[len(resp.Errors)-1]
			if tc.dropped == "" {
				if last.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
					t.Errorf("last error %+v", last)
				}
				return
			}
			if last.Extensions["code"] != "TOO_MANY_ERRORS" || !strings.HasPrefix(last.Message, tc.dropped) {
				t.Errorf("last error %+v, want TOO_MANY_ERRORS %q", last, tc.dropped)
			}
			if first := resp.Errors[0]; first.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("first error %+v", first)
			}
		})
	}
}
