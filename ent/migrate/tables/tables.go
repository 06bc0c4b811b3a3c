// Package tables describes the tables ent/schema asks for, for the tools that compare
// them with a database: ent/migrate/diff, which writes the next migration, and the test
// that the migrations build exactly that schema. The server never links it (nor Atlas,
// which it brings): the generated client has no migration support.
package tables

import (
	"fmt"
	"path/filepath"

	"entgo.io/ent/dialect/sql/schema"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"inkwell/internal/reporoot"
)

// Load reads ent/schema (compiling it, so it takes seconds) and returns its tables.
func Load() ([]*schema.Table, error) {
	root, err := reporoot.Find()
	if err != nil {
		return nil, err
	}
	graph, err := entc.LoadGraph(filepath.Join(root, "ent", "schema"), &gen.Config{})
	if err != nil {
		return nil, fmt.Errorf("load ent/schema: %w", err)
	}
	return graph.Tables()
}
