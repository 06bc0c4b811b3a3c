package app_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"inkwell/internal/apptest"
)

// listNode is any connection's node as these tests select it: an article's slug, a
// user's username or a comment's body.
type listNode struct {
	Slug     string `json:"slug"`
	Username string `json:"username"`
	Body     string `json:"body"`
}

func (n listNode) key() string { return n.Slug + n.Username + n.Body }

// listConn is one page of any connection.
type listConn struct {
	Edges []struct {
		Cursor string
		Node   listNode
	}
	Nodes    []listNode
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	TotalCount int
}

// listFields selects a whole connection whose nodes have the field nodeField.
func listFields(nodeField string) string {
	return `edges { cursor node { ` + nodeField + ` } } nodes { ` + nodeField + ` }
		pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount`
}

// keys checks that the page agrees with itself (nodes are the edges' nodes; start and
// end cursors are the first and last edge's) and returns its nodes' keys in order.
func (c listConn) keys(t testing.TB) []string {
	t.Helper()
	if len(c.Nodes) != len(c.Edges) {
		t.Fatalf("%d nodes but %d edges", len(c.Nodes), len(c.Edges))
	}
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		if e.Node != c.Nodes[i] {
			t.Fatalf("nodes[%d] = %+v, edges[%d].node = %+v", i, c.Nodes[i], i, e.Node)
		}
		if e.Cursor == "" {
			t.Fatalf("edges[%d] has no cursor", i)
		}
		out[i] = e.Node.key()
	}
	pi := c.PageInfo
	if len(c.Edges) == 0 {
		if pi.StartCursor != nil || pi.EndCursor != nil {
			t.Fatalf("empty page has cursors %v, %v", pi.StartCursor, pi.EndCursor)
		}
		return out
	}
	if pi.StartCursor == nil || *pi.StartCursor != c.Edges[0].Cursor {
		t.Fatalf("startCursor = %v, want %q", pi.StartCursor, c.Edges[0].Cursor)
	}
	if pi.EndCursor == nil || *pi.EndCursor != c.Edges[len(c.Edges)-1].Cursor {
		t.Fatalf("endCursor = %v, want %q", pi.EndCursor, c.Edges[len(c.Edges)-1].Cursor)
	}
	return out
}

var listArticlesQuery = `query($first: Int, $after: String, $last: Int, $before: String, $filter: ArticleFilter) {
	articles(first: $first, after: $after, last: $last, before: $before, filter: $filter) { ` + listFields("slug") + ` } }`

// listArticles sends Query.articles with vars and returns the page.
func listArticles(t testing.TB, e *apptest.Env, vars map[string]any) listConn {
	t.Helper()
	var out struct{ Articles listConn }
	e.MustQuery(t, "", listArticlesQuery, vars, &out)
	return out.Articles
}

// listCreate publishes n articles as u, titled prefix 1 … prefix n, and returns their
// slugs newest first, as lists show them.
func listCreate(t testing.TB, e *apptest.Env, u *apptest.User, prefix string, n int) []string {
	t.Helper()
	slugs := make([]string, n)
	for i := range n {
		slugs[n-1-i] = e.CreateArticle(t, u, fmt.Sprintf("%s %d", prefix, i+1)).Slug
	}
	return slugs
}

// listWalkForward pages with first/after until hasNextPage is false and returns every
// page; between is called after each page but the last.
func listWalkForward(t testing.TB, fetch func(after *string) listConn, between func(page int)) []listConn {
	t.Helper()
	var pages []listConn
	var after *string
	for {
		p := fetch(after)
		p.keys(t)
		pages = append(pages, p)
		if !p.PageInfo.HasNextPage {
			return pages
		}
		if len(pages) > 100 {
			t.Fatal("more than 100 pages: the walk does not end")
		}
		if between != nil {
			between(len(pages))
		}
		after = p.PageInfo.EndCursor
	}
}

func listKeys(t testing.TB, pages []listConn) []string {
	t.Helper()
	var out []string
	for _, p := range pages {
		out = append(out, p.keys(t)...)
	}
	return out
}

func listErrCode(t testing.TB, r *apptest.Response, code, field string) {
	t.Helper()
	if r.Code() != code {
		t.Fatalf("code = %q, want %s: %s", r.Code(), code, r.Body)
	}
	if field != "" && len(r.Errors[0].Extensions.Fields[field]) == 0 {
		t.Fatalf("fields = %v, want %q named: %s", r.Errors[0].Extensions.Fields, field, r.Body)
	}
	if d := string(r.Data); d != "" && d != "null" {
		t.Fatalf("data = %s, want null", d)
	}
}

func TestListArticlesNewestFirst(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob := e.SignUp(t, "alice"), e.SignUp(t, "bob")
	var want []string
	for i := range 6 {
		u := alice
		if i%2 == 1 {
			u = bob
		}
		want = slices.Insert(want, 0, e.CreateArticle(t, u, fmt.Sprintf("Post %d", i)).Slug)
	}
	p := listArticles(t, e, nil)
	if got := p.keys(t); !slices.Equal(got, want) {
		t.Fatalf("articles = %v, want %v", got, want)
	}
	if p.TotalCount != 6 || p.PageInfo.HasNextPage || p.PageInfo.HasPreviousPage {
		t.Fatalf("totalCount = %d, pageInfo = %+v", p.TotalCount, p.PageInfo)
	}
}

func TestListArticlesFilter(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob, carol := e.SignUp(t, "alice"), e.SignUp(t, "Bob"), e.SignUp(t, "carol")
	a1 := e.CreateArticle(t, alice, "A one", "go", "db").Slug
	a2 := e.CreateArticle(t, bob, "A two", "Go").Slug
	a3 := e.CreateArticle(t, alice, "A three", "rust", "Machine Learning").Slug
	a4 := e.CreateArticle(t, bob, "A four", "db").Slug
	a5 := e.CreateArticle(t, alice, "A five", "go", "web").Slug
	for _, s := range []string{a1, a2, a4} {
		e.Favorite(t, carol, s)
	}
	e.Favorite(t, bob, a5)

	for _, tc := range []struct {
		name   string
		filter map[string]any
		want   []string
	}{
		{"no filter", map[string]any{}, []string{a5, a4, a3, a2, a1}},
		{"tag", map[string]any{"tag": "go"}, []string{a5, a2, a1}},
		{"tag in another case", map[string]any{"tag": "GO"}, []string{a5, a2, a1}},
		{"other tag", map[string]any{"tag": "db"}, []string{a4, a1}},
		{"tag spelled as written", map[string]any{"tag": "  machine LEARNING "}, []string{a3}},
		{"tag as stored", map[string]any{"tag": "machine-learning"}, []string{a3}},
		{"author", map[string]any{"author": "alice"}, []string{a5, a3, a1}},
		{"author in another case", map[string]any{"author": "ALICE"}, []string{a5, a3, a1}},
		{"author with capitals", map[string]any{"author": "bob"}, []string{a4, a2}},
		{"favorited by", map[string]any{"favoritedBy": "Carol"}, []string{a4, a2, a1}},
		{"favorited by another", map[string]any{"favoritedBy": "BOB"}, []string{a5}},
		{"tag and author", map[string]any{"tag": "go", "author": "alice"}, []string{a5, a1}},
		{"tag and favorited by", map[string]any{"tag": "go", "favoritedBy": "carol"}, []string{a2, a1}},
		{"author and favorited by", map[string]any{"author": "alice", "favoritedBy": "carol"}, []string{a1}},
		{"all three", map[string]any{"tag": "db", "author": "bob", "favoritedBy": "carol"}, []string{a4}},
		{"all three, no match", map[string]any{"tag": "go", "author": "bob", "favoritedBy": "bob"}, nil},
		{"conditions that exclude each other", map[string]any{"tag": "rust", "author": "bob"}, nil},
		{"user with no favorites", map[string]any{"favoritedBy": "alice"}, nil},
		{"unknown tag", map[string]any{"tag": "cobol"}, nil},
		{"unknown author", map[string]any{"author": "nobody"}, nil},
		{"unknown favoriter", map[string]any{"favoritedBy": "nobody"}, nil},
		{"unknown tag with known author", map[string]any{"tag": "cobol", "author": "alice"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := listArticles(t, e, map[string]any{"filter": tc.filter})
			got := p.keys(t)
			if !slices.Equal(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
				t.Fatalf("articles = %v, want %v", got, tc.want)
			}
			if p.TotalCount != len(tc.want) {
				t.Fatalf("totalCount = %d, want %d", p.TotalCount, len(tc.want))
			}
			if p.PageInfo.HasNextPage {
				t.Fatal("hasNextPage on the only page")
			}
		})
	}

	t.Run("totalCount counts the whole filtered list, not the page", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, map[string]any{"first": 1, "filter": map[string]any{"tag": "go"}})
		if got := p.keys(t); !slices.Equal(got, []string{a5}) || p.TotalCount != 3 || !p.PageInfo.HasNextPage {
			t.Fatalf("page = %v, totalCount = %d, hasNextPage = %v", got, p.TotalCount, p.PageInfo.HasNextPage)
		}
	})
	t.Run("filtered pages walk", func(t *testing.T) {
		t.Parallel()
		pages := listWalkForward(t, func(after *string) listConn {
			return listArticles(t, e, map[string]any{"first": 1, "after": after, "filter": map[string]any{"author": "ALICE"}})
		}, nil)
		if got := listKeys(t, pages); !slices.Equal(got, []string{a5, a3, a1}) {
			t.Fatalf("walk = %v", got)
		}
	})
}

var listFeedQuery = `query($first: Int, $after: String, $last: Int, $before: String) {
	feed(first: $first, after: $after, last: $last, before: $before) { ` + listFields("slug") + ` } }`

func listFeed(t testing.TB, e *apptest.Env, u *apptest.User, vars map[string]any) listConn {
	t.Helper()
	var out struct{ Feed listConn }
	e.MustQuery(t, u.Token, listFeedQuery, vars, &out)
	return out.Feed
}

func TestListFeed(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	viewer, bob, carol, dave := e.SignUp(t, "viewer"), e.SignUp(t, "bob"), e.SignUp(t, "carol"), e.SignUp(t, "dave")
	lonely := e.SignUp(t, "lonely")
	e.Follow(t, viewer, "bob")
	e.Follow(t, viewer, "carol")
	e.Follow(t, dave, "viewer")
	var byBob, byCarol []string // newest first
	for i := range 4 {
		byBob = slices.Insert(byBob, 0, e.CreateArticle(t, bob, fmt.Sprintf("Bob %d", i)).Slug)
		e.CreateArticle(t, dave, fmt.Sprintf("Dave %d", i))
		byCarol = slices.Insert(byCarol, 0, e.CreateArticle(t, carol, fmt.Sprintf("Carol %d", i)).Slug)
		e.CreateArticle(t, viewer, fmt.Sprintf("Own %d", i))
	}
	var both []string // newest first: carol i after bob i
	for i := range 4 {
		both = append(both, byCarol[i], byBob[i])
	}

	t.Run("anonymous", func(t *testing.T) {
		t.Parallel()
		listErrCode(t, e.Query(t, "", listFeedQuery, nil), "UNAUTHENTICATED", "")
	})
	t.Run("followed authors only, newest first", func(t *testing.T) {
		t.Parallel()
		p := listFeed(t, e, viewer, nil)
		if got := p.keys(t); !slices.Equal(got, both) || p.TotalCount != 8 {
			t.Fatalf("feed = %v (total %d), want %v", got, p.TotalCount, both)
		}
	})
	t.Run("pages", func(t *testing.T) {
		t.Parallel()
		pages := listWalkForward(t, func(after *string) listConn {
			return listFeed(t, e, viewer, map[string]any{"first": 3, "after": after})
		}, nil)
		if got := listKeys(t, pages); len(pages) != 3 || !slices.Equal(got, both) {
			t.Fatalf("walk in %d pages = %v, want %v", len(pages), got, both)
		}
		p := listFeed(t, e, viewer, map[string]any{"last": 3})
		if got := p.keys(t); !slices.Equal(got, both[5:]) || !p.PageInfo.HasPreviousPage {
			t.Fatalf("last 3 = %v (hasPreviousPage %v), want %v", got, p.PageInfo.HasPreviousPage, both[5:])
		}
	})
	t.Run("follows no one", func(t *testing.T) {
		t.Parallel()
		p := listFeed(t, e, lonely, nil)
		if got := p.keys(t); len(got) != 0 || p.TotalCount != 0 || p.PageInfo.HasNextPage {
			t.Fatalf("feed = %v (total %d)", got, p.TotalCount)
		}
	})
	t.Run("follows back someone", func(t *testing.T) {
		t.Parallel()
		// dave follows viewer: viewer's own articles, and not dave's.
		p := listFeed(t, e, dave, nil)
		got := p.keys(t)
		if len(got) != 4 || p.TotalCount != 4 {
			t.Fatalf("feed = %v (total %d), want viewer's 4", got, p.TotalCount)
		}
		for _, s := range got {
			if !strings.HasPrefix(s, "own-") {
				t.Fatalf("feed has %q, not by viewer", s)
			}
		}
	})
}

func TestListFeedUnfollow(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	viewer, bob, carol := e.SignUp(t, "viewer"), e.SignUp(t, "bob"), e.SignUp(t, "carol")
	e.Follow(t, viewer, "bob")
	e.Follow(t, viewer, "carol")
	b1 := e.CreateArticle(t, bob, "Bob one").Slug
	c1 := e.CreateArticle(t, carol, "Carol one").Slug
	b2 := e.CreateArticle(t, bob, "Bob two").Slug
	if got := listFeed(t, e, viewer, nil).keys(t); !slices.Equal(got, []string{b2, c1, b1}) {
		t.Fatalf("feed = %v", got)
	}
	var out map[string]any
	e.MustQuery(t, viewer.Token, `mutation { unfollowUser(input: {username: "bob"}) { user { username } } }`, nil, &out)
	p := listFeed(t, e, viewer, nil)
	if got := p.keys(t); !slices.Equal(got, []string{c1}) || p.TotalCount != 1 {
		t.Fatalf("feed after unfollowing bob = %v (total %d), want [%s]", got, p.TotalCount, c1)
	}
	e.Follow(t, viewer, "bob")
	if got := listFeed(t, e, viewer, nil).keys(t); !slices.Equal(got, []string{b2, c1, b1}) {
		t.Fatalf("feed after following bob again = %v", got)
	}
}

func TestListPaginationWalkForward(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	all := listCreate(t, e, e.SignUp(t, "alice"), "Walk", 10)
	pages := listWalkForward(t, func(after *string) listConn {
		return listArticles(t, e, map[string]any{"first": 3, "after": after})
	}, nil)
	if got := listKeys(t, pages); !slices.Equal(got, all) {
		t.Fatalf("walk = %v, want %v", got, all)
	}
	if len(pages) != 4 {
		t.Fatalf("%d pages, want 4", len(pages))
	}
	for i, p := range pages {
		if n := len(p.Edges); (i < 3 && n != 3) || (i == 3 && n != 1) {
			t.Errorf("page %d has %d articles", i, n)
		}
		if p.TotalCount != 10 {
			t.Errorf("page %d: totalCount = %d, want 10", i, p.TotalCount)
		}
	}
}

func TestListPaginationWalkBackward(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	all := listCreate(t, e, e.SignUp(t, "alice"), "Back", 10)
	var got []string
	var before *string
	for pages := 0; ; pages++ {
		p := listArticles(t, e, map[string]any{"last": 3, "before": before})
		keys := p.keys(t)
		// Each page is in list order (newest first), taken from the end of what is left.
		end := len(all) - len(got)
		if start := max(end-3, 0); !slices.Equal(keys, all[start:end]) {
			t.Fatalf("page %d = %v, want %v", pages, keys, all[start:end])
		}
		got = append(keys, got...)
		if !p.PageInfo.HasPreviousPage {
			break
		}
		if pages > 10 {
			t.Fatal("the walk does not end")
		}
		before = p.PageInfo.StartCursor
	}
	if !slices.Equal(got, all) {
		t.Fatalf("backward walk = %v, want %v", got, all)
	}
}

func TestListPaginationNewArticlesWhileWalking(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	all := listCreate(t, e, alice, "Old", 9)
	var added []string

	t.Run("forward", func(t *testing.T) {
		pages := listWalkForward(t, func(after *string) listConn {
			return listArticles(t, e, map[string]any{"first": 3, "after": after})
		}, func(page int) {
			for i := range page {
				added = append(added, e.CreateArticle(t, alice, fmt.Sprintf("New %d %d", page, i)).Slug)
			}
		})
		if got := listKeys(t, pages); !slices.Equal(got, all) {
			t.Fatalf("walk with inserts = %v, want the original %v", got, all)
		}
	})
	if len(added) != 3 {
		t.Fatalf("added %d articles, want 3", len(added))
	}

	t.Run("backward", func(t *testing.T) {
		// Paging backward from the oldest end, new articles can show up only on the last
		// (newest) page, before all of the original ones.
		var got []string
		var before *string
		for pages := 0; ; pages++ {
			p := listArticles(t, e, map[string]any{"last": 4, "before": before})
			got = append(p.keys(t), got...)
			if !p.PageInfo.HasPreviousPage {
				break
			}
			if pages > 10 {
				t.Fatal("the walk does not end")
			}
			e.CreateArticle(t, alice, fmt.Sprintf("Newer %d", pages))
			before = p.PageInfo.StartCursor
		}
		i := slices.Index(got, all[0])
		if i < 0 || !slices.Equal(got[i:], all) {
			t.Fatalf("backward walk = %v, want it to end with %v", got, all)
		}
		for _, s := range got[:i] {
			if !strings.HasPrefix(s, "new") {
				t.Fatalf("backward walk has %q before the originals: %v", s, got)
			}
		}
	})

	t.Run("a new walk sees every article once", func(t *testing.T) {
		p := listArticles(t, e, map[string]any{"first": 100})
		got := p.keys(t)
		if len(got) != p.TotalCount || p.TotalCount < 12 || !slices.Equal(got[len(got)-9:], all) {
			t.Fatalf("articles = %v (total %d)", got, p.TotalCount)
		}
		seen := map[string]bool{}
		for _, s := range got {
			if seen[s] {
				t.Fatalf("%q twice in %v", s, got)
			}
			seen[s] = true
		}
	})
}

func TestListPaginationArguments(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	all := listCreate(t, e, alice, "Arg", 23)

	t.Run("default is 20", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, nil)
		if got := p.keys(t); !slices.Equal(got, all[:20]) || !p.PageInfo.HasNextPage || p.TotalCount != 23 {
			t.Fatalf("default page = %d articles, hasNextPage %v, total %d", len(got), p.PageInfo.HasNextPage, p.TotalCount)
		}
	})
	t.Run("first 100 is allowed", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, map[string]any{"first": 100})
		if got := p.keys(t); !slices.Equal(got, all) || p.PageInfo.HasNextPage {
			t.Fatalf("first 100 = %d articles, hasNextPage %v", len(got), p.PageInfo.HasNextPage)
		}
	})
	t.Run("last 100 is allowed", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, map[string]any{"last": 100})
		if got := p.keys(t); !slices.Equal(got, all) || p.PageInfo.HasPreviousPage {
			t.Fatalf("last 100 = %d articles, hasPreviousPage %v", len(got), p.PageInfo.HasPreviousPage)
		}
	})
	t.Run("first 0 is an empty page", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, map[string]any{"first": 0})
		if got := p.keys(t); len(got) != 0 || len(p.Nodes) != 0 {
			t.Fatalf("first 0 = %v", got)
		}
		if !p.PageInfo.HasNextPage || p.TotalCount != 23 {
			t.Fatalf("first 0: hasNextPage = %v, totalCount = %d; want true, 23", p.PageInfo.HasNextPage, p.TotalCount)
		}
	})
	t.Run("last 0 is an empty page", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, map[string]any{"last": 0})
		if got := p.keys(t); len(got) != 0 {
			t.Fatalf("last 0 = %v", got)
		}
	})
	t.Run("after and before together", func(t *testing.T) {
		t.Parallel()
		whole := listArticles(t, e, map[string]any{"first": 10})
		p := listArticles(t, e, map[string]any{"first": 10, "after": whole.Edges[1].Cursor, "before": whole.Edges[6].Cursor})
		if got := p.keys(t); !slices.Equal(got, all[2:6]) || p.PageInfo.HasNextPage {
			t.Fatalf("between 2nd and 7th = %v, want %v", got, all[2:6])
		}
		p = listArticles(t, e, map[string]any{"last": 2, "after": whole.Edges[1].Cursor, "before": whole.Edges[6].Cursor})
		if got := p.keys(t); !slices.Equal(got, all[4:6]) || !p.PageInfo.HasPreviousPage {
			t.Fatalf("last 2 between 2nd and 7th = %v, want %v", got, all[4:6])
		}
	})
	t.Run("cursor of the last article", func(t *testing.T) {
		t.Parallel()
		p := listArticles(t, e, map[string]any{"last": 1})
		rest := listArticles(t, e, map[string]any{"after": p.Edges[0].Cursor})
		if got := rest.keys(t); len(got) != 0 || rest.PageInfo.HasNextPage {
			t.Fatalf("after the last article = %v", got)
		}
	})

	for _, tc := range []struct {
		name  string
		vars  map[string]any
		field string
	}{
		{"first 101", map[string]any{"first": 101}, "first"},
		{"first -1", map[string]any{"first": -1}, "first"},
		{"last 101", map[string]any{"last": 101}, "last"},
		{"last -1", map[string]any{"last": -1}, "last"},
		{"garbage after", map[string]any{"after": "not-a-cursor"}, "after"},
		{"garbage before", map[string]any{"last": 2, "before": "bm90LWEtY3Vyc29y"}, "before"},
		{"global id as cursor", map[string]any{"after": "QXJ0aWNsZTox"}, "after"},
		{"first and last", map[string]any{"first": 2, "last": 2}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			listErrCode(t, e.Query(t, "", listArticlesQuery, tc.vars), "BAD_USER_INPUT", tc.field)
		})
	}
}

func TestListPaginationDeletedCursor(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	all := listCreate(t, e, alice, "Gone", 6)
	p := listArticles(t, e, map[string]any{"first": 3})
	var out map[string]any
	e.MustQuery(t, alice.Token, `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`,
		map[string]any{"s": all[2]}, &out)
	// The cursor names a position, so it still works once its article is gone.
	rest := listArticles(t, e, map[string]any{"first": 3, "after": p.PageInfo.EndCursor})
	if got := rest.keys(t); !slices.Equal(got, all[3:]) {
		t.Fatalf("after a deleted article = %v, want %v", got, all[3:])
	}
}

var listCommentsQuery = `query($slug: String!, $first: Int, $after: String, $last: Int, $before: String) {
	article(slug: $slug) { comments(first: $first, after: $after, last: $last, before: $before) { ` +
	listFields("body author { username }") + ` } } }`

func listComments(t testing.TB, e *apptest.Env, vars map[string]any) listConn {
	t.Helper()
	var out struct{ Article struct{ Comments listConn } }
	e.MustQuery(t, "", listCommentsQuery, vars, &out)
	return out.Article.Comments
}

func TestListComments(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob, carol := e.SignUp(t, "alice"), e.SignUp(t, "bob"), e.SignUp(t, "carol")
	art := e.CreateArticle(t, alice, "Talk")
	other := e.CreateArticle(t, alice, "Elsewhere")
	var all []string // oldest first
	for i := range 7 {
		u := bob
		if i%2 == 1 {
			u = carol
		}
		body := fmt.Sprintf("comment %d", i)
		e.AddComment(t, u, art.Slug, body)
		e.AddComment(t, u, other.Slug, "other "+body)
		all = append(all, body)
	}

	t.Run("oldest first with authors", func(t *testing.T) {
		t.Parallel()
		var out struct {
			Article struct {
				Comments struct {
					Nodes []struct {
						Body   string
						Author struct{ Username string }
					}
					TotalCount int
				}
			}
		}
		e.MustQuery(t, "", `query($s: String!) { article(slug: $s) { comments { nodes { body author { username } } totalCount } } }`,
			map[string]any{"s": art.Slug}, &out)
		cs := out.Article.Comments
		if len(cs.Nodes) != 7 || cs.TotalCount != 7 {
			t.Fatalf("%d comments, total %d; want 7", len(cs.Nodes), cs.TotalCount)
		}
		for i, c := range cs.Nodes {
			want := "bob"
			if i%2 == 1 {
				want = "carol"
			}
			if c.Body != all[i] || c.Author.Username != want {
				t.Fatalf("comment %d = %q by %s, want %q by %s", i, c.Body, c.Author.Username, all[i], want)
			}
		}
	})
	t.Run("forward pages", func(t *testing.T) {
		t.Parallel()
		pages := listWalkForward(t, func(after *string) listConn {
			return listComments(t, e, map[string]any{"slug": art.Slug, "first": 3, "after": after})
		}, nil)
		if got := listKeys(t, pages); len(pages) != 3 || !slices.Equal(got, all) {
			t.Fatalf("walk in %d pages = %v, want %v", len(pages), got, all)
		}
		for i, p := range pages {
			if p.TotalCount != 7 {
				t.Fatalf("page %d: totalCount = %d, want 7", i, p.TotalCount)
			}
		}
	})
	t.Run("backward pages", func(t *testing.T) {
		t.Parallel()
		var got []string
		var before *string
		for pages := 0; ; pages++ {
			p := listComments(t, e, map[string]any{"slug": art.Slug, "last": 3, "before": before})
			keys := p.keys(t)
			end := len(all) - len(got)
			if start := max(end-3, 0); !slices.Equal(keys, all[start:end]) {
				t.Fatalf("page %d = %v, want %v", pages, keys, all[start:end])
			}
			got = append(keys, got...)
			if !p.PageInfo.HasPreviousPage {
				break
			}
			if pages > 10 {
				t.Fatal("the walk does not end")
			}
			before = p.PageInfo.StartCursor
		}
		if !slices.Equal(got, all) {
			t.Fatalf("backward walk = %v, want %v", got, all)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		for _, vars := range []map[string]any{
			{"slug": art.Slug, "first": 101},
			{"slug": art.Slug, "last": -1},
			{"slug": art.Slug, "after": "nope"},
		} {
			if r := e.Query(t, "", listCommentsQuery, vars); r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("%v: code = %q, want BAD_USER_INPUT: %s", vars, r.Code(), r.Body)
			}
		}
	})
	t.Run("no comments", func(t *testing.T) {
		t.Parallel()
		bare := e.CreateArticle(t, bob, "Quiet")
		p := listComments(t, e, map[string]any{"slug": bare.Slug})
		if got := p.keys(t); len(got) != 0 || p.TotalCount != 0 || p.PageInfo.HasNextPage {
			t.Fatalf("comments = %v, total %d", got, p.TotalCount)
		}
	})
}

func TestListCommentsUnderArticles(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob := e.SignUp(t, "alice"), e.SignUp(t, "bob")
	counts := []int{0, 2, 5, 3, 1}
	slugs := make([]string, len(counts))
	for i := range counts {
		slugs[i] = e.CreateArticle(t, alice, fmt.Sprintf("Many %d", i)).Slug
	}
	// Interleaved, so that comment ids and times do not follow article order.
	want := map[string][]string{}
	for round := range 5 {
		for i := len(counts) - 1; i >= 0; i-- {
			if round < counts[i] {
				body := fmt.Sprintf("%s says %d", slugs[i], round)
				e.AddComment(t, bob, slugs[i], body)
				want[slugs[i]] = append(want[slugs[i]], body)
			}
		}
	}
	var out struct {
		Articles struct {
			Nodes []struct {
				Slug   string
				First  listConn
				Last   listConn
				Second listConn
			}
		}
	}
	e.MustQuery(t, "", `{ articles(filter: {author: "alice"}) { nodes { slug
		first: comments(first: 3) { `+listFields("body")+` }
		last: comments(last: 2) { `+listFields("body")+` }
		second: comments { `+listFields("body")+` } } } }`, nil, &out)
	if len(out.Articles.Nodes) != len(counts) {
		t.Fatalf("%d articles, want %d", len(out.Articles.Nodes), len(counts))
	}
	for _, a := range out.Articles.Nodes {
		all := want[a.Slug]
		n := len(all)
		if got := a.First.keys(t); !slices.Equal(got, all[:min(3, n)]) {
			t.Errorf("%s first 3 = %v, want %v", a.Slug, got, all[:min(3, n)])
		}
		if a.First.TotalCount != n || a.First.PageInfo.HasNextPage != (n > 3) {
			t.Errorf("%s first 3: total %d, hasNextPage %v; want %d, %v", a.Slug, a.First.TotalCount, a.First.PageInfo.HasNextPage, n, n > 3)
		}
		if got := a.Last.keys(t); !slices.Equal(got, all[max(0, n-2):]) {
			t.Errorf("%s last 2 = %v, want %v", a.Slug, got, all[max(0, n-2):])
		}
		if a.Last.PageInfo.HasPreviousPage != (n > 2) {
			t.Errorf("%s last 2: hasPreviousPage = %v, want %v", a.Slug, a.Last.PageInfo.HasPreviousPage, n > 2)
		}
		if got := a.Second.keys(t); !slices.Equal(got, all) || a.Second.TotalCount != n {
			t.Errorf("%s all comments = %v (total %d), want %v", a.Slug, got, a.Second.TotalCount, all)
		}
	}
}

var listUserQuery = `query($u: String!, $first: Int, $after: String) { user(username: $u) {
	articles(first: $first, after: $after) { ` + listFields("slug") + ` }
	favoriteArticles(first: $first, after: $after) { ` + listFields("slug") + ` }
	followers(first: $first, after: $after) { ` + listFields("username") + ` }
	following(first: $first, after: $after) { ` + listFields("username") + ` } } }`

type listUserConns struct {
	Articles, FavoriteArticles, Followers, Following listConn
}

func TestListUserConnections(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice, bob := e.SignUp(t, "alice"), e.SignUp(t, "bob")
	carol, dave, erin := e.SignUp(t, "carol"), e.SignUp(t, "dave"), e.SignUp(t, "erin")
	e.SignUp(t, "fay")
	var aliceArts, bobArts []string // newest first
	for i := range 5 {
		aliceArts = slices.Insert(aliceArts, 0, e.CreateArticle(t, alice, fmt.Sprintf("Alice %d", i)).Slug)
		bobArts = slices.Insert(bobArts, 0, e.CreateArticle(t, bob, fmt.Sprintf("Bob %d", i)).Slug)
	}
	// Favorited out of order: the list is newest article first, not newest favorite.
	for _, s := range []string{bobArts[4], aliceArts[0], bobArts[1], bobArts[3], aliceArts[2]} {
		e.Favorite(t, alice, s)
	}
	favs := []string{aliceArts[0], bobArts[1], aliceArts[2], bobArts[3], bobArts[4]}
	e.Favorite(t, bob, aliceArts[1])
	for _, u := range []*apptest.User{bob, carol, dave} {
		e.Follow(t, u, "alice")
	}
	for _, name := range []string{"bob", "carol", "dave", "erin"} {
		e.Follow(t, alice, name)
	}
	e.Follow(t, erin, "bob")

	walk := func(t *testing.T, pick func(listUserConns) listConn) ([]string, []listConn) {
		pages := listWalkForward(t, func(after *string) listConn {
			var out struct{ User listUserConns }
			e.MustQuery(t, "", listUserQuery, map[string]any{"u": "alice", "first": 2, "after": after}, &out)
			return pick(out.User)
		}, nil)
		return listKeys(t, pages), pages
	}
	for _, tc := range []struct {
		name string
		pick func(listUserConns) listConn
		want []string
	}{
		{"articles newest first", func(c listUserConns) listConn { return c.Articles }, aliceArts},
		{"favorite articles newest article first", func(c listUserConns) listConn { return c.FavoriteArticles }, favs},
		{"followers most recent follow first", func(c listUserConns) listConn { return c.Followers }, []string{"dave", "carol", "bob"}},
		{"following most recent follow first", func(c listUserConns) listConn { return c.Following }, []string{"erin", "dave", "carol", "bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, pages := walk(t, tc.pick)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("walk = %v, want %v", got, tc.want)
			}
			if want := (len(tc.want) + 1) / 2; len(pages) != want {
				t.Fatalf("%d pages, want %d", len(pages), want)
			}
			for i, p := range pages {
				if p.TotalCount != len(tc.want) {
					t.Fatalf("page %d: totalCount = %d, want %d", i, p.TotalCount, len(tc.want))
				}
			}
		})
	}
	t.Run("another user's lists", func(t *testing.T) {
		t.Parallel()
		var out struct{ User listUserConns }
		e.MustQuery(t, "", listUserQuery, map[string]any{"u": "BOB"}, &out)
		u := out.User
		if got := u.Articles.keys(t); !slices.Equal(got, bobArts) || u.Articles.TotalCount != 5 {
			t.Errorf("bob's articles = %v", got)
		}
		if got := u.FavoriteArticles.keys(t); !slices.Equal(got, aliceArts[1:2]) || u.FavoriteArticles.TotalCount != 1 {
			t.Errorf("bob's favorites = %v", got)
		}
		if got := u.Followers.keys(t); !slices.Equal(got, []string{"erin", "alice"}) || u.Followers.TotalCount != 2 {
			t.Errorf("bob's followers = %v", got)
		}
		if got := u.Following.keys(t); !slices.Equal(got, []string{"alice"}) || u.Following.TotalCount != 1 {
			t.Errorf("bob follows %v", got)
		}
	})
	t.Run("empty lists", func(t *testing.T) {
		t.Parallel()
		var out struct{ User listUserConns }
		e.MustQuery(t, "", listUserQuery, map[string]any{"u": "fay"}, &out)
		u := out.User
		for name, c := range map[string]listConn{
			"articles": u.Articles, "favoriteArticles": u.FavoriteArticles, "followers": u.Followers, "following": u.Following,
		} {
			if got := c.keys(t); len(got) != 0 || c.TotalCount != 0 || c.PageInfo.HasNextPage {
				t.Errorf("fay's %s = %v (total %d)", name, got, c.TotalCount)
			}
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		for _, vars := range []map[string]any{
			{"u": "alice", "first": 101},
			{"u": "alice", "first": -1},
			{"u": "alice", "after": "nope"},
		} {
			if r := e.Query(t, "", listUserQuery, vars); r.Code() != "BAD_USER_INPUT" {
				t.Fatalf("%v: code = %q, want BAD_USER_INPUT: %s", vars, r.Code(), r.Body)
			}
		}
	})
}
