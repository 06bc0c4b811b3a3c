// Package dbmigrate applies the versioned SQL migrations in ent/migrate/migrations, and
// the data steps SQL cannot do (rendering articles' Markdown).
package dbmigrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/postgres"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"inkwell/ent/migrate/migrations"
)

// Up applies every pending migration to the database at dsn. It is safe to call from
// several processes at once: golang-migrate holds a PostgreSQL advisory lock while it
// works, so two starting instances never migrate at the same time. Migrations only go up;
// nothing here drops data.
func Up(ctx context.Context, dsn string) error {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	return UpDB(ctx, db)
}

// UpDB is Up over an open database handle. After the SQL migrations it renders the
// articles whose read model is missing or older than the renderer (RenderArticles).
func UpDB(ctx context.Context, db *sql.DB) error {
	if err := upSQL(ctx, db); err != nil {
		return err
	}
	return RenderArticles(ctx, db)
}

func upSQL(ctx context.Context, db *sql.DB) error {
	m, err := newMigrate(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _, _ = m.Close() }()
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Status reports the applied version and whether a migration was left half-applied.
func Status(ctx context.Context, db *sql.DB) (version uint, dirty bool, err error) {
	m, err := newMigrate(ctx, db)
	if err != nil {
		return 0, false, err
	}
	defer func() { _, _ = m.Close() }()
	version, dirty, err = m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	return version, dirty, err
}

func newMigrate(ctx context.Context, db *sql.DB) (*migrate.Migrate, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	drv, err := postgres.WithConnection(ctx, conn, &postgres.Config{})
	if err != nil {
		return nil, fmt.Errorf("migration driver: %w", err)
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "postgres", drv)
	if err != nil {
		return nil, fmt.Errorf("prepare migrations: %w", err)
	}
	return m, nil
}

// Fingerprint is a short hash of all migration files; it names test template databases,
// so a changed migration gets a fresh template.
func Fingerprint() string {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		panic(err)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
