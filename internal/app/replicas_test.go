package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/dbroute"
	"inkwell/internal/pgtest"
)

// lsnOf is the extensions.consistency.lsn of a response; "" when it has none.
func lsnOf(t *testing.T, r *apptest.Response) string {
	t.Helper()
	var body struct {
		Extensions struct {
			Consistency *struct {
				LSN string `json:"lsn"`
			} `json:"consistency"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Extensions.Consistency == nil {
		return ""
	}
	return body.Extensions.Consistency.LSN
}

func TestMutationAnswersCarryTheirLSN(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	u := e.SignUp(t, "ada")
	first := e.Do(t, apptest.Request{Token: u.Token,
		Query: `mutation { updateViewer(input: {bio: "one"}) { user { bio } } }`})
	second := e.Do(t, apptest.Request{Token: u.Token,
		Query: `mutation { updateViewer(input: {bio: "two"}) { user { bio } } }`})
	a, err := dbroute.ParseLSN(lsnOf(t, first))
	if err != nil {
		t.Fatalf("first mutation: extensions.consistency.lsn: %v in %s", err, first.Body)
	}
	b, err := dbroute.ParseLSN(lsnOf(t, second))
	if err != nil {
		t.Fatalf("second mutation: extensions.consistency.lsn: %v in %s", err, second.Body)
	}
	if b <= a {
		t.Errorf("a later write's LSN %v is not past the earlier one's %v", b, a)
	}
	if q := e.Do(t, apptest.Request{Token: u.Token, Query: `{ viewer { bio } }`}); lsnOf(t, q) != "" {
		t.Errorf("a query carries extensions.consistency: %s", q.Body)
	}
}

func TestMalformedMinLSNIsRefused(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	for _, v := range []string{"yesterday", "1/2/3", "G/0", "-1/0"} {
		r := e.Do(t, apptest.Request{Query: `{ article(slug: "none") { title } }`, Header: map[string]string{"Inkwell-Min-LSN": v}})
		if r.Code() != "BAD_REQUEST" || string(r.Data) != "" && string(r.Data) != "null" {
			t.Errorf("Inkwell-Min-LSN: %s: code %q, data %s; want BAD_REQUEST and no data", v, r.Code(), r.Data)
		}
	}
}

// Reads go to the replica when they may: anonymous ones, and those whose position the
// replica has replayed. A read at a mutation's position never misses the mutation, even
// with the replica's replay stopped.
func TestReadsFollowTheirWrites(t *testing.T) {
	t.Parallel()
	onReplica, _ := pgtest.Replica(t)
	// Answers are executed, not served from the response cache, so every read counts.
	e := apptest.NewWithReplica(t, onReplica, apptest.WithConfig(func(c *config.Config) { c.ResponseCacheMB = 0 }))
	replicaReads := func() uint64 { return e.App.Router.Replicas()[0].Reads }
	waitFor(t, 20*time.Second, "the replica joins the rotation", func() bool { return e.App.Router.Replicas()[0].Up })

	u := e.SignUp(t, "ada")
	art := e.CreateArticle(t, u, "First")
	title := func(token string, header map[string]string) string {
		var out struct{ Article struct{ Title string } }
		e.Do(t, apptest.Request{Token: token, Header: header, Query: `query($s: String!) { article(slug: $s) { title } }`,
			Variables: map[string]any{"s": art.Slug}}).Decode(t, &out)
		return out.Article.Title
	}

	// Anonymous reads use the replica once it has replayed the writes so far.
	waitFor(t, 10*time.Second, "an anonymous read goes to the replica", func() bool {
		before := replicaReads()
		return title("", nil) == "First" && replicaReads() > before
	})
	// With a token and no position, reads go to the primary.
	before := replicaReads()
	if got := title(u.Token, nil); got != "First" {
		t.Fatalf("title %q", got)
	}
	if replicaReads() != before {
		t.Error("a read with a token and no Inkwell-Min-LSN went to the replica")
	}

	resume := pauseReplay(t, onReplica(e.Config.DatabaseURL))
	upd := e.Do(t, apptest.Request{Token: u.Token, Variables: map[string]any{"s": art.Slug},
		Query: `mutation($s: String!) { updateArticle(input: {slug: $s, title: "Second"}) { article { title } } }`})
	lsn := lsnOf(t, upd)
	if lsn == "" {
		t.Fatalf("the mutation's answer has no extensions.consistency.lsn: %s", upd.Body)
	}
	at := map[string]string{"Inkwell-Min-LSN": lsn}
	// The replica has not replayed the update: the read at its position waits, then goes
	// to the primary, and sees it, with a token and without.
	for _, token := range []string{u.Token, ""} {
		before := replicaReads()
		if got := title(token, at); got != "Second" {
			t.Errorf("read at %s (token %v) with replay paused: title %q, want Second", lsn, token != "", got)
		}
		if replicaReads() != before {
			t.Errorf("a read at %s went to a replica that had not replayed it", lsn)
		}
	}
	resume()
	waitFor(t, 10*time.Second, "the replica serves the read at the update's position", func() bool {
		before := replicaReads()
		got := title(u.Token, at)
		if got != "Second" {
			t.Fatalf("read at %s after replay resumed: title %q", lsn, got)
		}
		return replicaReads() > before
	})
}

// pauseReplay stops the replica behind replicaURL replaying the log, until resume (or
// the end of the test).
func pauseReplay(t *testing.T, replicaURL string) (resume func()) {
	t.Helper()
	replica, err := sql.Open("postgres", replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	if _, err := replica.Exec("SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if _, err := replica.Exec("SELECT pg_wal_replay_resume()"); err != nil {
				t.Errorf("resume replay: %v", err)
			}
		})
	}
	t.Cleanup(resume)
	return resume
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With the caches on, a change they apply keeps reads off a replica that has not
// replayed it, so the caches are not refilled with what the change replaced, even by
// reads that name no position.
func TestCachesAreNotRefilledFromAStaleReplica(t *testing.T) {
	t.Parallel()
	onReplica, _ := pgtest.Replica(t)
	e := apptest.NewWithReplica(t, onReplica, apptest.WithConfig(func(c *config.Config) { c.EntityCacheMB = 8 }))
	waitFor(t, 20*time.Second, "the replica joins the rotation", func() bool { return e.App.Router.Replicas()[0].Up })
	u := e.SignUp(t, "ada")
	art := e.CreateArticle(t, u, "First")
	title := func() string {
		var out struct{ Article struct{ Title string } }
		e.MustQuery(t, "", `query($s: String!) { article(slug: $s) { title } }`, map[string]any{"s": art.Slug}, &out)
		return out.Article.Title
	}
	waitFor(t, 10*time.Second, "an anonymous read sees the article", func() bool { return title() == "First" })

	resume := pauseReplay(t, onReplica(e.Config.DatabaseURL))
	e.MustQuery(t, u.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, title: "Second"}) { article { title } } }`,
		map[string]any{"s": art.Slug}, &struct{}{})
	for range 20 {
		if got := title(); got != "Second" {
			t.Fatalf("anonymous read after the update, replica paused: %q, want Second", got)
		}
	}
	resume()
	if got := title(); got != "Second" {
		t.Fatalf("after replay resumed: %q", got)
	}
}

// The event listener connects through DATABASE_DIRECT_URL when it is set: LISTEN through
// a transaction pooler would hear nothing.
func TestListenerUsesTheDirectURL(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	p := e.Peer(t, apptest.WithConfig(func(c *config.Config) {
		c.DirectURL = e.Config.DatabaseURL + "&application_name=inkwell_direct_probe"
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.App.Events.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a LISTEN session under the direct URL's application_name", func() bool {
		var n int
		err := e.DB.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'inkwell_direct_probe' AND query ILIKE 'listen%'`).Scan(&n)
		return err == nil && n > 0
	})
}
