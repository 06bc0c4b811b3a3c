package schemaguard_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"inkwell/internal/schemaguard"
)

func mustSchema(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "test.graphql", Input: sdl})
	if err != nil {
		t.Fatalf("schema does not load: %v\n%s", err, sdl)
	}
	return s
}

// TestDiff proves the guard catches what it claims: each case is a small schema pair,
// and every change Diff reports is compared, by severity, with the expected list.
func TestDiff(t *testing.T) {
	t.Parallel()
	const q = "type Query { a: Int }\n"
	for _, tc := range []struct {
		name                      string
		old, new                  string
		breaking, dangerous, safe []string
	}{
		// Breaking: removals.
		{name: "type removed", old: q + "type Foo { x: Int }", new: q,
			breaking: []string{"TYPE_REMOVED Foo"}},
		{name: "scalar removed", old: q + "scalar Time", new: q,
			breaking: []string{"TYPE_REMOVED Time"}},
		{name: "field removed", old: "type Query { a: Int b: Int }", new: q,
			breaking: []string{"FIELD_REMOVED Query.b"}},
		{name: "interface field removed",
			old:      q + "interface Node { id: ID! name: String }",
			new:      q + "interface Node { id: ID! }",
			breaking: []string{"FIELD_REMOVED Node.name"}},
		{name: "argument removed", old: "type Query { a(x: Int): Int }", new: q,
			breaking: []string{"ARG_REMOVED Query.a(x)"}},
		{name: "input field removed",
			old:      q + "input In { x: Int y: Int }",
			new:      q + "input In { x: Int }",
			breaking: []string{"INPUT_FIELD_REMOVED In.y"}},
		{name: "enum value removed",
			old:      q + "enum Color { RED GREEN }",
			new:      q + "enum Color { RED }",
			breaking: []string{"ENUM_VALUE_REMOVED Color.GREEN"}},
		{name: "union member removed",
			old:      q + "type A { x: Int } type B { x: Int } union U = A | B",
			new:      q + "type A { x: Int } type B { x: Int } union U = A",
			breaking: []string{"UNION_MEMBER_REMOVED U.B"}},
		{name: "interface removed from a type",
			old:      q + "interface Node { id: ID! } type A implements Node { id: ID! }",
			new:      q + "interface Node { id: ID! } type A { id: ID! }",
			breaking: []string{"INTERFACE_REMOVED A.Node"}},
		{name: "mutation root removed",
			old:      q + "type Mutation { m: Int }",
			new:      q,
			breaking: []string{"ROOT_TYPE_CHANGED mutation", "TYPE_REMOVED Mutation"}},
		{name: "root type renamed",
			old:      "schema { query: Query } type Query { a: Int }",
			new:      "schema { query: Root } type Root { a: Int }",
			breaking: []string{"ROOT_TYPE_CHANGED query", "TYPE_REMOVED Query"},
			safe:     []string{"TYPE_ADDED Root"}},

		// Breaking: kinds and types.
		{name: "type kind changed", old: q + "type Foo { x: Int }", new: q + "interface Foo { x: Int }",
			breaking: []string{"TYPE_KIND_CHANGED Foo"}},
		{name: "input became an output type", old: q + "input Foo { x: Int }", new: q + "type Foo { x: Int }",
			breaking: []string{"TYPE_KIND_CHANGED Foo"}},
		{name: "output non-null to nullable", old: "type Query { a: Int! }", new: q,
			breaking: []string{"FIELD_TYPE_CHANGED Query.a"}},
		{name: "output list items non-null to nullable", old: "type Query { a: [Int!] }", new: "type Query { a: [Int] }",
			breaking: []string{"FIELD_TYPE_CHANGED Query.a"}},
		{name: "output named type changed", old: q, new: "type Query { a: String }",
			breaking: []string{"FIELD_TYPE_CHANGED Query.a"}},
		{name: "output list to single", old: "type Query { a: [Int] }", new: q,
			breaking: []string{"FIELD_TYPE_CHANGED Query.a"}},
		{name: "output single to list", old: q, new: "type Query { a: [Int] }",
			breaking: []string{"FIELD_TYPE_CHANGED Query.a"}},
		{name: "argument nullable to non-null", old: "type Query { a(x: Int): Int }", new: "type Query { a(x: Int!): Int }",
			breaking: []string{"ARG_TYPE_CHANGED Query.a(x)"}},
		{name: "argument list items nullable to non-null", old: "type Query { a(x: [Int]): Int }", new: "type Query { a(x: [Int!]): Int }",
			breaking: []string{"ARG_TYPE_CHANGED Query.a(x)"}},
		{name: "argument named type changed", old: "type Query { a(x: Int): Int }", new: "type Query { a(x: Float): Int }",
			breaking: []string{"ARG_TYPE_CHANGED Query.a(x)"}},
		{name: "input field nullable to non-null",
			old:      q + "input In { x: Int }",
			new:      q + "input In { x: Int! }",
			breaking: []string{"INPUT_FIELD_TYPE_CHANGED In.x"}},

		// Breaking: new requirements and changed defaults.
		{name: "required argument added", old: q, new: "type Query { a(x: Int!): Int }",
			breaking: []string{"REQUIRED_ARG_ADDED Query.a(x)"}},
		{name: "required input field added",
			old:      q + "input In { x: Int }",
			new:      q + "input In { x: Int y: String! }",
			breaking: []string{"REQUIRED_INPUT_FIELD_ADDED In.y"}},
		{name: "argument default removed", old: "type Query { a(x: Int = 1): Int }", new: "type Query { a(x: Int): Int }",
			breaking: []string{"ARG_DEFAULT_CHANGED Query.a(x)"}},
		{name: "argument default changed", old: "type Query { a(x: Int = 1): Int }", new: "type Query { a(x: Int = 2): Int }",
			breaking: []string{"ARG_DEFAULT_CHANGED Query.a(x)"}},
		{name: "input field default changed",
			old:      q + "enum Order { ASC DESC } input In { o: Order = ASC }",
			new:      q + "enum Order { ASC DESC } input In { o: Order = DESC }",
			breaking: []string{"INPUT_FIELD_DEFAULT_CHANGED In.o"}},
		{name: "input became oneOf",
			old:      q + "input In { x: Int y: Int }",
			new:      q + "input In @oneOf { x: Int y: Int }",
			breaking: []string{"ONE_OF_ADDED In"}},

		// Breaking: directives.
		{name: "directive removed", old: q + "directive @auth on FIELD_DEFINITION", new: q,
			breaking: []string{"DIRECTIVE_REMOVED @auth"}},
		{name: "directive location removed",
			old:      q + "directive @tag on FIELD | QUERY",
			new:      q + "directive @tag on FIELD",
			breaking: []string{"DIRECTIVE_LOCATION_REMOVED @tag.QUERY"}},
		{name: "directive argument removed",
			old:      q + "directive @tag(name: String) on FIELD",
			new:      q + "directive @tag on FIELD",
			breaking: []string{"DIRECTIVE_ARG_REMOVED @tag(name)"}},
		{name: "required directive argument added",
			old:      q + "directive @tag on FIELD",
			new:      q + "directive @tag(name: String!) on FIELD",
			breaking: []string{"REQUIRED_DIRECTIVE_ARG_ADDED @tag(name)"}},
		{name: "directive no longer repeatable",
			old:      q + "directive @tag repeatable on FIELD",
			new:      q + "directive @tag on FIELD",
			breaking: []string{"DIRECTIVE_REPEATABLE_REMOVED @tag"}},

		// Dangerous: valid operations stay valid, but clients may meet the unexpected.
		{name: "enum value added",
			old:       q + "enum Color { RED }",
			new:       q + "enum Color { RED GREEN }",
			dangerous: []string{"ENUM_VALUE_ADDED Color.GREEN"}},
		{name: "union member added",
			old:       q + "type A { x: Int } type B { x: Int } union U = A",
			new:       q + "type A { x: Int } type B { x: Int } union U = A | B",
			dangerous: []string{"UNION_MEMBER_ADDED U.B"}},
		{name: "interface added to a type",
			old:       q + "interface Node { id: ID! } type A { id: ID! }",
			new:       q + "interface Node { id: ID! } type A implements Node { id: ID! }",
			dangerous: []string{"INTERFACE_ADDED A.Node"}},
		{name: "optional argument added", old: q, new: "type Query { a(x: Int): Int }",
			dangerous: []string{"OPTIONAL_ARG_ADDED Query.a(x)"}},
		{name: "non-null argument with a default added", old: q, new: "type Query { a(x: Int! = 5): Int }",
			dangerous: []string{"OPTIONAL_ARG_ADDED Query.a(x)"}},
		{name: "argument default added", old: "type Query { a(x: Int): Int }", new: "type Query { a(x: Int = 3): Int }",
			dangerous: []string{"ARG_DEFAULT_ADDED Query.a(x)"}},
		{name: "optional input field added",
			old:       q + "input In { x: Int }",
			new:       q + "input In { x: Int y: String }",
			dangerous: []string{"OPTIONAL_INPUT_FIELD_ADDED In.y"}},

		// Safe.
		{name: "type added", old: q, new: q + "type Foo { x: Int }", safe: []string{"TYPE_ADDED Foo"}},
		{name: "field added", old: q, new: "type Query { a: Int b: String }", safe: []string{"FIELD_ADDED Query.b"}},
		{name: "output nullable to non-null", old: q, new: "type Query { a: Int! }",
			safe: []string{"FIELD_TYPE_TIGHTENED Query.a"}},
		{name: "output list items nullable to non-null", old: "type Query { a: [Int] }", new: "type Query { a: [Int!]! }",
			safe: []string{"FIELD_TYPE_TIGHTENED Query.a"}},
		{name: "argument non-null to nullable", old: "type Query { a(x: Int!): Int }", new: "type Query { a(x: Int): Int }",
			safe: []string{"ARG_TYPE_RELAXED Query.a(x)"}},
		{name: "input field list items non-null to nullable",
			old:  q + "input In { x: [Int!]! }",
			new:  q + "input In { x: [Int] }",
			safe: []string{"INPUT_FIELD_TYPE_RELAXED In.x"}},
		{name: "oneOf removed",
			old:  q + "input In @oneOf { x: Int y: Int }",
			new:  q + "input In { x: Int y: Int }",
			safe: []string{"ONE_OF_REMOVED In"}},
		{name: "subscription root added",
			old:  q,
			new:  q + "type Subscription { s: Int }",
			safe: []string{"ROOT_TYPE_ADDED subscription", "TYPE_ADDED Subscription"}},
		{name: "directive added and widened",
			old:  q + "directive @tag on FIELD",
			new:  q + "directive @tag(name: String) on FIELD | QUERY directive @new on FIELD",
			safe: []string{"DIRECTIVE_ADDED @new", "DIRECTIVE_LOCATION_ADDED @tag.QUERY", "OPTIONAL_DIRECTIVE_ARG_ADDED @tag(name)"}},

		// No change at all.
		{name: "descriptions, deprecations and order are not changes",
			old: `type Query { a: Int b(x: Int, y: String): String }
				enum Color { RED GREEN }`,
			new: `"The root" type Query {
					"B" b(y: String, "X" x: Int): String @deprecated(reason: "use a")
					a: Int
				}
				enum Color { GREEN RED @deprecated }`},
		{name: "reordered fields of an object default are the same default",
			old: q + "input P { a: Int b: Int } type T { f(p: P = {a: 1, b: 2}): Int }",
			new: q + "input P { a: Int b: Int } type T { f(p: P = {b: 2, a: 1}): Int }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[schemaguard.Severity][]string{}
			for _, c := range schemaguard.Diff(mustSchema(t, tc.old), mustSchema(t, tc.new)) {
				got[c.Severity] = append(got[c.Severity], c.ID())
				if c.Detail == "" {
					t.Errorf("%s has no detail", c.ID())
				}
			}
			for sev, want := range map[schemaguard.Severity][]string{
				schemaguard.Breaking: tc.breaking, schemaguard.Dangerous: tc.dangerous, schemaguard.Safe: tc.safe,
			} {
				slices.Sort(want)
				if g := got[sev]; !slices.Equal(g, want) {
					t.Errorf("%s changes = %q, want %q", sev, g, want)
				}
			}
		})
	}
}

func TestDiffOrdersBreakingFirst(t *testing.T) {
	t.Parallel()
	changes := schemaguard.Diff(
		mustSchema(t, "type Query { a: Int b: Int } enum E { X }"),
		mustSchema(t, "type Query { a: Int c: Int } enum E { X Y }"))
	var got []string
	for _, c := range changes {
		got = append(got, c.Severity.String()+" "+c.ID())
	}
	want := []string{"breaking FIELD_REMOVED Query.b", "dangerous ENUM_VALUE_ADDED E.Y", "safe FIELD_ADDED Query.c"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseIntended(t *testing.T) {
	t.Parallel()
	good := `# header

FIELD_REMOVED Query.foo   # replaced by Query.bar in 2.0
  ARG_TYPE_CHANGED   Query.a(x)#now required
`
	in, err := schemaguard.ParseIntended(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || in["FIELD_REMOVED Query.foo"] != "replaced by Query.bar in 2.0" || in["ARG_TYPE_CHANGED Query.a(x)"] != "now required" {
		t.Fatalf("got %q", in)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"no reason", "FIELD_REMOVED Query.foo\n", "line 1: FIELD_REMOVED Query.foo needs a reason"},
		{"empty reason", "FIELD_REMOVED Query.foo #  \n", "needs a reason"},
		{"unknown kind", "\nFIELD_GONE Query.foo # x\n", "line 2: FIELD_GONE is not a kind of breaking change"},
		{"a dangerous kind allows nothing", "ENUM_VALUE_ADDED E.X # x\n", "not a kind of breaking change"},
		{"no path", "FIELD_REMOVED # x\n", `want "KIND Path  # why"`},
		{"listed twice", "FIELD_REMOVED Q.a # x\nFIELD_REMOVED  Q.a # y\n", "line 2: FIELD_REMOVED Q.a is listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := schemaguard.ParseIntended(strings.NewReader(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCheckAndAdvice(t *testing.T) {
	t.Parallel()
	changes := schemaguard.Diff(
		mustSchema(t, "type Query { a: Int b: Int c(x: Int): Int } enum E { X Y }"),
		mustSchema(t, "type Query { a: Int c(x: Int!): Int } enum E { X Y Z }"))
	intended := schemaguard.Intended{
		"FIELD_REMOVED Query.b":     "b was never used",
		"TYPE_REMOVED Gone":         "released already",
		"ENUM_VALUE_REMOVED E.Nope": "undone",
	}
	unintended, stale := schemaguard.Check(changes, intended)
	if len(unintended) != 1 || unintended[0].ID() != "ARG_TYPE_CHANGED Query.c(x)" {
		t.Fatalf("unintended = %v", unintended)
	}
	if !slices.Equal(stale, []string{"ENUM_VALUE_REMOVED E.Nope", "TYPE_REMOVED Gone"}) {
		t.Fatalf("stale = %q", stale)
	}
	advice := schemaguard.Advice(unintended, stale)
	for _, want := range []string{
		"ARG_TYPE_CHANGED Query.c(x): argument Query.c(x) changed type from Int to Int!",
		"\nARG_TYPE_CHANGED Query.c(x)  # why\n",
		"go run ./internal/schemaguard/cmd/release",
		"remove these lines:\n\nENUM_VALUE_REMOVED E.Nope\nTYPE_REMOVED Gone\n",
	} {
		if !strings.Contains(advice, want) {
			t.Errorf("advice does not say %q:\n%s", want, advice)
		}
	}
	if got := schemaguard.Advice(nil, nil); got != "" {
		t.Errorf("advice with nothing wrong = %q", got)
	}
}

func TestValidateOperations(t *testing.T) {
	t.Parallel()
	schema := mustSchema(t, `type Query { user(name: String!): User } type User { name: String! friends: [User!]! }`)
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("src/fragments.graphql", "fragment UserName on User { name }\nfragment OnlyForCache on User { name }\n")
	write("src/user.graphql", "query User($n: String!) {\n  user(name: $n) { ...UserName friends { ...UserName } }\n}\n")
	write("src/node_modules/pkg/bad.graphql", "query { nope }")
	write("src/generated/bad.graphql", "query { nope }")
	write("src/notes.txt", "query { nope }")
	write("test/bad.graphql", "query Bad {\n  user(name: \"x\") {\n    age\n  }\n}\n")
	write("test/broken.graphql", "query Broken {\n  user(\n")

	files, err := schemaguard.OperationFiles(dir, "src", "test", "missing")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"src/fragments.graphql", "src/user.graphql", "test/bad.graphql", "test/broken.graphql"}
	if !slices.Equal(files, want) {
		t.Fatalf("files = %q, want %q", files, want)
	}

	t.Run("fragments from other files are known, and unused ones allowed", func(t *testing.T) {
		t.Parallel()
		problems, err := schemaguard.ValidateOperations(schema, dir, files[:2])
		if err != nil || len(problems) > 0 {
			t.Fatalf("problems %v, err %v", problems, err)
		}
	})
	t.Run("an invalid field is reported at its file and line", func(t *testing.T) {
		t.Parallel()
		problems, err := schemaguard.ValidateOperations(schema, dir, files[:3])
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) != 1 || !strings.HasPrefix(problems[0].String(), `test/bad.graphql:3:5: Cannot query field "age" on type "User".`) {
			t.Fatalf("problems = %v", problems)
		}
	})
	t.Run("a syntax error is reported at its file and line", func(t *testing.T) {
		t.Parallel()
		problems, err := schemaguard.ValidateOperations(schema, dir, files)
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) != 1 || problems[0].File != "test/broken.graphql" || problems[0].Line != 3 {
			t.Fatalf("problems = %v", problems)
		}
	})
	t.Run("a fragment used but defined nowhere is reported", func(t *testing.T) {
		t.Parallel()
		problems, err := schemaguard.ValidateOperations(schema, dir, []string{"src/user.graphql"})
		if err != nil {
			t.Fatal(err)
		}
		if len(problems) == 0 || problems[0].File != "src/user.graphql" || !strings.Contains(problems[0].Message, "UserName") {
			t.Fatalf("problems = %v", problems)
		}
	})
}
