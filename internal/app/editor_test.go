package app_test

import (
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apptest"
)

const eMeta = `query($s: String!) { article(slug: $s) { title subtitle canonicalURL excerpt updatedAt
	seo { title description } } }`

type eArticle struct {
	Title, Subtitle, Excerpt, UpdatedAt string
	CanonicalURL                        *string
	Seo                                 struct{ Title, Description string }
}

func readMeta(t *testing.T, e *apptest.Env, slug string) eArticle {
	t.Helper()
	var out struct{ Article eArticle }
	e.MustQuery(t, "", eMeta, map[string]any{"s": slug}, &out)
	return out.Article
}

func TestArticleMetadata(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	var created struct {
		CreateArticle struct{ Article struct{ Slug string } }
	}
	e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
		"title": "Cross-posted", "description": "d", "body": "The body, which the excerpt starts with.",
		"subtitle": "  A line under it ", "canonicalURL": "https://blog.example.com/cross-posted",
		"seo": map[string]any{"title": "Cross-posted, for search engines"},
	}}, &created)
	slug := created.CreateArticle.Article.Slug
	got := readMeta(t, e, slug)
	if got.Subtitle != "A line under it" || got.CanonicalURL == nil || *got.CanonicalURL != "https://blog.example.com/cross-posted" ||
		got.Seo.Title != "Cross-posted, for search engines" || got.Seo.Description != got.Excerpt || got.Excerpt == "" {
		t.Fatalf("created: %+v", got)
	}

	e.MustQuery(t, ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, canonicalURL: "",
		seo: {title: "", description: "Told to search engines"}}) { article { slug } } }`, map[string]any{"s": slug}, &map[string]any{})
	got = readMeta(t, e, slug)
	if got.CanonicalURL != nil || got.Seo.Title != got.Title || got.Seo.Description != "Told to search engines" ||
		got.Subtitle != "A line under it" {
		t.Fatalf("updated: %+v", got)
	}

	before := e.Snapshot(t)
	for _, tc := range []struct {
		name, field string
		in          map[string]any
	}{
		{"a canonical URL that is not http", "canonicalURL", map[string]any{"canonicalURL": "javascript:alert(1)"}},
		{"a relative canonical URL", "canonicalURL", map[string]any{"canonicalURL": "/elsewhere"}},
		{"a long canonical URL", "canonicalURL", map[string]any{"canonicalURL": "https://x.example/" + strings.Repeat("a", 2048)}},
		{"a long subtitle", "subtitle", map[string]any{"subtitle": strings.Repeat("s", 256)}},
		{"a long SEO title", "seo.title", map[string]any{"seo": map[string]any{"title": strings.Repeat("t", 121)}}},
		{"a long SEO description", "seo.description", map[string]any{"seo": map[string]any{"description": strings.Repeat("d", 321)}}},
	} {
		in := map[string]any{"title": "Refused", "description": "", "body": "b"}
		maps.Copy(in, tc.in)
		if r := e.Query(t, ada.Token, dCreate, map[string]any{"in": in}); r.Code() != "BAD_USER_INPUT" || len(r.Errors) == 0 ||
			!strings.Contains(string(r.Body), `"`+tc.field+`"`) {
			t.Errorf("create with %s: %s", tc.name, r.Body)
		}
		upd := map[string]any{"slug": slug}
		maps.Copy(upd, tc.in)
		if r := e.Query(t, ada.Token, `mutation($in: UpdateArticleInput!) { updateArticle(input: $in) { article { slug } } }`,
			map[string]any{"in": upd}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("update with %s: %s", tc.name, r.Body)
		}
	}
	if after := e.Snapshot(t); !maps.Equal(before, after) {
		t.Errorf("refused writes changed rows: %v -> %v", before, after)
	}
	if now := readMeta(t, e, slug); now != got {
		t.Errorf("refused updates changed the article: %+v -> %+v", got, now)
	}
}

// Two tabs edit one article: the one that read it before the other's save is refused with
// CONFLICT and writes nothing; under a race, exactly one of many such edits wins.
func TestStaleEditsAreRefused(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	art := e.CreateArticle(t, ada, "Two tabs")
	const edit = `mutation($s: String!, $t: String!, $at: DateTime) {
		updateArticle(input: {slug: $s, title: $t, expectedUpdatedAt: $at}) { article { title updatedAt } } }`
	read := readMeta(t, e, art.Slug).UpdatedAt

	var first struct {
		UpdateArticle struct {
			Article struct{ Title, UpdatedAt string }
		}
	}
	e.MustQuery(t, ada.Token, edit, map[string]any{"s": art.Slug, "t": "First tab", "at": read}, &first)
	r := e.Query(t, ada.Token, edit, map[string]any{"s": art.Slug, "t": "Second tab", "at": read})
	if r.Code() != "CONFLICT" {
		t.Fatalf("a stale edit: %s", r.Body)
	}
	if got := readMeta(t, e, art.Slug); got.Title != "First tab" || got.UpdatedAt != first.UpdateArticle.Article.UpdatedAt {
		t.Fatalf("after the refused edit: %+v", got)
	}
	// Left out, the update applies whatever happened (as before).
	e.MustQuery(t, ada.Token, edit, map[string]any{"s": art.Slug, "t": "Forced"}, &map[string]any{})

	read = readMeta(t, e, art.Slug).UpdatedAt
	var wins sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for i := range 8 {
		wins.Go(func() {
			r := e.Query(t, ada.Token, edit, map[string]any{"s": art.Slug, "t": "Racer " + string(rune('A'+i)), "at": read})
			mu.Lock()
			codes[r.Code()]++
			mu.Unlock()
		})
	}
	wins.Wait()
	if codes[""] != 1 || codes["CONFLICT"] != 7 {
		t.Errorf("8 racing edits from one read: %v; want 1 success and 7 CONFLICT", codes)
	}
}

// Every hint equals what the write it hints at does: each viewer, each kind of article.
func TestViewerHintsMatchTheWrites(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	type hints struct{ ViewerCanEdit, ViewerCanDelete, ViewerCanComment bool }
	viewers := []struct {
		name string
		user *apptest.User
	}{{"author", ada}, {"another user", bob}, {"anonymous", nil}}
	token := func(u *apptest.User) string {
		if u == nil {
			return ""
		}
		return u.Token
	}
	ok := func(r *apptest.Response) bool { return r.Code() == "" }
	for _, published := range []bool{true, false} {
		for _, v := range viewers {
			name := v.name + map[bool]string{true: ", published", false: ", draft"}[published]
			t.Run(name, func(t *testing.T) {
				a := write(t, e, ada, "Hinted "+name, published)
				var out struct{ Article *hints }
				e.MustQuery(t, token(v.user), `query($s: String!) { article(slug: $s) { viewerCanEdit viewerCanDelete viewerCanComment } }`,
					map[string]any{"s": a.Slug}, &out)
				if out.Article == nil {
					if v.user == ada || published {
						t.Fatal("the article is not seen")
					}
					return // someone else's draft: no article, so no hints; the writes are NOT_FOUND (TestDrafts…)
				}
				vars := map[string]any{"s": a.Slug}
				comment := ok(e.Query(t, token(v.user), `mutation($s: String!) { addComment(input: {articleSlug: $s, body: "hi"}) { comment { id } } }`, vars))
				edit := ok(e.Query(t, token(v.user), `mutation($s: String!) { updateArticle(input: {slug: $s, subtitle: "x"}) { article { id } } }`, vars))
				del := ok(e.Query(t, token(v.user), `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`, vars))
				if got := (hints{edit, del, comment}); got != *out.Article {
					t.Errorf("hints %+v, writes %+v", *out.Article, got)
				}
			})
		}
	}
	t.Run("comments", func(t *testing.T) {
		a := write(t, e, ada, "Commented", true)
		for _, v := range viewers {
			id := e.AddComment(t, bob, a.Slug, "by bob, for "+v.name)
			var out struct {
				Node struct{ ViewerCanEdit, ViewerCanDelete bool }
			}
			e.MustQuery(t, token(v.user), `query($id: ID!) { node(id: $id) { ... on Comment { viewerCanEdit viewerCanDelete } } }`,
				map[string]any{"id": id}, &out)
			edit := ok(e.Query(t, token(v.user), `mutation($id: ID!) { updateComment(input: {id: $id, body: "changed"}) { comment { id } } }`,
				map[string]any{"id": id}))
			del := ok(e.Query(t, token(v.user), `mutation($id: ID!) { deleteComment(input: {id: $id}) { deletedCommentId } }`,
				map[string]any{"id": id}))
			if out.Node.ViewerCanEdit != edit || out.Node.ViewerCanDelete != del {
				t.Errorf("%s: hints %+v, edit succeeded %v, delete succeeded %v", v.name, out.Node, edit, del)
			}
		}
		// The comment's own author, last.
		id := e.AddComment(t, bob, a.Slug, "mine")
		var out struct {
			Node struct{ ViewerCanDelete bool }
		}
		e.MustQuery(t, bob.Token, `query($id: ID!) { node(id: $id) { ... on Comment { viewerCanDelete } } }`, map[string]any{"id": id}, &out)
		if !out.Node.ViewerCanDelete || !ok(e.Query(t, bob.Token, `mutation($id: ID!) { deleteComment(input: {id: $id}) { deletedCommentId } }`,
			map[string]any{"id": id})) {
			t.Error("a comment's author cannot delete it")
		}
	})
}

// A comment's author edits it: the text changes, updatedAt moves, edited says so; anyone
// else is refused, and a refused or bad edit changes nothing.
func TestCommentEdits(t *testing.T) {
	t.Parallel()
	e := cached(t) // the article page is kept between reads: the edit must still show
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Discussed")
	id := e.AddComment(t, bob, art.Slug, "frist")
	const page = `query($s: String!) { article(slug: $s) { comments(first: 5) { nodes {
		id body edited createdAt updatedAt viewerCanEdit } } } }`
	type comment struct {
		ID, Body, CreatedAt, UpdatedAt string
		Edited, ViewerCanEdit          bool
	}
	read := func(token string) comment {
		t.Helper()
		var out struct {
			Article struct{ Comments struct{ Nodes []comment } }
		}
		e.MustQuery(t, token, page, map[string]any{"s": art.Slug}, &out)
		if len(out.Article.Comments.Nodes) != 1 {
			t.Fatalf("comments: %+v", out.Article.Comments.Nodes)
		}
		return out.Article.Comments.Nodes[0]
	}
	before := read(bob.Token)
	if before.Edited || before.UpdatedAt != before.CreatedAt || !before.ViewerCanEdit || read(ada.Token).ViewerCanEdit {
		t.Fatalf("before: %+v", before)
	}
	const upd = `mutation($id: ID!, $b: String!) { updateComment(input: {id: $id, body: $b}) { comment { body edited } } }`
	for _, tc := range []struct {
		name, token, body, code string
	}{
		{"the article's author", ada.Token, "first!", "FORBIDDEN"},
		{"anonymous", "", "first!", "UNAUTHENTICATED"},
		{"an empty text", bob.Token, "   ", "BAD_USER_INPUT"},
		{"a long text", bob.Token, strings.Repeat("x", 5001), "BAD_USER_INPUT"},
	} {
		if r := e.Query(t, tc.token, upd, map[string]any{"id": id, "b": tc.body}); r.Code() != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, r.Body, tc.code)
		}
	}
	if got := read(bob.Token); got != before {
		t.Fatalf("refused edits changed the comment: %+v", got)
	}
	e.MustQuery(t, bob.Token, upd, map[string]any{"id": id, "b": " first! "}, &map[string]any{})
	after := read("")
	parse := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	if after.Body != "first!" || !after.Edited || !parse(after.UpdatedAt).After(parse(before.UpdatedAt)) ||
		after.CreatedAt != before.CreatedAt {
		t.Fatalf("after the edit: %+v (before %+v)", after, before)
	}
}

// Each edit of the text keeps the version it replaces, the last 20, for the author alone;
// restoring one makes it the text again and keeps the replaced text in turn.
func TestRevisions(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "V1")
	const edit = `mutation($in: UpdateArticleInput!) { updateArticle(input: $in) { article { title body } } }`
	update := func(in map[string]any) {
		t.Helper()
		in["slug"] = art.Slug
		e.MustQuery(t, ada.Token, edit, map[string]any{"in": in}, &map[string]any{})
	}
	type rev struct{ ID, Title, Body string }
	revisions := func(token string) (int, []rev) {
		t.Helper()
		var out struct {
			Article struct {
				Revisions struct {
					TotalCount int
					Nodes      []rev
				}
			}
		}
		e.MustQuery(t, token, `query($s: String!) { article(slug: $s) { revisions(first: 50) { totalCount nodes { id title body } } } }`,
			map[string]any{"s": art.Slug}, &out)
		return out.Article.Revisions.TotalCount, out.Article.Revisions.Nodes
	}
	original := "# V1\n\nText."
	update(map[string]any{"title": "V2", "body": "two"})
	update(map[string]any{"body": "three"})
	update(map[string]any{"subtitle": "not the text"}) // keeps no version
	n, got := revisions(ada.Token)
	if n != 2 || len(got) != 2 || got[0].Title != "V2" || got[0].Body != "two" || got[1].Title != "V1" || got[1].Body != original {
		t.Fatalf("revisions: %d %+v", n, got)
	}
	for _, who := range []struct{ name, token string }{{"another user", bob.Token}, {"anonymous", ""}} {
		if n, others := revisions(who.token); n != 0 || len(others) != 0 {
			t.Errorf("%s sees %d revisions", who.name, n)
		}
	}
	const restore = `mutation($id: ID!) { restoreRevision(input: {id: $id}) { article { title body } } }`
	for _, tc := range []struct{ name, token, id, code string }{
		{"another user", bob.Token, got[1].ID, "FORBIDDEN"},
		{"not a revision's id", ada.Token, art.ID, "BAD_USER_INPUT"},
		{"an unknown revision", ada.Token, "QXJ0aWNsZVJldmlzaW9uOjk5OTk5", "NOT_FOUND"},
	} {
		if r := e.Query(t, tc.token, restore, map[string]any{"id": tc.id}); r.Code() != tc.code {
			t.Errorf("%s: %s, want %s", tc.name, r.Body, tc.code)
		}
	}
	var back struct {
		RestoreRevision struct{ Article struct{ Title, Body string } }
	}
	e.MustQuery(t, ada.Token, restore, map[string]any{"id": got[1].ID}, &back)
	if a := back.RestoreRevision.Article; a.Title != "V1" || a.Body != original {
		t.Fatalf("restored: %+v", a)
	}
	if n, got = revisions(ada.Token); n != 3 || got[0].Title != "V2" || got[0].Body != "three" {
		t.Fatalf("after restoring: %d %+v", n, got)
	}
	for i := range 25 {
		update(map[string]any{"body": "edit " + strconv.Itoa(i)})
	}
	if n, got = revisions(ada.Token); n != 20 || got[0].Body != "edit 23" {
		t.Fatalf("after 25 more edits: %d kept, newest %+v", n, got[0])
	}
}
