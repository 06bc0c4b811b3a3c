package app_test

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"inkwell/internal/apptest"
)

const soList = `query($by: ArticleOrderField!, $n: Int, $after: String, $before: String, $last: Int) {
	articles(orderBy: {field: $by}, first: $n, after: $after, last: $last, before: $before) {
		totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
		nodes { slug favoritesCount publishedAt comments { totalCount } } } }`

type soPage struct {
	Articles struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage, HasPreviousPage bool
			StartCursor, EndCursor       *string
		}
		Nodes []struct {
			Slug           string
			FavoritesCount int
			PublishedAt    time.Time
			Comments       struct{ TotalCount int }
		}
	}
}

func (p soPage) slugs() []string {
	var out []string
	for _, n := range p.Articles.Nodes {
		out = append(out, n.Slug)
	}
	return out
}

// Each sort order, paged by cursor, is the same list as one large page, in the
// documented order.
func TestArticleSortOrders(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	var fans []*apptest.User
	for i := range 4 {
		fans = append(fans, e.SignUp(t, fmt.Sprintf("fan%d", i)))
	}
	type spec struct{ favorites, comments int }
	specs := []spec{{0, 0}, {3, 0}, {1, 2}, {0, 4}, {2, 2}, {4, 1}, {1, 0}}
	var slugs []string
	for i, sp := range specs {
		a := e.CreateArticle(t, ada, fmt.Sprintf("Article %d", i))
		slugs = append(slugs, a.Slug)
		for f := range sp.favorites {
			e.Favorite(t, fans[f], a.Slug)
		}
		for c := range sp.comments {
			addReply(t, e, fans[c%len(fans)], a.Slug, "c", "")
		}
	}
	var big soPage
	e.MustQuery(t, "", soList, map[string]any{"by": "NEWEST", "n": 100}, &big)
	published := map[string]time.Time{}
	for _, n := range big.Articles.Nodes {
		published[n.Slug] = n.PublishedAt
	}

	rank := func(i int, by string) float64 {
		sp := specs[i]
		switch by {
		case "MOST_FAVORITED":
			return float64(sp.favorites)
		case "MOST_COMMENTED":
			return float64(sp.comments)
		case "TRENDING":
			return math.Log10(math.Max(1, float64(sp.favorites+2*sp.comments))) + float64(published[slugs[i]].UnixMicro())/1e6/45000
		}
		return float64(published[slugs[i]].UnixMicro())
	}
	for _, by := range []string{"NEWEST", "MOST_FAVORITED", "MOST_COMMENTED", "TRENDING"} {
		t.Run(by, func(t *testing.T) {
			idx := []int{0, 1, 2, 3, 4, 5, 6}
			sort.SliceStable(idx, func(a, b int) bool {
				ra, rb := rank(idx[a], by), rank(idx[b], by)
				if ra != rb {
					return ra > rb
				}
				return idx[a] > idx[b] // ties newest first
			})
			var want []string
			for _, i := range idx {
				want = append(want, slugs[i])
			}
			var all soPage
			e.MustQuery(t, "", soList, map[string]any{"by": by, "n": 100}, &all)
			if !slices.Equal(all.slugs(), want) || all.Articles.TotalCount != len(want) {
				t.Fatalf("one page %v, want %v", all.slugs(), want)
			}
			var paged []string
			vars := map[string]any{"by": by, "n": 2}
			for range 10 {
				var p soPage
				e.MustQuery(t, "", soList, vars, &p)
				paged = append(paged, p.slugs()...)
				if !p.Articles.PageInfo.HasNextPage {
					break
				}
				vars["after"] = *p.Articles.PageInfo.EndCursor
			}
			if !slices.Equal(paged, want) {
				t.Errorf("pages of 2: %v, want %v", paged, want)
			}
			// Backward from the end: the last two.
			var back soPage
			e.MustQuery(t, "", soList, map[string]any{"by": by, "last": 2, "before": *all.Articles.PageInfo.EndCursor}, &back)
			if !slices.Equal(back.slugs(), want[len(want)-3:len(want)-1]) {
				t.Errorf("last 2 before the end: %v, want %v", back.slugs(), want[len(want)-3:len(want)-1])
			}
		})
	}

	// A cursor of one order is refused by another, changing nothing.
	var newest, fav soPage
	e.MustQuery(t, "", soList, map[string]any{"by": "NEWEST", "n": 1}, &newest)
	e.MustQuery(t, "", soList, map[string]any{"by": "MOST_FAVORITED", "n": 1}, &fav)
	for _, tc := range []struct{ by, cursor string }{
		{"MOST_FAVORITED", *newest.Articles.PageInfo.EndCursor},
		{"NEWEST", *fav.Articles.PageInfo.EndCursor},
	} {
		if r := e.Query(t, "", soList, map[string]any{"by": tc.by, "n": 1, "after": tc.cursor}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("%s with another order's cursor: %s", tc.by, r.Body)
		}
	}

	// Tag pages sort too.
	e.CreateArticle(t, ada, "Tagged quiet", "go")
	loud := e.CreateArticle(t, ada, "Tagged loud", "go")
	e.Favorite(t, fans[0], loud.Slug)
	var tagged struct {
		Tag struct {
			Articles struct{ Nodes []struct{ Slug string } }
		}
	}
	e.MustQuery(t, "", `{ tag(name: "go") { articles(orderBy: {field: MOST_FAVORITED}) { nodes { slug } } } }`, nil, &tagged)
	if n := tagged.Tag.Articles.Nodes; len(n) != 2 || n[0].Slug != loud.Slug {
		t.Errorf("tag page by favorites: %v", n)
	}
}

// comments_count follows comments, replies, placeholders and deletions.
func TestMostCommentedCounts(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	a := e.CreateArticle(t, ada, "Discussed")
	b := e.CreateArticle(t, ada, "Quieter")
	top := addReply(t, e, bob, a.Slug, "top", "")
	addReply(t, e, ada, a.Slug, "reply", top)
	addReply(t, e, bob, b.Slug, "one", "")
	addReply(t, e, bob, b.Slug, "two", "")
	first := func() string {
		var p soPage
		e.MustQuery(t, "", soList, map[string]any{"by": "MOST_COMMENTED", "n": 1}, &p)
		return p.Articles.Nodes[0].Slug
	}
	if got := first(); got != b.Slug { // 2 each: newest first
		t.Fatalf("first %s, want %s (tie, newest)", got, b.Slug)
	}
	addReply(t, e, bob, a.Slug, "three", "")
	if got := first(); got != a.Slug {
		t.Fatalf("first %s, want %s (3 to 2)", got, a.Slug)
	}
	// Deleting the top comment keeps a placeholder for its reply, which does not count.
	var out map[string]any
	e.MustQuery(t, bob.Token, `mutation($id: ID!) { deleteComment(input: {id: $id}) { placeholder { id } } }`, map[string]any{"id": top}, &out)
	if got := first(); got != b.Slug {
		t.Errorf("after deleting one of a's: first %s, want %s", got, b.Slug)
	}
	// Taken back to drafts, b leaves every order; published again, it comes back.
	e.MustQuery(t, ada.Token, `mutation($s: String!) { unpublishArticle(input: {slug: $s}) { article { slug } } }`, map[string]any{"s": b.Slug}, &out)
	for _, by := range []string{"MOST_COMMENTED", "MOST_FAVORITED", "TRENDING"} {
		var p soPage
		e.MustQuery(t, "", soList, map[string]any{"by": by, "n": 10}, &p)
		if slices.Contains(p.slugs(), b.Slug) || p.Articles.TotalCount != 1 {
			t.Errorf("%s lists the draft: %v (total %d)", by, p.slugs(), p.Articles.TotalCount)
		}
	}
	e.MustQuery(t, ada.Token, `mutation($s: String!) { publishArticle(input: {slug: $s}) { article { slug } } }`, map[string]any{"s": b.Slug}, &out)
	if got := first(); got != b.Slug {
		t.Errorf("published again: first %s, want %s", got, b.Slug)
	}
}
