package stmtcache_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"

	"inkwell/internal/pgtest"
	"inkwell/internal/stmtcache"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open returns a driver over a fresh database with at most conns connections.
func open(t *testing.T, max, conns int) (*stmtcache.Driver, *sql.DB) {
	t.Helper()
	db, err := sql.Open("postgres", pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { db.Close() })
	return stmtcache.Wrap(entsql.OpenDB(dialect.Postgres, db), max), db
}

// query n returns a distinct statement text that answers n + its argument.
func query(n int) string { return fmt.Sprintf("SELECT %d + $1::int", n) }

func run(t *testing.T, d *stmtcache.Driver, n, arg int) {
	t.Helper()
	if err := try(d, n, arg); err != nil {
		t.Fatal(err)
	}
}

// try runs query n with arg through d's Query, as ent does, and checks the answer.
func try(d *stmtcache.Driver, n, arg int) error {
	var rows entsql.Rows
	if err := d.Query(context.Background(), query(n), []any{arg}, &rows); err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	var got int
	if !rows.Next() {
		return fmt.Errorf("query %d: no row (%w)", n, rows.Err())
	}
	if err := rows.Scan(&got); err != nil {
		return err
	}
	if got != n+arg {
		return fmt.Errorf("query %d with %d = %d, want %d", n, arg, got, n+arg)
	}
	return nil
}

// prepared counts the statements prepared on the only connection of db.
func prepared(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM pg_prepared_statements`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPreparesOnceAndBounds(t *testing.T) {
	d, db := open(t, 2, 1)
	for i := range 5 {
		run(t, d, 1, i)
	}
	if n := prepared(t, db); n != 1 {
		t.Fatalf("after 5 runs of one query: %d statements prepared, want 1", n)
	}
	run(t, d, 2, 0)
	run(t, d, 3, 0) // evicts query 1, the least recently used
	if d.Len() != 2 {
		t.Fatalf("Len = %d, want the bound 2", d.Len())
	}
	if n := prepared(t, db); n != 2 {
		t.Fatalf("%d statements prepared on the connection, want 2 (the evicted one closed)", n)
	}
	run(t, d, 1, 7) // prepared again, still right
}

func TestOff(t *testing.T) {
	d, db := open(t, 0, 1)
	run(t, d, 1, 1)
	run(t, d, 1, 2)
	if n := prepared(t, db); n != 0 {
		t.Fatalf("max 0: %d statements prepared, want none", n)
	}
}

// A statement evicted while its rows are still read keeps answering them.
func TestEvictedWhileRowsOpen(t *testing.T) {
	d, _ := open(t, 1, 2)
	ctx := context.Background()
	rows, err := d.QueryContext(ctx, `SELECT g FROM generate_series(1, $1::int) g`, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	run(t, d, 2, 0) // evicts the open query's statement
	sum := 0
	for rows.Next() {
		var g int
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		sum += g
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if sum != 1000*1001/2 {
		t.Fatalf("sum = %d, want %d", sum, 1000*1001/2)
	}
}

// Many goroutines over more statements than the bound: every answer right, no race.
func TestConcurrentEviction(t *testing.T) {
	d, _ := open(t, 3, 4)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if err := try(d, (w+i)%5, i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if d.Len() > 3 {
		t.Fatalf("Len = %d, above the bound 3", d.Len())
	}
}
