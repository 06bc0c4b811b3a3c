//go:build ignore

// This program generates ent's code from ent/schema; `go generate ./ent` runs it.
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	sql, err := gen.NewStorage("sql")
	if err != nil {
		log.Fatal(err)
	}
	// Schema changes go through versioned SQL migrations (ent/migrate/migrations, written
	// by ent/migrate/diff), never through the client: without migration support the
	// client does not link Atlas, which would add about 1.8 MB to the compressed image.
	storage := *sql
	storage.SchemaMode &^= gen.Migrate
	if err := entc.Generate("./schema", &gen.Config{Storage: &storage},
		entc.FeatureNames("privacy", "sql/upsert", "sql/execquery", "sql/modifier", "sql/lock"),
	); err != nil {
		log.Fatal(err)
	}
}
