package app_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"inkwell/internal/apptest"
)

const (
	tfFollow   = `mutation($n: String!) { followTag(input: {name: $n}) { tag { name followersCount viewerIsFollowing } } }`
	tfUnfollow = `mutation($n: String!) { unfollowTag(input: {name: $n}) { tag { name followersCount viewerIsFollowing } } }`
	tfTag      = `query($n: String!) { tag(name: $n) { name articlesCount followersCount viewerIsFollowing } }`
	tfFeed     = `query($n: Int, $after: String, $offset: Int) { feed(first: $n, after: $after, offset: $offset) {
		totalCount pageInfo { hasNextPage endCursor } nodes { slug } } }`
)

type tfTagState struct {
	Name              string
	FollowersCount    int
	ViewerIsFollowing bool
}

type tfFeedPage struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage bool
		EndCursor   *string
	}
	Nodes []struct{ Slug string }
}

func tfFollowTag(t *testing.T, e *apptest.Env, u *apptest.User, name string, on bool) tfTagState {
	t.Helper()
	var out struct {
		FollowTag, UnfollowTag struct{ Tag tfTagState }
	}
	q := map[bool]string{true: tfFollow, false: tfUnfollow}[on]
	e.MustQuery(t, u.Token, q, map[string]any{"n": name}, &out)
	if on {
		return out.FollowTag.Tag
	}
	return out.UnfollowTag.Tag
}

func tfFeedOf(t *testing.T, e *apptest.Env, u *apptest.User, vars map[string]any) tfFeedPage {
	t.Helper()
	var out struct{ Feed tfFeedPage }
	e.MustQuery(t, u.Token, tfFeed, vars, &out)
	return out.Feed
}

func (p tfFeedPage) slugs() []string {
	var out []string
	for _, n := range p.Nodes {
		out = append(out, n.Slug)
	}
	return out
}

// Following a tag: idempotent both ways, counted, private flag per viewer.
func TestFollowTag(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob, cy := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy")
		e.CreateArticle(t, ada, "Generics", "go")

		for i := range 2 { // twice: not an error, one follow
			got := tfFollowTag(t, e, bob, " GO ", true)
			if got != (tfTagState{"go", 1, true}) {
				t.Fatalf("followTag #%d = %+v", i+1, got)
			}
		}
		tfFollowTag(t, e, cy, "go", true)
		for _, tc := range []struct {
			who  *apptest.User
			want tfTagState
		}{{bob, tfTagState{"go", 2, true}}, {ada, tfTagState{"go", 2, false}}, {nil, tfTagState{"go", 2, false}}} {
			token := ""
			if tc.who != nil {
				token = tc.who.Token
			}
			var out struct{ Tag tfTagState }
			e.MustQuery(t, token, tfTag, map[string]any{"n": "go"}, &out)
			if out.Tag != tc.want {
				t.Errorf("tag seen by %q = %+v, want %+v", token, out.Tag, tc.want)
			}
		}
		for range 2 {
			if got := tfFollowTag(t, e, bob, "go", false); got != (tfTagState{"go", 1, false}) {
				t.Fatalf("unfollowTag = %+v", got)
			}
		}
		if n := e.Count(t, "tag_follows"); n != 1 {
			t.Errorf("%d tag_follows rows, want 1 (cy's)", n)
		}
	})
}

// Refusals change nothing.
func TestFollowTagErrors(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	e.CreateArticle(t, ada, "Generics", "go")
	var draft map[string]any
	e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
		"title": "Draft", "description": "", "body": "b", "tags": []string{"secret"}, "publish": false}}, &draft)
	before := e.Snapshot(t)
	for _, tc := range []struct {
		name, token, query, tag, want string
	}{
		{"anonymous", "", tfFollow, "go", "UNAUTHENTICATED"},
		{"an unknown tag", bob.Token, tfFollow, "nope", "NOT_FOUND"},
		{"a tag only drafts carry", bob.Token, tfFollow, "secret", "NOT_FOUND"},
		{"unfollowing an unknown tag", bob.Token, tfUnfollow, "nope", "NOT_FOUND"},
		{"unfollowing a tag only drafts carry", bob.Token, tfUnfollow, "secret", "NOT_FOUND"},
	} {
		if r := e.Query(t, tc.token, tc.query, map[string]any{"n": tc.tag}); r.Code() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, r.Body, tc.want)
		}
	}
	if after := e.Snapshot(t); !maps.Equal(before, after) {
		t.Errorf("refusals wrote: %v -> %v", before, after)
	}
}

// Concurrent follows of one tag by many users count each once; one user's concurrent
// clicks store one row.
func TestFollowTagConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	e.CreateArticle(t, ada, "Generics", "go")
	var users []*apptest.User
	for i := range 6 {
		users = append(users, e.SignUp(t, fmt.Sprintf("reader%d", i)))
	}
	var wg sync.WaitGroup
	for _, u := range users {
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := e.Query(t, u.Token, tfFollow, map[string]any{"n": "go"}); len(r.Errors) > 0 {
					t.Errorf("followTag: %s", r.Body)
				}
			}()
		}
	}
	wg.Wait()
	var out struct{ Tag tfTagState }
	e.MustQuery(t, "", tfTag, map[string]any{"n": "go"}, &out)
	if out.Tag.FollowersCount != len(users) || e.Count(t, "tag_follows") != len(users) {
		t.Errorf("followersCount %d, %d rows; want %d", out.Tag.FollowersCount, e.Count(t, "tag_follows"), len(users))
	}
}

// The feed holds followed authors' articles and followed tags' articles, each once, in
// one order, whichever way it is paged.
func TestFeedWithFollowedTags(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob, cy, dee := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy"), e.SignUp(t, "dee")
		e.Follow(t, bob, "ada")
		a1 := e.CreateArticle(t, ada, "Ada untagged")
		c1 := e.CreateArticle(t, cy, "Cy on go", "go")
		e.CreateArticle(t, cy, "Cy on rust", "rust")
		a2 := e.CreateArticle(t, ada, "Ada on go and web", "go", "web") // by a followed author and with two followed tags
		d1 := e.CreateArticle(t, dee, "Dee on web", "web")
		if got := tfFeedOf(t, e, bob, map[string]any{"n": 10}); !slices.Equal(got.slugs(), []string{a2.Slug, a1.Slug}) {
			t.Fatalf("feed before following tags: %v", got.slugs())
		}
		tfFollowTag(t, e, bob, "go", true)
		tfFollowTag(t, e, bob, "web", true)
		want := []string{d1.Slug, a2.Slug, c1.Slug, a1.Slug}
		got := tfFeedOf(t, e, bob, map[string]any{"n": 10})
		if !slices.Equal(got.slugs(), want) || got.TotalCount != len(want) {
			t.Fatalf("feed = %v (total %d), want %v", got.slugs(), got.TotalCount, want)
		}
		// Pages of one by cursor, and page numbers by offset, give the same list.
		var byCursor, byOffset []string
		var after *string
		for range len(want) + 1 {
			vars := map[string]any{"n": 1}
			if after != nil {
				vars["after"] = *after
			}
			p := tfFeedOf(t, e, bob, vars)
			byCursor = append(byCursor, p.slugs()...)
			if !p.PageInfo.HasNextPage {
				break
			}
			after = p.PageInfo.EndCursor
		}
		for i := range len(want) {
			byOffset = append(byOffset, tfFeedOf(t, e, bob, map[string]any{"n": 1, "offset": i}).slugs()...)
		}
		if !slices.Equal(byCursor, want) || !slices.Equal(byOffset, want) {
			t.Errorf("by cursor %v, by offset %v, want %v", byCursor, byOffset, want)
		}
		// Retagging moves an article in or out.
		var out map[string]any
		e.MustQuery(t, dee.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, tags: ["css"]}) { article { slug } } }`,
			map[string]any{"s": d1.Slug}, &out)
		if got := tfFeedOf(t, e, bob, map[string]any{"n": 10}); !slices.Equal(got.slugs(), want[1:]) {
			t.Errorf("after retagging %s: %v", d1.Slug, got.slugs())
		}
		tfFollowTag(t, e, bob, "go", false)
		if got := tfFeedOf(t, e, bob, map[string]any{"n": 10}); !slices.Equal(got.slugs(), []string{a2.Slug, a1.Slug}) {
			t.Errorf("after unfollowing go: %v", got.slugs())
		}
	})
}

// Query.tags pages through every tag in use, most used first, ties by name.
func TestTagsConnection(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	// 25 tags: t00..t24, tag i on (i % 4) + 1 articles.
	for n := 1; n <= 4; n++ {
		var tags []string
		for i := range 25 {
			if i%4+1 >= n {
				tags = append(tags, fmt.Sprintf("t%02d", i))
			}
		}
		for len(tags) > 0 {
			k := min(10, len(tags))
			e.CreateArticle(t, ada, fmt.Sprintf("Round %d, %d left", n, len(tags)), tags[:k]...)
			tags = tags[k:]
		}
	}
	const q = `query($n: Int, $after: String) { tags(first: $n, after: $after) {
		totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name articlesCount } } } }`
	type page struct {
		Tags struct {
			TotalCount int
			PageInfo   struct {
				HasNextPage bool
				EndCursor   *string
			}
			Edges []struct {
				Cursor string
				Node   acsTag
			}
		}
	}
	var all page
	e.MustQuery(t, "", q, map[string]any{"n": 100}, &all)
	if all.Tags.TotalCount != 25 || len(all.Tags.Edges) != 25 || all.Tags.PageInfo.HasNextPage {
		t.Fatalf("one big page: total %d, %d edges", all.Tags.TotalCount, len(all.Tags.Edges))
	}
	var want []acsTag
	for _, ed := range all.Tags.Edges {
		want = append(want, ed.Node)
	}
	if !slices.IsSortedFunc(want, func(a, b acsTag) int {
		if a.ArticlesCount != b.ArticlesCount {
			return b.ArticlesCount - a.ArticlesCount
		}
		return strings.Compare(a.Name, b.Name)
	}) || want[0] != (acsTag{"t03", 4}) {
		t.Fatalf("order: %v", want)
	}
	var paged []acsTag
	vars := map[string]any{"n": 7}
	for range 10 {
		var p page
		e.MustQuery(t, "", q, vars, &p)
		for _, ed := range p.Tags.Edges {
			paged = append(paged, ed.Node)
		}
		if !p.Tags.PageInfo.HasNextPage {
			break
		}
		vars["after"] = *p.Tags.PageInfo.EndCursor
	}
	if !slices.Equal(paged, want) {
		t.Errorf("pages of 7: %v, want %v", paged, want)
	}
	for _, bad := range []string{"x", "dGFnMTp4Onk", all.Tags.Edges[0].Cursor + "!"} {
		if r := e.Query(t, "", q, map[string]any{"n": 5, "after": bad}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("after %q: %s", bad, r.Body)
		}
	}
}
