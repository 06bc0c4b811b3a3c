package app_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"inkwell/internal/apptest"
	"inkwell/internal/globalid"
)

// batchArticle is what the home-feed query shows of one article.
type batchArticle struct {
	Slug               string
	Title              string
	Status             string
	PublishedAt        *string
	Seo                struct{ Title string }
	ViewerCanEdit      bool
	ViewerCanComment   bool
	FavoritesCount     int
	ViewerHasFavorited bool
	Tags               []struct{ Name string }
	Author             struct {
		Username          string
		Bio               string
		Image             *string
		ViewerIsFollowing bool
	}
	CoverImage *struct {
		URL   string
		Width int
	}
	Comments struct {
		Nodes []struct {
			Body         string
			Author       struct{ Username string }
			RepliesCount int
			Replies      struct {
				Nodes []struct {
					Body   string
					Parent struct{ Body string }
				}
			}
		}
	}
}

type batchConn struct {
	Edges []struct {
		Cursor string
		Node   batchArticle
	}
	PageInfo struct {
		HasNextPage bool
		EndCursor   *string
	}
}

// The status, SEO and viewer's hints are read from the article's row: the statement
// counts below hold with them.
const batchFields = `edges { cursor node { slug title status publishedAt seo { title } viewerCanEdit viewerCanComment
	coverImage { url width }
	favoritesCount viewerHasFavorited tags { name }
	author { username bio image viewerIsFollowing }
	comments(first: 3) { nodes { body author { username }
		repliesCount replies(first: 2) { nodes { body parent { body } } } } } } }
	pageInfo { hasNextPage endCursor }`

const (
	batchFeedQuery     = `query($n: Int) { feed(first: $n) { ` + batchFields + ` } }`
	batchArticlesQuery = `query($n: Int) { articles(first: $n) { ` + batchFields + ` } }`
)

// batchWant is what one article should show, built while seeding.
type batchWant struct {
	id        int
	title     string
	author    string
	followed  bool // by the viewer
	tags      []string
	favorites map[string]bool // usernames
	comments  []batchComment  // oldest first
}

type batchComment struct{ body, author string }

// batchHome is a home feed worth batching: a viewer following 10 authors with 60
// articles between them (2–3 tags each), favorites by several readers and the viewer,
// 4 to 6 comments on most articles, and an author the viewer does not follow.
type batchHome struct {
	e      *apptest.Env
	viewer *apptest.User
	want   map[string]*batchWant // by slug
	feed   []string              // the viewer's feed, newest first
	all    []string              // every article, newest first
}

func batchSeed(t *testing.T) *batchHome {
	t.Helper()
	e := apptest.New(t)
	h := &batchHome{e: e, viewer: e.SignUp(t, "viewer"), want: map[string]*batchWant{}}
	authors := make([]*apptest.User, 10)
	for i := range authors {
		authors[i] = e.SignUp(t, fmt.Sprintf("author%d", i))
		e.Follow(t, h.viewer, authors[i].Username)
	}
	stranger := e.SignUp(t, "stranger")
	readers := make([]*apptest.User, 5)
	for i := range readers {
		readers[i] = e.SignUp(t, fmt.Sprintf("reader%d", i))
	}
	e.Follow(t, readers[0], "author1")
	var authorIDs []int
	for _, a := range authors {
		authorIDs = append(authorIDs, batchDBID(t, a.ID))
	}
	if _, err := e.DB.Exec(`UPDATE users SET bio = 'bio of ' || username, image = 'https://img.example.com/' || username || '.png'
		WHERE id = ANY($1)`, pq.Array(authorIDs)); err != nil {
		t.Fatal(err)
	}

	pool := []string{"go", "rust", "db", "web", "ops", "ml", "api", "css"}
	articleIDs := map[string]int{}
	for i := range 60 {
		tags := []string{pool[i%8], pool[(i+3)%8]}
		if i%2 == 0 {
			tags = append(tags, pool[(i+5)%8])
		}
		author := authors[i%10]
		a := e.CreateArticle(t, author, fmt.Sprintf("Home %02d", i), tags...)
		slices.Sort(tags)
		h.want[a.Slug] = &batchWant{title: a.Title, author: author.Username, followed: true, tags: tags, favorites: map[string]bool{}}
		h.feed = slices.Insert(h.feed, 0, a.Slug)
		h.all = slices.Insert(h.all, 0, a.Slug)
		articleIDs[a.Slug] = batchDBID(t, a.ID)
		h.want[a.Slug].id = articleIDs[a.Slug]
		if i%15 == 7 {
			s := e.CreateArticle(t, stranger, fmt.Sprintf("Stranger %02d", i), "go", "misc")
			h.want[s.Slug] = &batchWant{title: s.Title, author: "stranger", tags: []string{"go", "misc"}, favorites: map[string]bool{}}
			h.all = slices.Insert(h.all, 0, s.Slug)
			articleIDs[s.Slug] = batchDBID(t, s.ID)
			h.want[s.Slug].id = articleIDs[s.Slug]
		}
	}

	// Favorites and comments go in as plain rows: hundreds of them through HTTP would be slow.
	people := append([]*apptest.User{h.viewer, stranger}, readers...)
	people = append(people, authors...)
	var favArgs []any
	var favRows []string
	var cmtArgs []any
	var cmtRows []string
	base := time.Now().UTC().Truncate(time.Microsecond)
	rng := rand.New(rand.NewPCG(1, 2))
	for n, slug := range h.all {
		w, aid := h.want[slug], articleIDs[slug]
		for j, u := range people[:7] { // the viewer, stranger and the readers
			if (n+j)%3 == 0 {
				w.favorites[u.Username] = true
				favArgs = append(favArgs, base, batchDBID(t, u.ID), aid)
				favRows = append(favRows, fmt.Sprintf("($%d, $%d, $%d)", len(favArgs)-2, len(favArgs)-1, len(favArgs)))
			}
		}
		if n%5 == 4 {
			continue // some articles have no comments
		}
		for k := range 4 + n%3 {
			u := people[rng.IntN(len(people))]
			c := batchComment{body: fmt.Sprintf("%s comment %d", slug, k), author: u.Username}
			w.comments = append(w.comments, c)
			at := base.Add(time.Duration(k)*time.Minute - time.Duration(n)*time.Second)
			cmtArgs = append(cmtArgs, at, at, c.body, aid, batchDBID(t, u.ID))
			cmtRows = append(cmtRows, fmt.Sprintf("($%d, $%d, $%d, $%d, $%d)",
				len(cmtArgs)-4, len(cmtArgs)-3, len(cmtArgs)-2, len(cmtArgs)-1, len(cmtArgs)))
		}
	}
	// Comments go in shuffled, so their ids do not follow their times.
	perm := rng.Perm(len(cmtRows))
	shuffled := make([]string, len(cmtRows))
	for i, p := range perm {
		shuffled[i] = cmtRows[p]
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO favorites (created_at, user_id, article_id) VALUES ` + strings.Join(favRows, ", "), favArgs},
		{`UPDATE articles a SET favorites_count = (SELECT count(*) FROM favorites f WHERE f.article_id = a.id)`, nil},
		{`INSERT INTO comments (created_at, updated_at, body, article_id, author_id) VALUES ` + strings.Join(shuffled, ", "), cmtArgs},
		// Every third article has a cover (see check).
		{`INSERT INTO assets (created_at, updated_at, owner_id, purpose, state, token, url, content_type, byte_size, width, height)
			SELECT now(), now(), a.author_id, 'cover', 'ready', 'cover-token-' || lpad(a.id::text, 12, '0'),
			       'https://img.example.com/cover/' || a.id, 'image/png', 100, 640, 320
			  FROM articles a WHERE a.id % 3 = 0`, nil},
		{`UPDATE articles a SET cover_image_asset_id = s.id FROM assets s
			WHERE s.url = 'https://img.example.com/cover/' || a.id`, nil},
		// Every article's first comment has three replies (see check).
		{`INSERT INTO comments (created_at, updated_at, body, article_id, author_id, parent_id, depth)
			SELECT c.created_at + n * interval '1 second', c.created_at + n * interval '1 second',
			       c.body || ' reply ' || n, c.article_id, c.author_id, c.id, 1
			  FROM comments c, generate_series(1, 3) n WHERE c.body LIKE '% comment 0'`, nil},
	} {
		if _, err := e.DB.Exec(q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.Count(t, "comments"); got < 4*40 {
		t.Fatalf("seeded %d comments, want at least 160", got)
	}
	return h
}

func batchDBID(t *testing.T, gid string) int {
	t.Helper()
	_, id, ok := globalid.Decode(gid)
	if !ok {
		t.Fatalf("bad global id %q", gid)
	}
	return id
}

// check compares a page with what was seeded, as seen by viewer (nil for anonymous),
// and expects it to be the first len(page) articles of order.
func (h *batchHome) check(t *testing.T, c batchConn, order []string, viewer *apptest.User) {
	t.Helper()
	if len(c.Edges) == 0 {
		t.Fatal("empty page")
	}
	for i, edge := range c.Edges {
		a := edge.Node
		if a.Slug != order[i] {
			t.Fatalf("article %d = %s, want %s", i, a.Slug, order[i])
		}
		w := h.want[a.Slug]
		if a.Title != w.title || a.FavoritesCount != len(w.favorites) {
			t.Errorf("%s: title %q favoritesCount %d; want %q, %d", a.Slug, a.Title, a.FavoritesCount, w.title, len(w.favorites))
		}
		if hasCover := w.id%3 == 0; (a.CoverImage != nil) != hasCover ||
			(hasCover && (a.CoverImage.URL != fmt.Sprintf("https://img.example.com/cover/%d", w.id) || a.CoverImage.Width != 640)) {
			t.Errorf("%s (id %d): cover %+v", a.Slug, w.id, a.CoverImage)
		}
		if a.Status != "PUBLISHED" || a.PublishedAt == nil || a.Seo.Title != a.Title {
			t.Errorf("%s: status %s, publishedAt %v, seo title %q", a.Slug, a.Status, a.PublishedAt, a.Seo.Title)
		}
		if a.ViewerCanComment != (viewer != nil) || a.ViewerCanEdit != (viewer != nil && viewer.Username == w.author) {
			t.Errorf("%s: viewerCanComment %v, viewerCanEdit %v for %v", a.Slug, a.ViewerCanComment, a.ViewerCanEdit, viewer)
		}
		if want := viewer != nil && w.favorites[viewer.Username]; a.ViewerHasFavorited != want {
			t.Errorf("%s: viewerHasFavorited = %v, want %v", a.Slug, a.ViewerHasFavorited, want)
		}
		var tags []string
		for _, tg := range a.Tags {
			tags = append(tags, tg.Name)
		}
		if !slices.Equal(tags, w.tags) {
			t.Errorf("%s: tags = %v, want %v", a.Slug, tags, w.tags)
		}
		au := a.Author
		if au.Username != w.author {
			t.Errorf("%s: author = %s, want %s", a.Slug, au.Username, w.author)
		}
		if w.author == "stranger" {
			if au.Bio != "" || au.Image != nil {
				t.Errorf("%s: stranger's bio %q image %v, want empty and null", a.Slug, au.Bio, au.Image)
			}
		} else if au.Bio != "bio of "+w.author || au.Image == nil || *au.Image != "https://img.example.com/"+w.author+".png" {
			t.Errorf("%s: author bio %q image %v", a.Slug, au.Bio, au.Image)
		}
		if want := viewer != nil && w.followed; au.ViewerIsFollowing != want {
			t.Errorf("%s: author.viewerIsFollowing = %v, want %v", a.Slug, au.ViewerIsFollowing, want)
		}
		cs := a.Comments.Nodes
		want := w.comments[:min(3, len(w.comments))]
		if len(cs) != len(want) {
			t.Errorf("%s: %d comments, want %d", a.Slug, len(cs), len(want))
			continue
		}
		for k, c := range cs {
			if c.Body != want[k].body || c.Author.Username != want[k].author {
				t.Errorf("%s: comment %d = %q by %s, want %q by %s", a.Slug, k, c.Body, c.Author.Username, want[k].body, want[k].author)
			}
			var replies []string
			for _, r := range c.Replies.Nodes {
				if r.Parent.Body != c.Body {
					t.Errorf("%s: reply %q has parent %q, want %q", a.Slug, r.Body, r.Parent.Body, c.Body)
				}
				replies = append(replies, r.Body)
			}
			wantReplies := []string(nil)
			if k == 0 {
				wantReplies = []string{c.Body + " reply 1", c.Body + " reply 2"}
			}
			if !slices.Equal(replies, wantReplies) || c.RepliesCount != 3*len(wantReplies)/2 {
				t.Errorf("%s: comment %d has replies %q (of %d), want %q (of %d)", a.Slug, k, replies, c.RepliesCount,
					wantReplies, 3*len(wantReplies)/2)
			}
		}
	}
	if want := len(c.Edges) < len(order); c.PageInfo.HasNextPage != want {
		t.Errorf("hasNextPage = %v, want %v", c.PageInfo.HasNextPage, want)
	}
	if last := c.Edges[len(c.Edges)-1].Cursor; c.PageInfo.EndCursor == nil || *c.PageInfo.EndCursor != last {
		t.Errorf("endCursor = %v, want %q", c.PageInfo.EndCursor, last)
	}
}

// statements sends query for n articles and returns the page and the SQL statements
// the request cost.
func (h *batchHome) statements(t *testing.T, token, query, field string, n int) (batchConn, int64) {
	t.Helper()
	r := h.e.Query(t, token, query, map[string]any{"n": n})
	var out map[string]batchConn
	r.Decode(t, &out)
	if got := len(out[field].Edges); got != n {
		t.Fatalf("%s(first: %d) gave %d articles", field, n, got)
	}
	if r.Statements == 0 {
		t.Fatalf("%s(first: %d): no statements counted; is the counter wired?", field, n)
	}
	return out[field], r.Statements
}

// batchMaxStatements is the budget of a signed-in list: 8, one for the covers, 3 for the
// comments' replies (their pages, their counts, the replies' parents), and one for
// checking that the token's session is live (these servers run without the entity
// cache, which holds it).
const batchMaxStatements = 8 + 1 + 3 + 1

func TestBatchingHomeFeed(t *testing.T) {
	t.Parallel()
	h := batchSeed(t)

	small, nSmall := h.statements(t, h.viewer.Token, batchFeedQuery, "feed", 5)
	mid, nMid := h.statements(t, h.viewer.Token, batchFeedQuery, "feed", 20)
	big, nBig := h.statements(t, h.viewer.Token, batchFeedQuery, "feed", 50)
	t.Logf("feed as the viewer: %d statements for first: 5, %d for 20, %d for 50", nSmall, nMid, nBig)
	if nSmall != nBig || nMid != nBig {
		t.Errorf("feed costs %d statements for 5 articles, %d for 20, %d for 50: something is not batched", nSmall, nMid, nBig)
	}
	if nBig > batchMaxStatements {
		t.Errorf("feed costs %d statements, want at most %d", nBig, batchMaxStatements)
	}
	h.check(t, small, h.feed, h.viewer)
	h.check(t, mid, h.feed, h.viewer)
	h.check(t, big, h.feed, h.viewer)
	for _, edge := range big.Edges {
		if a := edge.Node; !a.Author.ViewerIsFollowing || a.Author.Username == "stranger" {
			t.Fatalf("feed has %s by %s, who the viewer does not follow", a.Slug, a.Author.Username)
		}
	}
}

func TestBatchingArticles(t *testing.T) {
	t.Parallel()
	h := batchSeed(t)

	small, nSmall := h.statements(t, h.viewer.Token, batchArticlesQuery, "articles", 5)
	mid, nMid := h.statements(t, h.viewer.Token, batchArticlesQuery, "articles", 20)
	big, nBig := h.statements(t, h.viewer.Token, batchArticlesQuery, "articles", 50)
	t.Logf("articles as the viewer: %d statements for first: 5, %d for 20, %d for 50", nSmall, nMid, nBig)
	if nSmall != nBig || nMid != nBig {
		t.Errorf("articles costs %d statements for 5, %d for 20, %d for 50: something is not batched", nSmall, nMid, nBig)
	}
	if nBig > batchMaxStatements {
		t.Errorf("articles costs %d statements, want at most %d", nBig, batchMaxStatements)
	}
	h.check(t, small, h.all, h.viewer)
	h.check(t, mid, h.all, h.viewer)
	h.check(t, big, h.all, h.viewer)

	anonSmall, aSmall := h.statements(t, "", batchArticlesQuery, "articles", 5)
	anonBig, aBig := h.statements(t, "", batchArticlesQuery, "articles", 50)
	t.Logf("articles anonymously: %d statements for first: 5, %d for first: 50", aSmall, aBig)
	if aSmall != aBig {
		t.Errorf("anonymous articles costs %d statements for 5 but %d for 50", aSmall, aBig)
	}
	// An anonymous viewer has favorited nothing and follows no one: both viewer flags
	// are answered without a query.
	if aBig > nBig-2 {
		t.Errorf("anonymous articles costs %d statements, want at most %d (signed in: %d, less the two viewer flags)", aBig, nBig-2, nBig)
	}
	h.check(t, anonSmall, h.all, nil)
	h.check(t, anonBig, h.all, nil)
}

func TestBatchingCountsUnderLists(t *testing.T) {
	t.Parallel()
	h := batchSeed(t)
	const q = `query($n: Int) { articles(first: $n) { totalCount nodes { slug
		author { username followersCount followingCount }
		comments(first: 3) { totalCount pageInfo { hasNextPage } nodes { author { username followersCount } } } } } }`
	type page struct {
		Articles struct {
			TotalCount int
			Nodes      []struct {
				Slug   string
				Author struct {
					Username                       string
					FollowersCount, FollowingCount int
				}
				Comments struct {
					TotalCount int
					PageInfo   struct{ HasNextPage bool }
				}
			}
		}
	}
	var counts []int64
	for _, n := range []int{5, 50} {
		r := h.e.Query(t, h.viewer.Token, q, map[string]any{"n": n})
		var out page
		r.Decode(t, &out)
		counts = append(counts, r.Statements)
		if len(out.Articles.Nodes) != n || out.Articles.TotalCount != len(h.all) {
			t.Fatalf("first %d: %d articles, total %d", n, len(out.Articles.Nodes), out.Articles.TotalCount)
		}
		for _, a := range out.Articles.Nodes {
			w := h.want[a.Slug]
			if a.Comments.TotalCount != len(w.comments) || a.Comments.PageInfo.HasNextPage != (len(w.comments) > 3) {
				t.Errorf("%s: comments total %d, hasNextPage %v; want %d", a.Slug, a.Comments.TotalCount, a.Comments.PageInfo.HasNextPage, len(w.comments))
			}
			followers := 0
			switch a.Author.Username {
			case "author1":
				followers = 2 // the viewer and reader0
			case "stranger":
			default:
				followers = 1
			}
			if a.Author.FollowersCount != followers || a.Author.FollowingCount != 0 {
				t.Errorf("%s: %s has %d followers, follows %d; want %d, 0",
					a.Slug, a.Author.Username, a.Author.FollowersCount, a.Author.FollowingCount, followers)
			}
		}
	}
	t.Logf("articles with counts: %d statements for first: 5, %d for first: 50", counts[0], counts[1])
	if counts[0] != counts[1] {
		t.Errorf("counts cost %d statements for 5 articles but %d for 50", counts[0], counts[1])
	}
}

// A list fetches its members ahead of their callers; a mutation that clears one of them
// must not be answered from what was fetched before it.
func TestBatchingPrefetchForgottenAfterMutation(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	viewer, bob, carol, dave := e.SignUp(t, "viewer"), e.SignUp(t, "bob"), e.SignUp(t, "carol"), e.SignUp(t, "dave")
	e.Favorite(t, dave, e.CreateArticle(t, bob, "By bob").Slug)
	e.Favorite(t, dave, e.CreateArticle(t, carol, "By carol").Slug)
	var out struct {
		A, B, C struct {
			User struct {
				Username         string
				FollowersCount   int
				FavoriteArticles struct{ Nodes []struct{ Slug string } }
			}
		}
	}
	// a lists articles by bob and carol, so b's followersCount of bob fetches carol's
	// too, before c follows carol.
	e.MustQuery(t, viewer.Token, `mutation {
		a: followUser(input: {username: "dave"}) { user { favoriteArticles { nodes { slug } } } }
		b: followUser(input: {username: "bob"}) { user { username followersCount } }
		c: followUser(input: {username: "carol"}) { user { username followersCount } }
	}`, nil, &out)
	if n := len(out.A.User.FavoriteArticles.Nodes); n != 2 {
		t.Fatalf("dave has %d favorites, want 2", n)
	}
	if out.B.User.FollowersCount != 1 || out.C.User.FollowersCount != 1 {
		t.Fatalf("followersCount after following: bob %d, carol %d; want 1, 1",
			out.B.User.FollowersCount, out.C.User.FollowersCount)
	}
}
