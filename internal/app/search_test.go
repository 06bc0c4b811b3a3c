package app_test

import (
	"slices"
	"strings"
	"testing"

	"inkwell/internal/apptest"
)

const srSearch = `query($q: String!, $type: SearchType, $n: Int, $after: String) {
	search(query: $q, type: $type, first: $n, after: $after) {
		totalCount pageInfo { hasNextPage endCursor }
		edges { cursor rank highlight node {
			__typename
			... on Article { slug title author { username } }
			... on User { username }
			... on Tag { name articlesCount } } } } }`

type srEdge struct {
	Cursor, Highlight string
	Rank              float64
	Node              struct {
		Typename      string `json:"__typename"`
		Slug, Title   string
		Username      string
		Name          string
		ArticlesCount int
		Author        struct{ Username string }
	}
}

type srConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
	Edges []srEdge
}

func search(t *testing.T, e *apptest.Env, token string, vars map[string]any) (*apptest.Response, srConn) {
	t.Helper()
	r := e.Query(t, token, srSearch, vars)
	var out struct{ Search srConn }
	if len(r.Errors) == 0 {
		r.Decode(t, &out)
	}
	return r, out.Search
}

// titles are the titles (or usernames, or tag names) a search found, in order.
func titles(c srConn) []string {
	var out []string
	for _, e := range c.Edges {
		out = append(out, e.Node.Title+e.Node.Username+e.Node.Name)
	}
	return out
}

func TestSearch(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bobby")
	art := func(u *apptest.User, title, description, body string, tags []string, publish bool) {
		t.Helper()
		in := map[string]any{"title": title, "description": description, "body": body, "tags": tags, "publish": publish}
		var out map[string]any
		e.MustQuery(t, u.Token, dCreate, map[string]any{"in": in}, &out)
	}
	art(ada, "Running with scissors", "A cautionary tale", "Never do it.", []string{"safety"}, true)
	art(ada, "Café culture", "Coffee in Vienna", "Melange <script>alert(1)</script> and cake.", []string{"travel"}, true)
	art(bob, "A quiet afternoon", "Nothing happens", "Then someone went running, briefly.", nil, true)
	art(bob, "Tags only", "x", "y", []string{"running"}, true)
	art(ada, "Running in secret", "A draft", "Unpublished running.", nil, false)
	art(bob, "The Who", "A band", "They played loud.", nil, true)

	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		// Title (A) over tags and description (B) over body (C); the draft never.
		{"stemmed, weighted", "run", []string{"Running with scissors", "Tags only", "A quiet afternoon"}},
		{"accents ignored", "cafe", []string{"Café culture"}},
		{"all words must match", "running scissors", []string{"Running with scissors"}},
		{"a phrase", `"quiet afternoon"`, []string{"A quiet afternoon"}},
		{"a phrase in the wrong order", `"afternoon quiet"`, nil},
		{"or", "scissors or vienna", []string{"Running with scissors", "Café culture"}},
		{"excluded word", "running -scissors", []string{"Tags only", "A quiet afternoon"}},
		{"stop words only fall back to words as written", "the who", []string{"The Who"}},
		{"not query syntax, still no error", `"( & | ! :* running`, []string{"Running with scissors", "Tags only", "A quiet afternoon"}},
		{"no match", "zeppelin", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, got := search(t, e, bob.Token, map[string]any{"q": tc.query})
			if len(r.Errors) > 0 {
				t.Fatalf("%s", r.Body)
			}
			if !slices.Equal(titles(got), tc.want) || got.TotalCount != len(tc.want) {
				t.Errorf("search %q = %q (totalCount %d), want %q", tc.query, titles(got), got.TotalCount, tc.want)
			}
		})
	}

	// An edit is searchable at once; a favorite (which updates the row) changes nothing.
	var slug struct{ Search srConn }
	e.MustQuery(t, "", srSearch, map[string]any{"q": "scissors"}, &slug)
	s := slug.Search.Edges[0].Node.Slug
	e.Favorite(t, bob, s)
	var out map[string]any
	e.MustQuery(t, ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, title: "Walking with scissors"}) { article { slug } } }`,
		map[string]any{"s": s}, &out)
	if _, got := search(t, e, "", map[string]any{"q": "walk scissors"}); !slices.Equal(titles(got), []string{"Walking with scissors"}) {
		t.Errorf("after the edit: %q", titles(got))
	}
	if _, got := search(t, e, "", map[string]any{"q": "running scissors"}); len(got.Edges) != 0 {
		t.Errorf("the old title still matches: %q", titles(got))
	}

	_, got := search(t, e, "", map[string]any{"q": "melange cake"})
	if len(got.Edges) != 1 {
		t.Fatalf("melange: %+v", got)
	}
	hl := got.Edges[0].Highlight
	if !strings.Contains(hl, "<mark>Melange</mark>") || !strings.Contains(hl, "<mark>cake</mark>") ||
		strings.Contains(hl, "<script>") || !strings.Contains(hl, "&lt;script&gt;") {
		t.Errorf("highlight %q: want the matches marked and the rest escaped", hl)
	}

	_, users := search(t, e, "", map[string]any{"q": "bobby", "type": "USERS"})
	if !slices.Equal(titles(users), []string{"bobby"}) || users.Edges[0].Node.Typename != "User" {
		t.Errorf("users: %+v", users)
	}
	_, tags := search(t, e, "", map[string]any{"q": "travel", "type": "TAGS"})
	if !slices.Equal(titles(tags), []string{"travel"}) || tags.Edges[0].Node.ArticlesCount != 1 ||
		!strings.Contains(tags.Edges[0].Highlight, "<mark>travel</mark>") {
		t.Errorf("tags: %+v", tags)
	}

	for _, tc := range []struct {
		name  string
		vars  map[string]any
		field string
	}{
		{"an empty query", map[string]any{"q": "   "}, "query"},
		{"a query over 500 characters", map[string]any{"q": strings.Repeat("a", 501)}, "query"},
		{"a cursor of something else", map[string]any{"q": "run", "after": "bm90IGEgY3Vyc29y"}, "after"},
		{"too large a page", map[string]any{"q": "run", "n": 101}, "first"},
	} {
		if r, _ := search(t, e, "", tc.vars); r.Code() != "BAD_USER_INPUT" || len(r.Errors[0].Extensions.Fields[tc.field]) == 0 {
			t.Errorf("%s: %s", tc.name, r.Body)
		}
	}
}

// Paging through 1,000 matches 20 at a time gives each once, in the order of pages of
// 100, which is the order the ranks and the recency tie-break say; many ranks and
// publication times tie, so the id has to break ties too.
func TestSearchPaging(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	e.SignUp(t, "ada")
	if _, err := e.DB.Exec(`INSERT INTO articles (slug, title, description, body, author_id, status, published_at, created_at, updated_at)
		SELECT 'paged-' || n, 'Paged ' || n, 'about zebras', repeat('zebra ', n % 7 + 1) || 'plains',
		       (SELECT id FROM users WHERE username = 'ada'), 'published',
		       timestamptz '2026-01-01' + (n % 40) * interval '1 hour', now(), now()
		  FROM generate_series(1, 1000) n`); err != nil {
		t.Fatal(err)
	}
	walk := func(size int) []string {
		t.Helper()
		var out []string
		var after any
		for range 1000/size + 2 {
			r, page := search(t, e, "", map[string]any{"q": "zebra", "n": size, "after": after})
			if len(r.Errors) > 0 {
				t.Fatalf("%s", r.Body)
			}
			for _, e := range page.Edges {
				out = append(out, e.Node.Slug)
			}
			if !page.PageInfo.HasNextPage {
				if page.TotalCount != 1000 {
					t.Errorf("totalCount %d, want 1000", page.TotalCount)
				}
				return out
			}
			after = *page.PageInfo.EndCursor
		}
		t.Fatalf("pages of %d never ended", size)
		return nil
	}
	small, large := walk(20), walk(100)
	seen := map[string]bool{}
	for _, s := range small {
		if seen[s] {
			t.Fatalf("%s came twice", s)
		}
		seen[s] = true
	}
	if len(small) != 1000 || !slices.Equal(small, large) {
		t.Fatalf("pages of 20 gave %d results, pages of 100 %d; same order: %v", len(small), len(large), slices.Equal(small, large))
	}
	var want []string
	rows, err := e.DB.Query(`SELECT slug FROM articles, inkwell_tsquery('zebra') q WHERE search_vector @@ q
		ORDER BY ts_rank_cd(search_vector, q) DESC, published_at DESC, id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(small, want) {
		t.Errorf("paged order differs from one ordered statement; first: %v vs %v", small[:5], want[:5])
	}
}
