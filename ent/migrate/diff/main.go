// Command diff writes the next versioned migration: the SQL that takes a database
// migrated with ent/migrate/migrations to the schema in ent/schema.
//
//	go run ./ent/migrate/diff add_bio_index
//
// It needs an empty scratch database to replay the existing migrations on: DEV_DATABASE_URL,
// or a throw-away local PostgreSQL that it starts and stops itself. Writing nothing means
// ent/schema and the migrations agree (CI relies on that).
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq"

	"inkwell/ent/migrate/tables"
	"inkwell/internal/devdb"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run ./ent/migrate/diff <migration_name>")
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, name string) error {
	url, stop, err := devdb.Scratch(ctx, os.Getenv("DEV_DATABASE_URL"))
	if err != nil {
		return err
	}
	defer stop()
	dir, err := sqltool.NewGolangMigrateDir("ent/migrate/migrations")
	if err != nil {
		return fmt.Errorf("open migrations dir (run from the repo root): %w", err)
	}
	all, err := tables.Load()
	if err != nil {
		return err
	}
	return schema.Diff(ctx, url, name, all,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(sqltool.GolangMigrateFormatter),
		schema.WithDropColumn(false),
		schema.WithDropIndex(false),
	)
}
