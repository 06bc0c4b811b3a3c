// Package seed fills a migrated, empty database with a deterministic data set for
// benchmarks and load runs: the same size and seed give the same rows, byte for byte.
// Rows go in with COPY, in one transaction, so a seed either lands whole or not at all.
package seed

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"inkwell/internal/auth"
	"inkwell/internal/markdown"
	"inkwell/internal/service"
)

// Size is how much data to make.
type Size struct {
	Name           string
	Users          int
	Tags           int
	Articles       int
	Comments       int
	Favorites      int
	FollowsPerUser int
}

// Sizes are the documented data set sizes: S for tests, M for the benchmark, L to show
// that costs stay flat as data grows.
var Sizes = map[string]Size{
	"S": {Name: "S", Users: 100, Tags: 200, Articles: 2_000, Comments: 10_000, Favorites: 5_000, FollowsPerUser: 10},
	"M": {Name: "M", Users: 1_000, Tags: 200, Articles: 20_000, Comments: 100_000, Favorites: 50_000, FollowsPerUser: 10},
	"L": {Name: "L", Users: 10_000, Tags: 2_000, Articles: 200_000, Comments: 1_000_000, Favorites: 500_000, FollowsPerUser: 10},
}

// Password is every seeded user's password.
const Password = "inkwell-seed"

// Options says what to seed.
type Options struct {
	Size Size
	Seed uint64
	// Force empties the database first; without it a database with any user is refused.
	Force bool
	// Progress is told how far each table has got; nil is silent.
	Progress func(table string, done, total int)
}

// Tables lists the tables the seed writes, in the order it writes them.
var Tables = []string{"users", "articles", "tags", "article_tags", "comments", "favorites", "follows"}

// epoch anchors every generated time, so rows do not depend on when they were made.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Run seeds db.
func Run(ctx context.Context, db *sql.DB, opts Options) error {
	if opts.Size.Users < 2 || opts.Size.FollowsPerUser >= opts.Size.Users {
		return fmt.Errorf("seed: size %q is too small", opts.Size.Name)
	}
	if opts.Progress == nil {
		opts.Progress = func(string, int, int) {}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var users int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
		return fmt.Errorf("seed: count users (is the database migrated?): %w", err)
	}
	if users > 0 && !opts.Force {
		return fmt.Errorf("seed: the database already has %d users; pass --force to replace everything in it", users)
	}
	if users > 0 || opts.Force {
		if _, err := tx.ExecContext(ctx, `TRUNCATE users, tags, articles, article_tags, comments, favorites,
			follows, refresh_tokens, identities, login_codes RESTART IDENTITY CASCADE`); err != nil {
			return fmt.Errorf("seed: empty the database: %w", err)
		}
	}
	// One hash for everyone: hashing per user would take most of the run.
	hash, err := auth.HashPassword(Password)
	if err != nil {
		return err
	}
	g := &gen{rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)), size: opts.Size, hash: hash}
	steps := []struct {
		table   string
		columns []string
		rows    func(emit func(...any) error) error
		total   int
	}{
		{"users", []string{"id", "username", "username_key", "username_skeleton", "email", "password_hash", "bio", "image", "created_at", "updated_at"}, g.users, opts.Size.Users},
		{"articles", []string{"id", "slug", "title", "description", "body", "author_id", "favorites_count", "created_at", "updated_at",
			"published_at", "body_html", "excerpt", "word_count", "reading_time_minutes", "toc", "render_version", "search_tags"}, g.articles, opts.Size.Articles},
		{"tags", []string{"id", "name", "articles_count", "created_at"}, g.tags, opts.Size.Tags},
		{"article_tags", []string{"article_id", "tag_id"}, g.articleTags, 0},
		{"comments", []string{"id", "body", "article_id", "author_id", "created_at", "updated_at"}, g.comments, opts.Size.Comments},
		{"favorites", []string{"user_id", "article_id", "created_at"}, g.favorites, opts.Size.Favorites},
		{"follows", []string{"id", "follower_id", "followee_id", "created_at"}, g.follows, opts.Size.Users * opts.Size.FollowsPerUser},
	}
	// Articles' tags and favorites are drawn before the articles are written, so that
	// their counts can go in with them.
	g.plan()
	// The comments_count trigger would update an article per comment; the counts are set
	// once, below, instead.
	if _, err := tx.ExecContext(ctx, `ALTER TABLE comments DISABLE TRIGGER comments_count`); err != nil {
		return fmt.Errorf("seed: pause comment counting: %w", err)
	}
	for _, st := range steps {
		total := st.total
		if st.table == "article_tags" {
			total = g.linkCount
		}
		if err := copyRows(ctx, tx, st.table, st.columns, total, st.rows, opts.Progress); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE articles a SET comments_count = c.n
		FROM (SELECT article_id, count(*) AS n FROM comments GROUP BY article_id) c WHERE a.id = c.article_id`); err != nil {
		return fmt.Errorf("seed: count comments: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE comments ENABLE TRIGGER comments_count`); err != nil {
		return fmt.Errorf("seed: resume comment counting: %w", err)
	}
	// The notifications those follows, favorites and comments would have written, each
	// its own (ungrouped), as in a store where every group was read before the next event.
	if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (user_id, kind, actor_id, article_id, comment_id, read_at, created_at)
		SELECT user_id, kind, actor_id, article_id, comment_id, CASE WHEN created_at < $1 THEN created_at END, created_at FROM (
		  SELECT followee_id AS user_id, 'followed' AS kind, follower_id AS actor_id, NULL::bigint AS article_id, NULL::bigint AS comment_id, created_at FROM follows
		  UNION ALL
		  SELECT a.author_id, 'favorited', f.user_id, f.article_id, NULL, f.created_at
		    FROM favorites f JOIN articles a ON a.id = f.article_id WHERE a.author_id <> f.user_id
		  UNION ALL
		  SELECT a.author_id, 'commented', c.author_id, c.article_id, c.id, c.created_at
		    FROM comments c JOIN articles a ON a.id = c.article_id WHERE a.author_id <> c.author_id
		) e ORDER BY created_at`, epoch.AddDate(0, 0, -7)); err != nil {
		return fmt.Errorf("seed: notifications: %w", err)
	}
	for _, t := range []string{"users", "articles", "tags", "comments", "follows", "notifications"} {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(
			`SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT coalesce(max(id), 0) + 1 FROM %s), false)`, t, t)); err != nil {
			return fmt.Errorf("seed: move %s id sequence: %w", t, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	// VACUUM as well: setting the comment counts left a dead version of every article,
	// which index scans would step over until autovacuum came by.
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
		return fmt.Errorf("seed: vacuum: %w", err)
	}
	return nil
}

func copyRows(ctx context.Context, tx *sql.Tx, table string, columns []string, total int,
	rows func(emit func(...any) error) error, progress func(string, int, int)) (err error) {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = pq.QuoteIdentifier(c)
	}
	// lib/pq streams the rows of a prepared COPY ... FROM STDIN in bulk.
	stmt, err := tx.PrepareContext(ctx, "COPY "+pq.QuoteIdentifier(table)+" ("+strings.Join(quoted, ", ")+") FROM STDIN")
	if err != nil {
		return fmt.Errorf("seed: copy into %s: %w", table, err)
	}
	// Closing ends the COPY, so its error is the copy's.
	defer func() {
		if cerr := stmt.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("seed: copy into %s: %w", table, cerr)
		}
	}()
	done := 0
	progress(table, 0, total)
	err = rows(func(v ...any) error {
		if _, err := stmt.ExecContext(ctx, v...); err != nil {
			return err
		}
		if done++; done%2000 == 0 && done < total {
			progress(table, done, total)
		}
		return nil
	})
	if err == nil {
		_, err = stmt.ExecContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("seed: copy into %s: %w", table, err)
	}
	progress(table, total, total)
	return nil
}

// gen draws every row from one seeded generator, in a fixed order.
type gen struct {
	rng  *rand.Rand
	size Size
	hash string

	created   []time.Time // article id-1 -> created_at
	tagsOf    [][]int     // article id-1 -> tag ids
	favCount  []int       // article id-1 -> favorites
	tagCount  []int       // tag id-1 -> articles
	favs      [][2]int    // (user, article), distinct
	linkCount int
}

var words = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do
	eiusmod tempor incididunt labore dolore magna aliqua enim minim veniam quis nostrud
	exercitation ullamco laboris nisi aliquip commodo consequat duis aute irure reprehenderit
	voluptate velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat
	proident sunt culpa officia deserunt mollit anim laborum golang postgres graphql query
	index latency schema resolver`)

func (g *gen) words(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[g.rng.IntN(len(words))])
	}
	return b.String()
}

func (g *gen) para(n int) string {
	w := g.words(n)
	return strings.ToUpper(w[:1]) + w[1:] + "."
}

func title(s string) string {
	parts := strings.Fields(s)
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, " ")
}

// skewed draws 1..n, favouring low numbers (a few hot articles, a few popular tags).
func (g *gen) skewed(n int, power float64) int {
	return 1 + int(float64(n)*math.Pow(g.rng.Float64(), power))
}

// plan draws creation times, tags and favorites of all articles up front.
func (g *gen) plan() {
	s := g.size
	g.created = make([]time.Time, s.Articles)
	g.tagsOf = make([][]int, s.Articles)
	g.favCount = make([]int, s.Articles)
	g.tagCount = make([]int, s.Tags)
	for i := range s.Articles {
		g.created[i] = epoch.Add(time.Duration(g.rng.IntN(730*86400)) * time.Second)
		seen := map[int]bool{}
		for range g.rng.IntN(6) {
			t := g.skewed(s.Tags, 2)
			if t > s.Tags {
				t = s.Tags
			}
			if !seen[t] {
				seen[t] = true
				g.tagsOf[i] = append(g.tagsOf[i], t)
				g.tagCount[t-1]++
				g.linkCount++
			}
		}
	}
	seen := make(map[[2]int]bool, s.Favorites)
	for len(g.favs) < s.Favorites {
		f := [2]int{1 + g.rng.IntN(s.Users), min(g.skewed(s.Articles, 1.5), s.Articles)}
		if !seen[f] {
			seen[f] = true
			g.favs = append(g.favs, f)
			g.favCount[f[1]-1]++
		}
	}
}

func (g *gen) users(emit func(...any) error) error {
	for i := 1; i <= g.size.Users; i++ {
		name := fmt.Sprintf("user%05d", i)
		bio, image := "", ""
		if g.rng.Float64() < 0.8 {
			bio = g.para(12)
		}
		if g.rng.Float64() < 0.7 {
			image = "https://img.inkwell.test/u/" + strconv.Itoa(i) + ".jpg"
		}
		t := epoch.AddDate(-1, 0, 0).Add(time.Duration(i) * time.Minute)
		if err := emit(i, name, name, service.UsernameSkeleton(name), name+"@inkwell.test", g.hash, bio, image, t, t); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) articles(emit func(...any) error) error {
	for i := 1; i <= g.size.Articles; i++ {
		t := title(g.words(4))
		slug := strings.ReplaceAll(strings.ToLower(t), " ", "-") + "-" + strconv.Itoa(i)
		body := "# " + t + "\n\n" + g.para(38) + "\n\n## " + title(g.words(3)) + "\n\n" + g.para(40) +
			"\n\n- " + g.words(4) + "\n- " + g.words(4) + "\n- " + g.words(4) +
			"\n\n```sql\nselect * from articles where id = " + strconv.Itoa(i) + ";\n```\n\n" + g.para(30)
		c := g.created[i-1]
		// Rendered as the service renders a new article, so the read model is filled.
		doc, err := markdown.Render(body)
		if err != nil {
			return fmt.Errorf("render article %d: %w", i, err)
		}
		// Published when written, as createArticle publishes by default.
		tags := make([]string, len(g.tagsOf[i-1]))
		for k, id := range g.tagsOf[i-1] {
			tags[k] = tagName(id)
		}
		if err := emit(i, slug, t, g.para(14), body, 1+g.rng.IntN(g.size.Users), g.favCount[i-1], c, c, c,
			doc.HTML, doc.Excerpt, doc.WordCount, doc.ReadingTimeMinutes, doc.TOC, markdown.Version, strings.Join(tags, " ")); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) tags(emit func(...any) error) error {
	for i := 1; i <= g.size.Tags; i++ {
		if err := emit(i, tagName(i), g.tagCount[i-1], epoch); err != nil {
			return err
		}
	}
	return nil
}

// tagName is the name of seeded tag id.
func tagName(id int) string { return fmt.Sprintf("topic%04d", id) }

func (g *gen) articleTags(emit func(...any) error) error {
	for i, tags := range g.tagsOf {
		for _, t := range tags {
			if err := emit(i+1, t); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *gen) comments(emit func(...any) error) error {
	for i := 1; i <= g.size.Comments; i++ {
		a := min(g.skewed(g.size.Articles, 1.5), g.size.Articles)
		t := g.created[a-1].Add(time.Duration(g.rng.IntN(60*86400)) * time.Second)
		if err := emit(i, g.para(8+g.rng.IntN(25)), a, 1+g.rng.IntN(g.size.Users), t, t); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) favorites(emit func(...any) error) error {
	for i, f := range g.favs {
		if err := emit(f[0], f[1], epoch.Add(time.Duration(i)*10*time.Minute)); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) follows(emit func(...any) error) error {
	n, per := g.size.Users, g.size.FollowsPerUser
	id := 0
	for u := 1; u <= n; u++ {
		seen := map[int]bool{}
		for len(seen) < per {
			off := 1 + g.rng.IntN(n-1)
			if seen[off] {
				continue
			}
			seen[off] = true
			id++
			if err := emit(id, u, (u-1+off)%n+1, epoch.Add(time.Duration(id)*time.Minute)); err != nil {
				return err
			}
		}
	}
	return nil
}
