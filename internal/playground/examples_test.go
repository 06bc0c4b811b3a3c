package playground_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"inkwell/internal/playground"
)

// TestExamplesMatchSchema checks every example the page opens, with its variables,
// against the contract, so that a schema change cannot leave a broken example behind.
func TestExamplesMatchSchema(t *testing.T) {
	t.Parallel()
	sdl, err := os.ReadFile("../../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(sdl)})
	if err != nil {
		t.Fatal(err)
	}
	examples, err := playground.Examples()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GlobalFeed", "ArticlePage", "SignIn", "YourFeed", "WriteDraft", "YourDrafts", "Publish", "RequestUpload", "Reply", "Search", "Notifications"}
	if len(examples) != len(want) {
		t.Fatalf("%d examples, want %d (%v)", len(examples), len(want), want)
	}
	for i, ex := range examples {
		t.Run(ex.Name, func(t *testing.T) {
			t.Parallel()
			// nil: the default rules, the ones the server runs.
			doc, errs := gqlparser.LoadQueryWithRules(schema, ex.Query, nil)
			if len(errs) > 0 {
				t.Fatalf("invalid against schema.graphql: %v", errs)
			}
			if len(doc.Operations) != 1 {
				t.Fatalf("%d operations, want one (a tab runs one)", len(doc.Operations))
			}
			op := doc.Operations[0]
			if op.Name != want[i] {
				t.Errorf("operation %q, want %q (the tab's title)", op.Name, want[i])
			}
			vars := map[string]any{}
			if ex.Variables != "" {
				if err := json.Unmarshal([]byte(ex.Variables), &vars); err != nil {
					t.Fatalf("variables are not a JSON object: %v", err)
				}
			}
			if _, err := validator.VariableValues(schema, op, vars); err != nil {
				t.Errorf("variables: %v", err)
			}
			for name := range vars {
				if op.VariableDefinitions.ForName(name) == nil {
					t.Errorf("variable %q is not declared by the operation", name)
				}
			}
		})
	}
}
