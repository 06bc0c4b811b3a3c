package pgtest_test

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"inkwell/internal/dbmigrate"
	"inkwell/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exists(t testing.TB, db *sql.DB, q string, args ...any) bool {
	t.Helper()
	var ok bool
	if err := db.QueryRow("SELECT EXISTS ("+q+")", args...).Scan(&ok); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return ok
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	a, b := open(t, pgtest.New(t)), open(t, pgtest.New(t))
	if _, err := a.Exec("CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	if exists(t, b, "SELECT FROM pg_class WHERE relname = 'only_in_a'") {
		t.Error("a table created in one database is visible in another")
	}
}

// TestParallel creates many databases at once from the same template, which
// is where "source database is being accessed by other users" would show up.
func TestParallel(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]string{}
	for i := range 16 {
		t.Run(fmt.Sprint("sub", i), func(t *testing.T) {
			t.Parallel()
			db := open(t, pgtest.New(t))
			var name string
			if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			if len(name) > 63 || name != strings.ToLower(name) || !strings.HasPrefix(name, "t_testparallel_sub") {
				t.Errorf("database name %q", name)
			}
			mu.Lock()
			if other, dup := seen[name]; dup {
				t.Errorf("%s got the database of %s", t.Name(), other)
			}
			seen[name] = t.Name()
			mu.Unlock()
			// Same table name in every database: would collide if shared.
			if _, err := db.Exec("CREATE TABLE things (id int); INSERT INTO things VALUES (1)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTemplateReusedAndPassingDatabasesDropped(t *testing.T) {
	admin := open(t, pgtest.AdminURL())
	tpl := "inkwell_tpl_" + dbmigrate.Fingerprint()

	var dbs []string
	var oids []int64
	for i := range 2 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			u := pgtest.New(t)
			var name string
			if err := open(t, u).QueryRow("SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			dbs = append(dbs, name)
			var oid int64
			var isTemplate, allowConn bool
			err := admin.QueryRow("SELECT oid, datistemplate, datallowconn FROM pg_database WHERE datname = $1", tpl).Scan(&oid, &isTemplate, &allowConn)
			if err != nil {
				t.Fatalf("template %s: %v", tpl, err)
			}
			if !isTemplate || allowConn {
				t.Errorf("template %s: datistemplate=%v datallowconn=%v", tpl, isTemplate, allowConn)
			}
			oids = append(oids, oid)
		})
	}
	if len(oids) == 2 && oids[0] != oids[1] {
		t.Errorf("template rebuilt: oid %d then %d", oids[0], oids[1])
	}
	for _, name := range dbs {
		if exists(t, admin, "SELECT FROM pg_database WHERE datname = $1", name) {
			t.Errorf("database %s of a passed test was not dropped", name)
		}
	}
	if exists(t, admin, "SELECT FROM pg_database WHERE datname LIKE 'inkwell\\_tmp\\_%'") {
		t.Error("scratch database of the template build left behind")
	}
}

// failedTB is a test that has failed, with its cleanups and logs captured.
type failedTB struct {
	*testing.T
	cleanups []func()
	logs     []string
}

func (f *failedTB) Failed() bool      { return true }
func (f *failedTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *failedTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func TestFailedTestKeepsDatabase(t *testing.T) {
	t.Parallel()
	ft := &failedTB{T: t}
	u := pgtest.New(ft)
	for _, fn := range ft.cleanups {
		fn()
	}
	if len(ft.logs) != 1 || !strings.Contains(ft.logs[0], u) {
		t.Errorf("logs = %q, want one naming %s", ft.logs, u)
	}
	var name string
	if err := open(t, u).QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("kept database: %v", err)
	}
	if _, err := open(t, pgtest.AdminURL()).Exec(`DROP DATABASE "` + name + `" WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
}

// A replica follows the server, and leaves no replication slot behind: a slot left
// would keep the server's log forever.
func TestReplicaFollowsAndCleansUp(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	db := open(t, url)
	if _, err := db.Exec("CREATE TABLE probe (n int)"); err != nil {
		t.Fatal(err)
	}
	var slot string
	t.Run("replica", func(t *testing.T) {
		onReplica, _ := pgtest.Replica(t)
		if _, err := db.Exec("INSERT INTO probe VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		rep := open(t, onReplica(url))
		deadline := time.Now().Add(10 * time.Second)
		for !exists(t, rep, "SELECT 1 FROM probe WHERE n = 1") {
			if time.Now().After(deadline) {
				t.Fatal("the replica did not replay the insert within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := db.QueryRow("SELECT slot_name FROM pg_replication_slots WHERE active").Scan(&slot); err != nil {
			t.Fatalf("the replica streams through no slot: %v", err)
		}
	})
	if exists(t, db, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", slot) {
		t.Errorf("slot %s outlived its replica", slot)
	}
}
