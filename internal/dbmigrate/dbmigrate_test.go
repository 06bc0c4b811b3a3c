package dbmigrate_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq"

	"inkwell/ent/migrate/tables"
	"inkwell/internal/dbmigrate"
	"inkwell/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// A database built by the migrations must be exactly what ent/schema describes: the
// statements ent would run to reach its schema from there are none.
func TestMigrationsMatchSchema(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("postgres", pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := tables.Load()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m, err := schema.NewMigrate(&schema.WriteDriver{Writer: &buf, Driver: entsql.OpenDB(dialect.Postgres, db)},
		schema.WithDropColumn(true), schema.WithDropIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(context.Background(), all...); err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "--") &&
			line != "BEGIN;" && line != "COMMIT;" && !handWritten(line) {
			stmts = append(stmts, line)
		}
	}
	if len(stmts) > 0 {
		t.Fatalf("ent/schema differs from the migrated database; run `make migration NAME=...`:\n%s", strings.Join(stmts, "\n"))
	}
}

func TestUpIsIdempotentAndClean(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.New(t) // already migrated from the template
	if err := dbmigrate.Up(ctx, url); err != nil {
		t.Fatalf("second Up: %v", err)
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	version, dirty, err := dbmigrate.Status(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if version == 0 || dirty {
		t.Fatalf("status = version %d, dirty %v; want the latest version, clean", version, dirty)
	}
}

// The checksum file guards the migrations against edits after the fact.
func TestMigrationChecksums(t *testing.T) {
	t.Parallel()
	dir, err := sqltool.NewGolangMigrateDir("../../ent/migrate/migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Validate(dir); err != nil {
		t.Fatalf("atlas.sum does not match the migration files: %v", err)
	}
}

func TestFingerprintIsStable(t *testing.T) {
	t.Parallel()
	a, b := dbmigrate.Fingerprint(), dbmigrate.Fingerprint()
	if a != b || len(a) != 12 {
		t.Fatalf("Fingerprint() = %q then %q; want one stable 12-character value", a, b)
	}
}

// handWritten reports whether stmt would drop what a migration made by hand and ent
// cannot describe: the generated full-text search columns (the *_search migration).
func handWritten(stmt string) bool {
	return strings.HasSuffix(stmt, `DROP COLUMN "search_vector";`)
}
