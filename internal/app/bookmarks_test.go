package app_test

import (
	"maps"
	"slices"
	"testing"

	"inkwell/internal/apptest"
)

const (
	bmAdd    = `mutation($s: String!) { bookmarkArticle(input: {slug: $s}) { article { slug viewerHasBookmarked } } }`
	bmRemove = `mutation($s: String!) { unbookmarkArticle(input: {slug: $s}) { article { slug viewerHasBookmarked } } }`
	bmList   = `query($n: Int, $after: String) { viewer { bookmarks(first: $n, after: $after) {
		totalCount pageInfo { hasNextPage endCursor } nodes { slug viewerHasBookmarked favoritesCount } } } }`
)

type bmPage struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
	Nodes []struct {
		Slug                string
		ViewerHasBookmarked bool
		FavoritesCount      int
	}
}

func bookmarksOf(t *testing.T, e *apptest.Env, u *apptest.User, n int, after *string) bmPage {
	t.Helper()
	var out struct {
		Viewer struct{ Bookmarks bmPage }
	}
	vars := map[string]any{"n": n}
	if after != nil {
		vars["after"] = *after
	}
	e.MustQuery(t, u.Token, bmList, vars, &out)
	return out.Viewer.Bookmarks
}

func slugsOf(p bmPage) []string {
	var out []string
	for _, n := range p.Nodes {
		out = append(out, n.Slug)
	}
	return out
}

func TestBookmarks(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
		a1, a2, a3 := e.CreateArticle(t, ada, "First"), e.CreateArticle(t, ada, "Second"), e.CreateArticle(t, ada, "Third")
		if got := bookmarksOf(t, e, bob, 10, nil); got.TotalCount != 0 || len(got.Nodes) != 0 {
			t.Fatalf("bookmarks before any: %+v", got)
		}
		for _, s := range []string{a2.Slug, a1.Slug, a3.Slug, a1.Slug} { // a1 again: not an error, not moved
			var out struct {
				BookmarkArticle struct {
					Article struct{ ViewerHasBookmarked bool }
				}
			}
			e.MustQuery(t, bob.Token, bmAdd, map[string]any{"s": s}, &out)
			if !out.BookmarkArticle.Article.ViewerHasBookmarked {
				t.Fatalf("bookmark %s: viewerHasBookmarked false", s)
			}
		}
		got := bookmarksOf(t, e, bob, 10, nil)
		if want := []string{a3.Slug, a1.Slug, a2.Slug}; !slices.Equal(slugsOf(got), want) || got.TotalCount != 3 {
			t.Fatalf("bookmarks = %v (%d), want %v, most recent first", slugsOf(got), got.TotalCount, want)
		}
		// Private: no count moves, and nobody else sees them.
		if got.Nodes[0].FavoritesCount != 0 {
			t.Errorf("favoritesCount %d after a bookmark", got.Nodes[0].FavoritesCount)
		}
		for _, token := range []string{ada.Token, ""} {
			var seen struct {
				Article struct{ ViewerHasBookmarked bool }
				User    struct{ Bookmarks struct{ TotalCount int } }
			}
			e.MustQuery(t, token, `query($s: String!) { article(slug: $s) { viewerHasBookmarked }
			user(username: "bob") { bookmarks { totalCount } } }`, map[string]any{"s": a1.Slug}, &seen)
			if seen.Article.ViewerHasBookmarked || seen.User.Bookmarks.TotalCount != 0 {
				t.Errorf("seen by %q: %+v", token, seen)
			}
		}

		// Pages of two: each once, in order.
		p1 := bookmarksOf(t, e, bob, 2, nil)
		p2 := bookmarksOf(t, e, bob, 2, p1.PageInfo.EndCursor)
		if !slices.Equal(append(slugsOf(p1), slugsOf(p2)...), []string{a3.Slug, a1.Slug, a2.Slug}) ||
			!p1.PageInfo.HasNextPage || p2.PageInfo.HasNextPage {
			t.Errorf("pages %v %v", slugsOf(p1), slugsOf(p2))
		}

		// An unpublished article leaves the list, and comes back with its bookmark.
		var out map[string]any
		e.MustQuery(t, ada.Token, `mutation($s: String!) { unpublishArticle(input: {slug: $s}) { article { slug } } }`,
			map[string]any{"s": a3.Slug}, &out)
		if got := bookmarksOf(t, e, bob, 10, nil); !slices.Equal(slugsOf(got), []string{a1.Slug, a2.Slug}) || got.TotalCount != 2 {
			t.Errorf("after unpublishing: %v (%d)", slugsOf(got), got.TotalCount)
		}
		e.MustQuery(t, ada.Token, `mutation($s: String!) { publishArticle(input: {slug: $s}) { article { slug } } }`,
			map[string]any{"s": a3.Slug}, &out)

		e.MustQuery(t, bob.Token, bmRemove, map[string]any{"s": a1.Slug}, &out)
		e.MustQuery(t, bob.Token, bmRemove, map[string]any{"s": a1.Slug}, &out) // again: not an error
		if got := bookmarksOf(t, e, bob, 10, nil); !slices.Equal(slugsOf(got), []string{a3.Slug, a2.Slug}) {
			t.Errorf("after removing %s: %v", a1.Slug, slugsOf(got))
		}

		// Refused, changing nothing.
		var draft struct {
			CreateArticle struct{ Article struct{ Slug string } }
		}
		e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
			"title": "Unfinished", "description": "", "body": "b", "publish": false}}, &draft)
		before := e.Snapshot(t)
		n := e.Count(t, "bookmarks")
		for _, tc := range []struct {
			name, token, slug, want string
		}{
			{"anonymous", "", a1.Slug, "UNAUTHENTICATED"},
			{"an unknown slug", bob.Token, "nope", "NOT_FOUND"},
			{"someone else's draft", bob.Token, draft.CreateArticle.Article.Slug, "NOT_FOUND"},
			{"one's own draft", ada.Token, draft.CreateArticle.Article.Slug, "FORBIDDEN"},
		} {
			if r := e.Query(t, tc.token, bmAdd, map[string]any{"s": tc.slug}); r.Code() != tc.want {
				t.Errorf("%s: %s, want %s", tc.name, r.Body, tc.want)
			}
		}
		if after := e.Snapshot(t); !maps.Equal(before, after) || e.Count(t, "bookmarks") != n {
			t.Errorf("refusals wrote: %v -> %v", before, after)
		}
	})
}
