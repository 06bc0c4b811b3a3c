package app_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

// cached starts a server with the entity cache on and waits until it listens for
// changes, which is when the cache starts serving.
func cached(t *testing.T) *apptest.Env {
	t.Helper()
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.EntityCacheMB = 8 }))
	waitListening(t, e)
	return e
}

// eachCache runs test twice in parallel: on a server with both caches off, and on one
// with them on, where a write must still show in every read after it.
func eachCache(t *testing.T, test func(t *testing.T, e *apptest.Env)) {
	t.Helper()
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "caches off", true: "caches on"}[on], func(t *testing.T) {
			t.Parallel()
			if on {
				test(t, cached(t))
			} else {
				test(t, apptest.New(t))
			}
		})
	}
}

func waitListening(t testing.TB, e *apptest.Env) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !e.App.Entities.On(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the entity cache did not start within 30s")
		}
	}
}

// waitApplied waits until e's cache has applied more than n change sets.
func waitApplied(t *testing.T, e *apptest.Env, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); e.App.Entities.Stats().Applied <= n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no change applied within 30s (still %d)", n)
		}
	}
}

const cachedPage = `query($slug: String!) { article(slug: $slug) { slug title body favoritesCount
	author { username bio image followersCount } tags { name }
	comments(first: 20) { totalCount nodes { body author { username bio } } } } }`

type cachedArticle struct {
	Article *struct {
		Slug, Title, Body string
		FavoritesCount    int
		Author            struct {
			Username, Bio  string
			Image          *string
			FollowersCount int
		}
		Tags     []struct{ Name string }
		Comments struct {
			TotalCount int
			Nodes      []struct {
				Body   string
				Author struct{ Username, Bio string }
			}
		}
	}
}

func readPage(t *testing.T, e *apptest.Env, token, slug string) (cachedArticle, int64) {
	t.Helper()
	r := e.Query(t, token, cachedPage, map[string]any{"slug": slug})
	var out cachedArticle
	r.Decode(t, &out)
	return out, r.Statements
}

func TestEntityCacheAnswersRepeatedReadsWithoutSQL(t *testing.T) {
	t.Parallel()
	// The entity cache alone: a kept answer would cost no statement whatever it holds.
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.EntityCacheMB, c.ResponseCacheMB = 8, 0 }))
	waitListening(t, e)
	if e.App.Responses != nil {
		t.Fatal("the response cache is on")
	}
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Cached article", "go", "cache")
	e.AddComment(t, bob, art.Slug, "first")
	e.AddComment(t, ada, art.Slug, "second")

	first, n1 := readPage(t, e, "", art.Slug)
	second, n2 := readPage(t, e, "", art.Slug)
	t.Logf("article page: %d statements cold, %d warm", n1, n2)
	if n1 == 0 || n2 != 0 {
		t.Errorf("article page cost %d statements cold and %d warm; want some, then none", n1, n2)
	}
	if a, b := mustJSON(t, first), mustJSON(t, second); a != b {
		t.Errorf("warm read differs from the cold one:\n%s\n%s", a, b)
	}
	// A slug that names no article is null, cached or not.
	var none cachedArticle
	e.Query(t, "", cachedPage, map[string]any{"slug": "no-such-article"}).Decode(t, &none)
	if none.Article != nil {
		t.Error("an unknown slug answered an article")
	}
}

// Every write, answered, is read back by its own client from the same instance at once:
// the instance forgets what the write changed before it answers.
func TestEntityCacheReadsYourWrites(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Before", "go")
	for _, tc := range []struct {
		name  string
		write func()
		check func(cachedArticle) bool
	}{
		{"title and body", func() {
			e.MustQuery(t, ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, title: "After", body: "new body"}) { article { slug } } }`,
				map[string]any{"s": art.Slug}, &map[string]any{})
		}, func(a cachedArticle) bool { return a.Article.Title == "After" && a.Article.Body == "new body" }},
		{"tags", func() {
			e.MustQuery(t, ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, tags: ["rust"]}) { article { slug } } }`,
				map[string]any{"s": art.Slug}, &map[string]any{})
		}, func(a cachedArticle) bool { return len(a.Article.Tags) == 1 && a.Article.Tags[0].Name == "rust" }},
		{"a comment", func() { e.AddComment(t, bob, art.Slug, "hello") },
			func(a cachedArticle) bool {
				return a.Article.Comments.TotalCount == 1 && len(a.Article.Comments.Nodes) == 1
			}},
		{"a favorite", func() { e.Favorite(t, bob, art.Slug) },
			func(a cachedArticle) bool { return a.Article.FavoritesCount == 1 }},
		{"a follow", func() { e.Follow(t, bob, "ada") },
			func(a cachedArticle) bool { return a.Article.Author.FollowersCount == 1 }},
		{"the author's profile", func() {
			e.MustQuery(t, ada.Token, `mutation { updateViewer(input: {bio: "writes"}) { user { id } } }`, nil, &map[string]any{})
		}, func(a cachedArticle) bool { return a.Article.Author.Bio == "writes" }},
		{"the commenter's profile", func() {
			e.MustQuery(t, bob.Token, `mutation { updateViewer(input: {bio: "reads"}) { user { id } } }`, nil, &map[string]any{})
		}, func(a cachedArticle) bool { return a.Article.Comments.Nodes[0].Author.Bio == "reads" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			readPage(t, e, "", art.Slug) // fill the cache
			readPage(t, e, "", art.Slug)
			before := e.App.Entities.Stats().Applied
			tc.write()
			// Applied before the answer, not when this instance hears its own event.
			if e.App.Entities.Stats().Applied == before {
				t.Error("the write was answered before the cache forgot what it changed")
			}
			if got, _ := readPage(t, e, "", art.Slug); !tc.check(got) {
				t.Errorf("read right after the write: %s", mustJSON(t, got))
			}
		})
	}
	t.Run("a deleted article", func(t *testing.T) {
		readPage(t, e, "", art.Slug)
		e.MustQuery(t, ada.Token, `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`,
			map[string]any{"s": art.Slug}, &map[string]any{})
		if got, _ := readPage(t, e, "", art.Slug); got.Article != nil {
			t.Errorf("deleted article still read: %s", mustJSON(t, got))
		}
	})
}

// Two instances over one database, each with its own cache: a write through A reaches
// B's cache through the change event, after which B reads the new value. Readers on B
// run while A writes, so that fills racing with evictions are exercised (under -race).
func TestEntityCacheCoherentAcrossInstances(t *testing.T) {
	t.Parallel()
	a := cached(t)
	b := a.Peer(t)
	waitListening(t, b)
	ada := a.SignUp(t, "ada")
	art := a.CreateArticle(t, ada, "Shared", "go")
	// B applies each of A's change sets once, in commit order: the article's creation
	// is the first.
	applied := uint64(1)
	waitApplied(t, b, applied-1)
	if got, _ := readPage(t, b, "", art.Slug); got.Article == nil || got.Article.Title != "Shared" {
		t.Fatalf("B reads %s", mustJSON(t, got))
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got, _ := readPage(t, b, "", art.Slug); got.Article == nil {
					t.Error("B lost the article")
					return
				}
			}
		})
	}
	var lag []time.Duration
	for i := range 10 {
		title := fmt.Sprintf("Shared, edit %d", i)
		acked := time.Now()
		a.MustQuery(t, ada.Token, `mutation($s: String!, $t: String!) { updateArticle(input: {slug: $s, title: $t}) { article { slug } } }`,
			map[string]any{"s": art.Slug, "t": title}, &map[string]any{})
		applied++
		waitApplied(t, b, applied-1)
		lag = append(lag, time.Since(acked))
		if got, _ := readPage(t, b, "", art.Slug); got.Article.Title != title {
			t.Fatalf("after B applied edit %d it reads %q", i, got.Article.Title)
		}
	}
	close(stop)
	readers.Wait()
	// Reported, not asserted: how long after A's answer B had applied the change.
	t.Logf("B applied A's writes %v after A answered them", lag)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A list that shows no body reads articles without theirs (loader.ArticleHeadByID); one
// that does, through whatever fragment, shows them whole, and neither read leaves the
// other a wrong value in the caches, before or after a write.
func TestListsReadBodiesOnlyWhenShown(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada := e.SignUp(t, "ada")
		art := e.CreateArticle(t, ada, "Heads", "go")
		type node struct {
			Title, Body, BodyHTML string
			Toc                   []struct{ Title string }
		}
		list := func(selection string) node {
			t.Helper()
			var out struct{ Articles struct{ Nodes []node } }
			query := `query { articles(first: 5) { nodes { ` + selection + ` } } }`
			if strings.Contains(selection, "...F") {
				query += ` fragment F on SearchResult { ... on Article { body bodyHTML toc { title } } }`
			}
			e.MustQuery(t, "", query, nil, &out)
			if len(out.Articles.Nodes) != 1 {
				t.Fatalf("articles = %+v, want the one", out.Articles.Nodes)
			}
			return out.Articles.Nodes[0]
		}
		check := func(title, body string) {
			t.Helper()
			if got := list("title"); got.Title != title {
				t.Errorf("list of titles: %+v, want %q", got, title)
			}
			for _, sel := range []string{
				"title body bodyHTML toc { title }",
				"title ... on Node { ... on Article { body bodyHTML toc { title } } }",
				"title ...F",
			} {
				got := list(sel)
				if got.Title != title || got.Body != body || !strings.Contains(got.BodyHTML, title) || len(got.Toc) != 1 || got.Toc[0].Title != title {
					t.Errorf("list of %q: %+v, want title and body %q, %q", sel, got, title, body)
				}
			}
			for _, sel := range []string{"title", "title body bodyHTML toc { title }"} {
				var found struct{ Search struct{ Nodes []node } }
				e.MustQuery(t, "", `query($q: String!) { search(query: $q) { nodes { ... on Article { `+sel+` } } } }`,
					map[string]any{"q": title}, &found)
				want := node{Title: title}
				if sel != "title" {
					want = list(sel)
				}
				if n := found.Search.Nodes; len(n) != 1 || n[0].Title != want.Title || n[0].Body != want.Body || n[0].BodyHTML != want.BodyHTML || len(n[0].Toc) != len(want.Toc) {
					t.Errorf("search for %q showing %q: %+v, want %+v", title, sel, n, want)
				}
			}
			if got, _ := readPage(t, e, "", art.Slug); got.Article == nil || got.Article.Body != body {
				t.Errorf("article page after the lists: %s, want body %q", mustJSON(t, got), body)
			}
		}
		check("Heads", "# Heads\n\nText.")
		if !e.App.Entities.On() {
			// The look-ahead sees through fragments on the interfaces and unions an
			// Article belongs to: no article is read twice.
			direct := e.Query(t, "", `{ articles(first: 5) { nodes { title body } } }`, nil).Statements
			nested := e.Query(t, "", `{ articles(first: 5) { nodes { title ... on Node { ... on Article { body } } } } }`, nil).Statements
			if nested != direct {
				t.Errorf("body through fragments cost %d statements, directly %d", nested, direct)
			}
		}
		e.MustQuery(t, ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, title: "Bodies", body: "# Bodies\n\nMore."}) { article { slug } } }`,
			map[string]any{"s": art.Slug}, &map[string]any{})
		check("Bodies", "# Bodies\n\nMore.")
	})
}

// An article page seen for the first time reads the article, its tags and its first
// comments in one statement (loader.PreloadArticlePage), and shows exactly what the
// loaders' own reads show: the same tags, comments, cursors and page ends as the same
// article reached through a list, which reads them apart.
func TestArticlePageInOneStatement(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
		art := e.CreateArticle(t, ada, "Folded", "zeta", "alpha")
		first := e.AddComment(t, bob, art.Slug, "first")
		e.MustQuery(t, ada.Token, `mutation($in: AddCommentInput!) { addComment(input: $in) { comment { id } } }`,
			map[string]any{"in": map[string]any{"articleSlug": art.Slug, "body": "a reply", "parentId": first}}, &map[string]any{})
		e.AddComment(t, ada, art.Slug, "second")
		e.AddComment(t, bob, art.Slug, "third")

		const fields = `slug title body tags { name articlesCount }
			comments(first: 2) { pageInfo { hasNextPage endCursor } edges { cursor node { id body createdAt updatedAt repliesCount } } }`
		r := e.Query(t, "", `query($s: String!) { article(slug: $s) { `+fields+` } }`, map[string]any{"s": art.Slug})
		var page struct{ Article map[string]any }
		r.Decode(t, &page)
		// The slug's article, its tags and its first comments: one statement; the
		// replies' count is another.
		if r.Statements != 2 {
			t.Errorf("first sight of the page cost %d statements, want 2 (the page, the replies' count)", r.Statements)
		}
		var list struct {
			Articles struct{ Nodes []map[string]any }
		}
		e.MustQuery(t, "", `{ articles(first: 1) { nodes { `+fields+` } } }`, nil, &list)
		if len(list.Articles.Nodes) != 1 {
			t.Fatalf("list = %v", list)
		}
		if got, want := mustJSON(t, page.Article), mustJSON(t, list.Articles.Nodes[0]); got != want {
			t.Errorf("article page:\n%s\nthe same through a list:\n%s", got, want)
		}
		var c struct {
			Comments struct {
				PageInfo struct{ HasNextPage bool }
				Edges    []struct{ Node struct{ Body string } }
			}
		}
		b, _ := json.Marshal(page.Article)
		_ = json.Unmarshal(b, &c)
		if len(c.Comments.Edges) != 2 || c.Comments.Edges[0].Node.Body != "first" || c.Comments.Edges[1].Node.Body != "second" || !c.Comments.PageInfo.HasNextPage {
			t.Errorf("comments = %+v, want first and second, and more after", c.Comments)
		}
		// A slug that names nothing is null, for one statement.
		none := e.Query(t, "", `query($s: String!) { article(slug: $s) { `+fields+` } }`, map[string]any{"s": "no-such-" + art.Slug})
		var nothing struct{ Article map[string]any }
		none.Decode(t, &nothing)
		if nothing.Article != nil || none.Statements != 1 {
			t.Errorf("unknown slug: %v in %d statements, want null in 1", nothing.Article, none.Statements)
		}
		// Warm, the page costs what the cache does not hold.
		if again, _ := readPage(t, e, "", art.Slug); again.Article == nil || len(again.Article.Tags) != 2 {
			t.Errorf("page read again: %s", mustJSON(t, again))
		}
	})
}
