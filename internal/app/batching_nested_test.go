package app_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/paging"
)

// nestedEntry is one row of a user's list as seeded: what a node shows and its cursor key.
type nestedEntry struct {
	label string // slug or username
	key   paging.Key
}

// nestedLists are one user's four lists, in list order (newest first).
type nestedLists struct {
	articles, favorites, followers, following []nestedEntry
}

// nestedWorld is a dozen authors with two to four articles each (tagged), favorites
// given out of article order, and follows whose times tie now and then, so that the id
// has to break ties. nfan follows every author.
type nestedWorld struct {
	e       *apptest.Env
	authors []string
	lists   map[string]*nestedLists // by username
	tags    map[string][]string     // by slug, sorted
}

func nestedSeed(t *testing.T) *nestedWorld {
	t.Helper()
	e := apptest.New(t)
	w := &nestedWorld{e: e, lists: map[string]*nestedLists{}, tags: map[string][]string{}}
	var authors, people []*apptest.User
	for i := range 12 {
		authors = append(authors, e.SignUp(t, fmt.Sprintf("nauthor%02d", i)))
		w.authors = append(w.authors, authors[i].Username)
	}
	people = append(people, authors...)
	for i := range 3 {
		people = append(people, e.SignUp(t, fmt.Sprintf("nreader%d", i)))
	}
	people = append(people, e.SignUp(t, "nfan"))
	ids := map[string]int{}
	names := map[int]string{}
	for _, u := range people {
		ids[u.Username] = batchDBID(t, u.ID)
		names[ids[u.Username]] = u.Username
		w.lists[u.Username] = &nestedLists{}
	}

	// Articles, oldest first: authors take turns, author i writing 2 + i%3 of them.
	type seeded struct {
		slug   string
		id     int
		author string
	}
	var arts []seeded
	pool := []string{"go", "db", "web", "ops", "api"}
	for r := range 4 {
		for i, a := range authors {
			if r >= 2+i%3 {
				continue
			}
			tags := []string{pool[(r+i)%5], pool[(r+2*i+1)%5]}
			if tags[0] == tags[1] {
				tags = tags[:1]
			}
			x := e.CreateArticle(t, a, fmt.Sprintf("Nested %d by %d", r, i), tags...)
			slices.Sort(tags)
			w.tags[x.Slug] = tags
			arts = append(arts, seeded{slug: x.Slug, id: batchDBID(t, x.ID), author: a.Username})
		}
	}
	created := map[int]time.Time{}
	rows, err := e.DB.Query(`SELECT id, created_at FROM articles`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		created[id] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		l := w.lists[a.author]
		l.articles = append(l.articles, nestedEntry{a.slug, paging.Key{Time: created[a.id], ID: a.id}})
	}

	// Favorites are given newest article first, so that a list ordered by when the
	// favorite was given would come out backwards. nauthor11 favorites nothing.
	base := time.Now().UTC().Truncate(time.Microsecond)
	var favArgs []any
	var favRows []string
	for n, a := range arts {
		for i, u := range people {
			if u.Username == "nauthor11" || u.Username == "nfan" || (n+i)%4 != 0 {
				continue
			}
			l := w.lists[u.Username]
			l.favorites = append(l.favorites, nestedEntry{a.slug, paging.Key{Time: created[a.id], ID: a.id}})
			favArgs = append(favArgs, base.Add(-time.Duration(n)*time.Minute), ids[u.Username], a.id)
			favRows = append(favRows, fmt.Sprintf("($%d, $%d, $%d)", len(favArgs)-2, len(favArgs)-1, len(favArgs)))
		}
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO favorites (created_at, user_id, article_id) VALUES ` + strings.Join(favRows, ", "), favArgs},
		{`UPDATE articles a SET favorites_count = (SELECT count(*) FROM favorites f WHERE f.article_id = a.id)`, nil},
	} {
		if _, err := e.DB.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}

	// Follows: author i has i%4 followers among the next authors, a reader when i is
	// even, and nfan, who follows everyone. They go in shuffled, on a handful of
	// distinct times.
	type pair struct {
		follower, followee string
		at                 time.Time
	}
	var follows []pair
	for i, a := range w.authors {
		for j := range i % 4 {
			follows = append(follows, pair{w.authors[(i+1+j)%12], a, base.Add(-time.Duration((i*7+j*3)%5) * time.Minute)})
		}
		if i%2 == 0 {
			follows = append(follows, pair{fmt.Sprintf("nreader%d", i%3), a, base.Add(-time.Duration(i%3) * time.Minute)})
		}
		follows = append(follows, pair{"nfan", a, base.Add(-time.Duration(i%4) * time.Minute)})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(follows), func(i, j int) { follows[i], follows[j] = follows[j], follows[i] })
	for _, f := range follows {
		var id int
		if err := e.DB.QueryRow(`INSERT INTO follows (created_at, follower_id, followee_id) VALUES ($1, $2, $3) RETURNING id`,
			f.at, ids[f.follower], ids[f.followee]).Scan(&id); err != nil {
			t.Fatal(err)
		}
		k := paging.Key{Time: f.at, ID: id}
		w.lists[f.followee].followers = append(w.lists[f.followee].followers, nestedEntry{f.follower, k})
		w.lists[f.follower].following = append(w.lists[f.follower].following, nestedEntry{f.followee, k})
	}

	newestFirst := func(a, b nestedEntry) int {
		if c := b.key.Time.Compare(a.key.Time); c != 0 {
			return c
		}
		return b.key.ID - a.key.ID
	}
	for _, l := range w.lists {
		for _, s := range [][]nestedEntry{l.articles, l.favorites, l.followers, l.following} {
			slices.SortFunc(s, newestFirst)
		}
	}
	return w
}

// nestedConn is one connection of a user, as nestedUserFields selects it (or
// nestedFanQuery, with more of each node).
type nestedConn struct {
	TotalCount int
	Nodes      []nestedNode
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
}

// nestedNode is an article or a user.
type nestedNode struct {
	Slug           string
	Tags           []struct{ Name string }
	Username       string
	FollowersCount *int
	Articles       *nestedConn
}

type nestedUser struct {
	Username                                         string
	Articles, FavoriteArticles, Followers, Following nestedConn
}

// nestedUserFields selects a user's four connections, two rows each, with $a and $f as
// the after cursors of articles and followers.
const nestedUserFields = `username
	articles(first: 2, after: $a) { totalCount nodes { slug } pageInfo { hasNextPage endCursor } }
	favoriteArticles(first: 2) { totalCount nodes { slug } pageInfo { hasNextPage endCursor } }
	followers(first: 2, after: $f) { totalCount nodes { username } pageInfo { hasNextPage endCursor } }
	following(first: 2) { totalCount nodes { username } pageInfo { hasNextPage endCursor } }`

const (
	nestedListQuery = `query($n: Int, $a: String, $f: String) { articles(first: $n) { nodes { slug author { ` +
		nestedUserFields + ` } } } }`
	nestedUserQuery = `query($u: String!, $a: String, $f: String) { user(username: $u) { ` + nestedUserFields + ` } }`
)

// nestedFanQuery is nfan's first $n follows, each with their own fields and a page
// whose articles have theirs.
const nestedFanQuery = `query($n: Int) { user(username: "nfan") { following(first: $n) { totalCount
	nodes { username followersCount articles(first: 2) { totalCount nodes { slug tags { name } } pageInfo { hasNextPage endCursor } } }
	pageInfo { hasNextPage endCursor } } } }`

type nestedPage struct {
	Articles struct {
		Nodes []struct {
			Slug   string
			Author nestedUser
		}
	}
}

// cursors are the after cursors of a request: of articles and of followers.
type nestedCursors struct{ articles, followers *string }

func (c nestedCursors) vars() map[string]any {
	return map[string]any{"a": c.articles, "f": c.followers}
}

// list sends the nested query for the n newest articles and returns the page and the
// statements it cost.
func (w *nestedWorld) list(t *testing.T, n int, c nestedCursors) (nestedPage, int64) {
	t.Helper()
	vars := c.vars()
	vars["n"] = n
	r := w.e.Query(t, "", nestedListQuery, vars)
	var out nestedPage
	r.Decode(t, &out)
	if got := len(out.Articles.Nodes); got != n {
		t.Fatalf("articles(first: %d) gave %d", n, got)
	}
	if r.Statements == 0 {
		t.Fatal("no statements counted; is the counter wired?")
	}
	return out, r.Statements
}

// single asks for one user alone: no list to batch with.
func (w *nestedWorld) single(t *testing.T, username string, c nestedCursors) nestedUser {
	t.Helper()
	vars := c.vars()
	vars["u"] = username
	var out struct{ User nestedUser }
	w.e.MustQuery(t, "", nestedUserQuery, vars, &out)
	return out.User
}

// checkConn compares a connection with the first size entries of want after the cursor
// after (nil for the start). Cursors must be exactly those of the seeded keys.
func (w *nestedWorld) checkConn(t *testing.T, name string, got nestedConn, want []nestedEntry, size int, after *string) {
	t.Helper()
	total := len(want)
	if after != nil {
		k, err := paging.DecodeCursor(*after)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(want, func(e nestedEntry) bool {
			return e.key.Time.Before(k.Time) || (e.key.Time.Equal(k.Time) && e.key.ID < k.ID)
		})
		if i < 0 {
			i = len(want)
		}
		want = want[i:]
	}
	page := want[:min(size, len(want))]
	var labels, wantLabels []string
	for _, n := range got.Nodes {
		labels = append(labels, n.Slug+n.Username)
	}
	for _, e := range page {
		wantLabels = append(wantLabels, e.label)
	}
	if !slices.Equal(labels, wantLabels) {
		t.Errorf("%s = %v, want %v", name, labels, wantLabels)
		return
	}
	if got.TotalCount != total {
		t.Errorf("%s totalCount = %d, want %d", name, got.TotalCount, total)
	}
	if got.PageInfo.HasNextPage != (len(want) > size) {
		t.Errorf("%s hasNextPage = %v, want %v", name, got.PageInfo.HasNextPage, len(want) > size)
	}
	var wantEnd *string
	if len(page) > 0 {
		c := paging.EncodeCursor(page[len(page)-1].key)
		wantEnd = &c
	}
	if (got.PageInfo.EndCursor == nil) != (wantEnd == nil) || (wantEnd != nil && *got.PageInfo.EndCursor != *wantEnd) {
		t.Errorf("%s endCursor = %v, want %v", name, got.PageInfo.EndCursor, wantEnd)
	}
	for _, n := range got.Nodes {
		if n.Slug != "" {
			var tags []string
			for _, tg := range n.Tags {
				tags = append(tags, tg.Name)
			}
			if n.Tags != nil && !slices.Equal(tags, w.tags[n.Slug]) {
				t.Errorf("%s: %s tags = %v, want %v", name, n.Slug, tags, w.tags[n.Slug])
			}
		}
		if n.FollowersCount != nil {
			if want := len(w.lists[n.Username].followers); *n.FollowersCount != want {
				t.Errorf("%s: %s followersCount = %d, want %d", name, n.Username, *n.FollowersCount, want)
			}
		}
		if n.Articles != nil {
			w.checkConn(t, name+": "+n.Username+".articles", *n.Articles, w.lists[n.Username].articles, 2, nil)
		}
	}
}

// check compares a user's connections with the seeded lists and with what the user
// alone answers, and returns how many users it checked.
func (w *nestedWorld) check(t *testing.T, p nestedPage, c nestedCursors) int {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range p.Articles.Nodes {
		u := a.Author
		l := w.lists[u.Username]
		if l == nil {
			t.Fatalf("%s: unknown author %q", a.Slug, u.Username)
		}
		w.checkConn(t, u.Username+".articles", u.Articles, l.articles, 2, c.articles)
		w.checkConn(t, u.Username+".favoriteArticles", u.FavoriteArticles, l.favorites, 2, nil)
		w.checkConn(t, u.Username+".followers", u.Followers, l.followers, 2, c.followers)
		w.checkConn(t, u.Username+".following", u.Following, l.following, 2, nil)
		if seen[u.Username] {
			continue
		}
		seen[u.Username] = true
		alone := w.single(t, u.Username, c)
		got, _ := json.Marshal(u)
		want, _ := json.Marshal(alone)
		if string(got) != string(want) {
			t.Errorf("%s under the list differs from the user alone:\n list: %s\nalone: %s", u.Username, got, want)
		}
	}
	return len(seen)
}

func TestBatchingNestedUserConnections(t *testing.T) {
	t.Parallel()
	w := nestedSeed(t)

	t.Run("the same statements for 5 and 30 articles", func(t *testing.T) {
		small, nSmall := w.list(t, 5, nestedCursors{})
		big, nBig := w.list(t, 30, nestedCursors{})
		t.Logf("nested user connections: %d statements for first: 5, %d for first: 30", nSmall, nBig)
		if nSmall != nBig {
			t.Errorf("nested connections cost %d statements under 5 articles but %d under 30: something is not batched", nSmall, nBig)
		}
		w.check(t, small, nestedCursors{})
		if n := w.check(t, big, nestedCursors{}); n < 10 {
			t.Fatalf("first: 30 reached %d authors, want at least 10", n)
		}
	})

	// The users of a page are a list, and so are the articles of their pages: their
	// own fields cost one query each, however many there are.
	t.Run("rows of nested pages batch their own fields", func(t *testing.T) {
		var counts []int64
		for _, n := range []int{3, 12} {
			r := w.e.Query(t, "", nestedFanQuery, map[string]any{"n": n})
			var out struct {
				User struct{ Following nestedConn }
			}
			r.Decode(t, &out)
			counts = append(counts, r.Statements)
			f := out.User.Following
			if len(f.Nodes) != n {
				t.Fatalf("following(first: %d) gave %d", n, len(f.Nodes))
			}
			w.checkConn(t, "nfan.following", f, w.lists["nfan"].following, n, nil)
			for _, u := range f.Nodes {
				if u.FollowersCount == nil || u.Articles == nil || len(u.Articles.Nodes) == 0 || u.Articles.Nodes[0].Tags == nil {
					t.Fatalf("%s: fields missing: %+v", u.Username, u)
				}
			}
		}
		t.Logf("a user's follows with their fields: %d statements for first: 3, %d for first: 12", counts[0], counts[1])
		if counts[0] != counts[1] {
			t.Errorf("follows cost %d statements for 3 users but %d for 12: their fields are not batched", counts[0], counts[1])
		}
	})

	t.Run("a page after a cursor matches the user alone", func(t *testing.T) {
		// nauthor02 wrote four articles and nauthor03 has four followers: take the
		// cursor of each one's first page. Under the list the same cursor applies to
		// every author, whose pages are then whatever comes after that point.
		a := w.single(t, "nauthor02", nestedCursors{}).Articles
		f := w.single(t, "nauthor03", nestedCursors{}).Followers
		if !a.PageInfo.HasNextPage || !f.PageInfo.HasNextPage {
			t.Fatalf("seed: nauthor02's articles or nauthor03's followers fit on one page")
		}
		c := nestedCursors{articles: a.PageInfo.EndCursor, followers: f.PageInfo.EndCursor}
		p, n := w.list(t, 30, c)
		t.Logf("nested user connections after cursors: %d statements for first: 30", n)
		if got := w.check(t, p, c); got < 10 {
			t.Fatalf("reached %d authors, want at least 10", got)
		}
		// The seed has more after each cursor, so the pages above were real second pages.
		for _, x := range p.Articles.Nodes {
			u := x.Author
			switch {
			case u.Username == "nauthor02" && (len(u.Articles.Nodes) == 0 || u.Articles.Nodes[0].Slug != w.lists["nauthor02"].articles[2].label):
				t.Errorf("nauthor02's second page of articles: %+v", u.Articles)
			case u.Username == "nauthor03" && (len(u.Followers.Nodes) == 0 || u.Followers.Nodes[0].Username != w.lists["nauthor03"].followers[2].label):
				t.Errorf("nauthor03's second page of followers: %+v", u.Followers)
			}
		}
	})
}
