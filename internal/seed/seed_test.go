package seed_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	_ "github.com/lib/pq"

	"inkwell/internal/auth"
	"inkwell/internal/pgtest"
	"inkwell/internal/seed"
)

func TestMain(m *testing.M) {
	auth.PasswordParams.Memory, auth.PasswordParams.Time = 64, 1
	os.Exit(pgtest.Main(m))
}

var tiny = seed.Size{Name: "tiny", Users: 30, Tags: 20, Articles: 200, Comments: 600, Favorites: 300, FollowsPerUser: 5}

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// checksums digests every seeded table in a fixed order, all columns but the password
// hash (salted, so different on every run).
func checksums(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range seed.Tables {
		var sum string
		q := fmt.Sprintf(`SELECT md5(string_agg(row_to_json(x)::text, ',' ORDER BY x::text)) FROM %s x`, table)
		if table == "users" {
			q = `SELECT md5(string_agg(row_to_json(x)::text, ',' ORDER BY x.id)) FROM
			       (SELECT id, username, username_key, email, bio, image, created_at, updated_at FROM users) x`
		}
		if err := db.QueryRow(q).Scan(&sum); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		out[table] = sum
	}
	return out
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, c := open(t), open(t), open(t)
	for _, x := range []struct {
		db   *sql.DB
		seed uint64
	}{{a, 7}, {b, 7}, {c, 8}} {
		if err := seed.Run(ctx, x.db, seed.Options{Size: tiny, Seed: x.seed}); err != nil {
			t.Fatal(err)
		}
	}
	sa, sb, sc := checksums(t, a), checksums(t, b), checksums(t, c)
	if !maps.Equal(sa, sb) {
		t.Fatalf("same seed, different rows:\n%v\n%v", sa, sb)
	}
	if sa["articles"] == sc["articles"] || sa["comments"] == sc["comments"] {
		t.Fatal("different seeds gave the same rows")
	}
}

func TestSeedSizesAndCounts(t *testing.T) {
	t.Parallel()
	db := open(t)
	if err := seed.Run(context.Background(), db, seed.Options{Size: tiny, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{
		"users": tiny.Users, "articles": tiny.Articles, "tags": tiny.Tags, "comments": tiny.Comments,
		"favorites": tiny.Favorites, "follows": tiny.Users * tiny.FollowsPerUser,
	} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows (err %v), want %d", table, n, err, want)
		}
	}
	// Counts kept on rows must agree with the rows they count.
	var bad int
	if err := db.QueryRow(`SELECT
		(SELECT count(*) FROM articles a WHERE favorites_count <> (SELECT count(*) FROM favorites f WHERE f.article_id = a.id)) +
		(SELECT count(*) FROM articles a WHERE comments_count <> (SELECT count(*) FROM comments c WHERE c.article_id = a.id)) +
		(SELECT count(*) FROM articles WHERE trending_score <> inkwell_trending(favorites_count, comments_count, published_at)) +
		(SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM article_ranks r WHERE r.article_id = a.id
		   AND (r.favorites_count, r.comments_count, r.trending_score, r.published_at) = (a.favorites_count, a.comments_count, a.trending_score, a.published_at))) +
		(SELECT count(*) FROM tags t WHERE articles_count <> (SELECT count(*) FROM article_tags at WHERE at.tag_id = t.id)) +
		(SELECT count(*) FROM follows WHERE follower_id = followee_id)`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("%d rows with wrong counts or self-follows (err %v)", bad, err)
	}
	// New rows after a seed get fresh ids, and the comment counter runs again.
	if _, err := db.Exec(`INSERT INTO tags (name, articles_count, created_at) VALUES ('fresh', 0, now())`); err != nil {
		t.Fatalf("insert after seed: %v", err)
	}
	var before, after int
	if err := db.QueryRow(`SELECT comments_count FROM articles WHERE id = 1`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO comments (body, article_id, author_id, created_at, updated_at, depth, deleted)
		VALUES ('more', 1, 1, now(), now(), 0, false)`); err != nil {
		t.Fatalf("comment after seed: %v", err)
	}
	if err := db.QueryRow(`SELECT comments_count FROM articles WHERE id = 1`).Scan(&after); err != nil || after != before+1 {
		t.Errorf("comments_count %d after a new comment, was %d (err %v): the trigger is off", after, before, err)
	}
}

func TestSeedRefusesNonEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := open(t)
	if err := seed.Run(ctx, db, seed.Options{Size: tiny, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	before := checksums(t, db)
	err := seed.Run(ctx, db, seed.Options{Size: tiny, Seed: 2})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want a refusal mentioning --force", err)
	}
	if !maps.Equal(before, checksums(t, db)) {
		t.Fatal("a refused seed changed the data")
	}
	if err := seed.Run(ctx, db, seed.Options{Size: tiny, Seed: 2, Force: true}); err != nil {
		t.Fatalf("forced seed: %v", err)
	}
	if maps.Equal(before, checksums(t, db)) {
		t.Fatal("a forced seed with another seed left the old rows")
	}
}
