package app_test

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"inkwell/internal/apptest"
)

// The acs helpers are shared by articles_test.go, social_test.go and comments_test.go;
// the prefix keeps them apart from other files of this package.

// acsArticleFields selects everything acsArticle decodes.
const acsArticleFields = `id slug title description body bodyHTML createdAt updatedAt
	favoritesCount viewerHasFavorited author { id username } tags { name articlesCount }`

type acsTag struct {
	Name          string
	ArticlesCount int
}

type acsArticle struct {
	ID, Slug, Title, Description, Body, BodyHTML, CreatedAt, UpdatedAt string
	FavoritesCount                                                     int
	ViewerHasFavorited                                                 bool
	Author                                                             struct{ ID, Username string }
	Tags                                                               []acsTag
}

func (a acsArticle) tagNames() []string {
	out := []string{}
	for _, t := range a.Tags {
		out = append(out, t.Name)
	}
	return out
}

const (
	acsCreateArticle = `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { ` + acsArticleFields + ` } } }`
	acsUpdateArticle = `mutation($in: UpdateArticleInput!) { updateArticle(input: $in) { article { ` + acsArticleFields + ` } } }`
	acsDeleteArticle = `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`
	acsReadArticle   = `query($s: String!) { article(slug: $s) { ` + acsArticleFields + ` } }`
	acsReadTags      = `query($n: Int) { tags(first: $n) { nodes { name articlesCount } } }`
)

// acsArticleInput is a valid createArticle input; tests change one thing at a time.
func acsArticleInput(title string, tags ...string) map[string]any {
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"title": title, "description": "about " + title, "body": "Text of " + title + ".", "tags": tags}
}

// acsCreate publishes in as token and returns the article.
func acsCreate(t testing.TB, e *apptest.Env, token string, in map[string]any) acsArticle {
	t.Helper()
	var out struct{ CreateArticle struct{ Article acsArticle } }
	e.MustQuery(t, token, acsCreateArticle, map[string]any{"in": in}, &out)
	return out.CreateArticle.Article
}

// acsRead reads an article by slug as token; nil when the API answers null.
func acsRead(t testing.TB, e *apptest.Env, token, slug string) *acsArticle {
	t.Helper()
	var out struct{ Article *acsArticle }
	e.MustQuery(t, token, acsReadArticle, map[string]any{"s": slug}, &out)
	return out.Article
}

// acsTags reads Query.tags(first: n); n 0 leaves first out.
func acsTags(t testing.TB, e *apptest.Env, n int) []acsTag {
	t.Helper()
	vars := map[string]any{}
	if n > 0 {
		vars["n"] = n
	}
	var out struct{ Tags struct{ Nodes []acsTag } }
	e.MustQuery(t, "", acsReadTags, vars, &out)
	return out.Tags.Nodes
}

// acsWantError fails unless res failed with exactly one error coded code and, when fields
// are given, extensions.fields names exactly those fields, each with a problem.
func acsWantError(t testing.TB, res *apptest.Response, code string, fields ...string) {
	t.Helper()
	if len(res.Errors) != 1 {
		t.Fatalf("want one %s error, got %d: %s", code, len(res.Errors), res.Body)
	}
	if got := res.Code(); got != code {
		t.Fatalf("code = %q, want %q: %s", got, code, res.Body)
	}
	if len(fields) == 0 {
		return
	}
	got := res.Errors[0].Extensions.Fields
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, slices.Sorted(slices.Values(fields))) {
		t.Fatalf("fields = %v, want %v: %s", names, fields, res.Body)
	}
	for name, problems := range got {
		if len(problems) == 0 || problems[0] == "" {
			t.Errorf("field %q has no problem described: %s", name, res.Body)
		}
	}
}

// acsSameRows fails when a table's row count differs from before.
func acsSameRows(t testing.TB, e *apptest.Env, before map[string]int) {
	t.Helper()
	if after := e.Snapshot(t); !maps.Equal(before, after) {
		t.Fatalf("rows changed: before %v, after %v", before, after)
	}
}

// acsTime parses an RFC 3339 timestamp from the API.
func acsTime(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("timestamp %q: %v", s, err)
	}
	return ts
}

var acsSlugRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestArticleCreate(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	before := time.Now().Add(-time.Minute)

	got := acsCreate(t, e, alice.Token, map[string]any{
		"title":       "  Hello, World!  ",
		"description": "  A first post  ",
		"body":        "# Heading\n\nSome *text* with [a link](https://example.com).",
		"tags":        []string{" Go ", "GO", "Web Dev", "api"},
	})

	if got.Slug != "hello-world" {
		t.Errorf("slug = %q, want hello-world", got.Slug)
	}
	if got.Title != "Hello, World!" || got.Description != "A first post" {
		t.Errorf("title, description = %q, %q; want them trimmed", got.Title, got.Description)
	}
	if got.Body != "# Heading\n\nSome *text* with [a link](https://example.com)." {
		t.Errorf("body = %q, want it stored as sent", got.Body)
	}
	for _, want := range []string{`<h1 id="user-content-heading">Heading</h1>`, "<em>text</em>", `href="https://example.com"`, `rel="nofollow noreferrer"`} {
		if !strings.Contains(got.BodyHTML, want) {
			t.Errorf("bodyHTML = %q, want it to contain %q", got.BodyHTML, want)
		}
	}
	if want := []acsTag{{"api", 1}, {"go", 1}, {"web-dev", 1}}; !slices.Equal(got.Tags, want) {
		t.Errorf("tags = %v, want %v", got.Tags, want)
	}
	if got.Author.ID != alice.ID || got.Author.Username != "alice" {
		t.Errorf("author = %+v, want alice (%s)", got.Author, alice.ID)
	}
	if got.FavoritesCount != 0 || got.ViewerHasFavorited {
		t.Errorf("favoritesCount, viewerHasFavorited = %d, %v; want 0, false", got.FavoritesCount, got.ViewerHasFavorited)
	}
	created := acsTime(t, got.CreatedAt)
	if created.Before(before) || created.After(time.Now().Add(time.Minute)) {
		t.Errorf("createdAt = %s, want about now", got.CreatedAt)
	}
	if got.UpdatedAt != got.CreatedAt {
		t.Errorf("updatedAt = %s, want createdAt %s", got.UpdatedAt, got.CreatedAt)
	}

	// What a later read sees is exactly what the mutation answered.
	if read := acsRead(t, e, "", got.Slug); !reflect.DeepEqual(read, &got) {
		t.Errorf("read back %+v\nwant      %+v", read, got)
	}
	for table, want := range map[string]int{"articles": 1, "tags": 3, "article_tags": 3} {
		if n := e.Count(t, table); n != want {
			t.Errorf("%s rows = %d, want %d", table, n, want)
		}
	}
}

func TestArticleCreateLimits(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	// Ten distinct tags after normalisation are allowed, however many duplicates come along.
	tags := []string{"GO", "go", " Go"}
	want := []string{"go"}
	for i := range 9 {
		tags = append(tags, fmt.Sprintf("t%d", i))
		want = append(want, fmt.Sprintf("t%d", i))
	}
	slices.Sort(want)
	in := acsArticleInput(strings.Repeat("a", 255), tags...)
	in["description"] = strings.Repeat("d", 1000)
	got := acsCreate(t, e, alice.Token, in)
	if len(got.Title) != 255 || len(got.Description) != 1000 {
		t.Errorf("title, description lengths = %d, %d; want 255, 1000", len(got.Title), len(got.Description))
	}
	if !slices.Equal(got.tagNames(), want) {
		t.Errorf("tags = %v, want %v", got.tagNames(), want)
	}
}

func TestArticleCreateAnonymous(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	before := e.Snapshot(t)
	res := e.Query(t, "", acsCreateArticle, map[string]any{"in": acsArticleInput("Hello")})
	acsWantError(t, res, "UNAUTHENTICATED")
	acsSameRows(t, e, before)
}

func TestArticleCreateValidation(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("tag%d", i)
	}
	for _, tc := range []struct {
		name   string
		change map[string]any
		fields []string
	}{
		{"blank title", map[string]any{"title": ""}, []string{"title"}},
		{"title of spaces", map[string]any{"title": "   \t "}, []string{"title"}},
		{"title over 255 characters", map[string]any{"title": strings.Repeat("a", 256)}, []string{"title"}},
		{"description over 1000 characters", map[string]any{"description": strings.Repeat("d", 1001)}, []string{"description"}},
		{"blank body", map[string]any{"body": ""}, []string{"body"}},
		{"body of spaces", map[string]any{"body": " \n\t "}, []string{"body"}},
		{"eleven tags", map[string]any{"tags": eleven}, []string{"tags"}},
		{"tag with bad characters", map[string]any{"tags": []string{"go", "c++"}}, []string{"tags"}},
		{"tag with double dash", map[string]any{"tags": []string{"a--b"}}, []string{"tags"}},
		{"blank tag", map[string]any{"tags": []string{"go", "  "}}, []string{"tags"}},
		{"tag over 32 characters", map[string]any{"tags": []string{strings.Repeat("t", 33)}}, []string{"tags"}},
		{"several fields at once", map[string]any{"title": " ", "body": "", "tags": []string{"c#"}}, []string{"title", "body", "tags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := acsArticleInput("Valid title", "go")
			maps.Copy(in, tc.change)
			before := e.Snapshot(t)
			res := e.Query(t, alice.Token, acsCreateArticle, map[string]any{"in": in})
			acsWantError(t, res, "BAD_USER_INPUT", tc.fields...)
			acsSameRows(t, e, before)
		})
	}
}

func TestArticleSlugSameTitle(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	first := e.CreateArticle(t, alice, "Hello World")
	second := e.CreateArticle(t, bob, "Hello World")
	third := e.CreateArticle(t, alice, "hello   WORLD!")
	if first.Slug != "hello-world" {
		t.Errorf("first slug = %q, want hello-world", first.Slug)
	}
	seen := map[string]bool{}
	for _, a := range []*apptest.Article{first, second, third} {
		if seen[a.Slug] {
			t.Errorf("slug %q given twice", a.Slug)
		}
		seen[a.Slug] = true
		if !strings.HasPrefix(a.Slug, "hello-world") || !acsSlugRE.MatchString(a.Slug) {
			t.Errorf("slug = %q, want hello-world with a URL-safe suffix", a.Slug)
		}
		if got := acsRead(t, e, "", a.Slug); got == nil || got.ID != a.ID {
			t.Errorf("article(slug: %q) = %+v, want article %s", a.Slug, got, a.ID)
		}
	}
}

func TestArticleSlugConcurrent(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	const n = 8
	res := make([]*apptest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res[i] = e.Query(t, alice.Token, acsCreateArticle, map[string]any{"in": acsArticleInput("Same Title", "go", "news")})
		})
	}
	wg.Wait()
	slugs := map[string]bool{}
	for i, r := range res {
		var out struct{ CreateArticle struct{ Article acsArticle } }
		r.Decode(t, &out)
		s := out.CreateArticle.Article.Slug
		if slugs[s] {
			t.Errorf("request %d got slug %q twice", i, s)
		}
		slugs[s] = true
		if !strings.HasPrefix(s, "same-title") || !acsSlugRE.MatchString(s) {
			t.Errorf("slug = %q, want same-title with a URL-safe suffix", s)
		}
	}
	if !slugs["same-title"] {
		t.Errorf("slugs = %v, want one of them plain same-title", slugs)
	}
	if got := e.Count(t, "articles"); got != n {
		t.Errorf("articles rows = %d, want %d", got, n)
	}
	// A retried insert must not have counted its tags twice.
	if got, want := acsTags(t, e, 0), []acsTag{{"go", n}, {"news", n}}; !slices.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
}

func TestArticleSlugOddTitles(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	for _, tc := range []struct {
		name, title, want string
	}{
		{"only punctuation", "?!?! ... ---", "article"},
		{"punctuation again", "!!!", "article-"},
		{"non-ASCII letters", "Ünïcödé ☃", ""},
		{"very long", strings.Repeat("word ", 51), "word-word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.CreateArticle(t, alice, tc.title)
			if !acsSlugRE.MatchString(a.Slug) || len(a.Slug) > 100 {
				t.Fatalf("slug = %q, want lower-case letters and digits between single dashes, short", a.Slug)
			}
			if !strings.HasPrefix(a.Slug, tc.want) {
				t.Errorf("slug = %q, want it to start with %q", a.Slug, tc.want)
			}
			if got := acsRead(t, e, "", a.Slug); got == nil || got.ID != a.ID {
				t.Errorf("article(slug: %q) = %+v, want article %s", a.Slug, got, a.ID)
			}
		})
	}
}

func TestArticleSlugKeptOnRename(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Original Title")
	var out struct{ UpdateArticle struct{ Article acsArticle } }
	e.MustQuery(t, alice.Token, acsUpdateArticle,
		map[string]any{"in": map[string]any{"slug": a.Slug, "title": "Brand New Title"}}, &out)
	if got := out.UpdateArticle.Article; got.Slug != "original-title" || got.Title != "Brand New Title" {
		t.Errorf("after rename slug, title = %q, %q; want original-title, Brand New Title", got.Slug, got.Title)
	}
	if got := acsRead(t, e, "", "original-title"); got == nil || got.Title != "Brand New Title" {
		t.Errorf("article(slug: original-title) = %+v, want the renamed article", got)
	}
	if got := acsRead(t, e, "", "brand-new-title"); got != nil {
		t.Errorf("article(slug: brand-new-title) = %+v, want null", got)
	}
}

func TestArticleUpdateAuthorization(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	a := e.CreateArticle(t, alice, "Mine", "go")
	original := acsRead(t, e, "", a.Slug)
	// Runs in order: the refusals first, then the author's update.
	for _, tc := range []struct {
		name  string
		token string
		slug  string
		want  string
	}{
		{"anonymous", "", a.Slug, "UNAUTHENTICATED"},
		{"someone else", bob.Token, a.Slug, "FORBIDDEN"},
		{"unknown slug", alice.Token, "missing", "NOT_FOUND"},
		{"the author", alice.Token, a.Slug, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			in := map[string]any{"slug": tc.slug, "title": "Changed", "body": "changed", "tags": []string{"rust"}}
			res := e.Query(t, tc.token, acsUpdateArticle, map[string]any{"in": in})
			if tc.want == "" {
				var out struct{ UpdateArticle struct{ Article acsArticle } }
				res.Decode(t, &out)
				if got := out.UpdateArticle.Article; got.Title != "Changed" || got.Body != "changed" || !slices.Equal(got.tagNames(), []string{"rust"}) {
					t.Errorf("updated article = %+v", got)
				}
				return
			}
			acsWantError(t, res, tc.want)
			acsSameRows(t, e, before)
			if got := acsRead(t, e, "", a.Slug); !reflect.DeepEqual(got, original) {
				t.Errorf("refused update changed the article:\n got %+v\nwant %+v", got, original)
			}
			if got, want := acsTags(t, e, 0), []acsTag{{"go", 1}}; !slices.Equal(got, want) {
				t.Errorf("tags = %v, want %v", got, want)
			}
		})
	}
}

func TestArticleUpdate(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Title", "go", "web")
	original := acsRead(t, e, "", a.Slug)

	update := func(t *testing.T, in map[string]any) acsArticle {
		t.Helper()
		in["slug"] = a.Slug
		var out struct{ UpdateArticle struct{ Article acsArticle } }
		e.MustQuery(t, alice.Token, acsUpdateArticle, map[string]any{"in": in}, &out)
		if read := acsRead(t, e, alice.Token, a.Slug); !reflect.DeepEqual(read, &out.UpdateArticle.Article) {
			t.Errorf("payload and a later read differ:\npayload %+v\n   read %+v", out.UpdateArticle.Article, read)
		}
		return out.UpdateArticle.Article
	}

	t.Run("omitted fields and tags are kept", func(t *testing.T) {
		got := update(t, map[string]any{"body": "**new** body"})
		if got.Title != original.Title || got.Description != original.Description || !slices.Equal(got.Tags, original.Tags) {
			t.Errorf("got %+v, want title, description and tags of %+v", got, *original)
		}
		if got.Body != "**new** body" || !strings.Contains(got.BodyHTML, "<strong>new</strong>") {
			t.Errorf("body, bodyHTML = %q, %q; want the new body rendered", got.Body, got.BodyHTML)
		}
		if got.CreatedAt != original.CreatedAt {
			t.Errorf("createdAt = %s, want %s", got.CreatedAt, original.CreatedAt)
		}
		if !acsTime(t, got.UpdatedAt).After(acsTime(t, original.UpdatedAt)) {
			t.Errorf("updatedAt = %s, want after %s", got.UpdatedAt, original.UpdatedAt)
		}
	})
	t.Run("tags replace the list", func(t *testing.T) {
		got := update(t, map[string]any{"tags": []string{"Web", "Rust Lang"}, "description": "  new  "})
		if want := []acsTag{{"rust-lang", 1}, {"web", 1}}; !slices.Equal(got.Tags, want) {
			t.Errorf("tags = %v, want %v", got.Tags, want)
		}
		if got.Description != "new" {
			t.Errorf("description = %q, want it trimmed", got.Description)
		}
	})
	t.Run("empty tags clear them", func(t *testing.T) {
		got := update(t, map[string]any{"tags": []string{}})
		if len(got.Tags) != 0 {
			t.Errorf("tags = %v, want none", got.Tags)
		}
		if n := e.Count(t, "article_tags"); n != 0 {
			t.Errorf("article_tags rows = %d, want 0", n)
		}
	})
}

func TestArticleUpdateValidation(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Title", "go")
	original := acsRead(t, e, "", a.Slug)
	for _, tc := range []struct {
		name   string
		change map[string]any
		fields []string
	}{
		{"blank title", map[string]any{"title": "  "}, []string{"title"}},
		{"title over 255 characters", map[string]any{"title": strings.Repeat("a", 256)}, []string{"title"}},
		{"description over 1000 characters", map[string]any{"description": strings.Repeat("d", 1001)}, []string{"description"}},
		{"blank body", map[string]any{"body": ""}, []string{"body"}},
		{"body of spaces", map[string]any{"body": " \n "}, []string{"body"}},
		{"bad tag", map[string]any{"tags": []string{"ok", "no way!"}}, []string{"tags"}},
		{"several fields at once", map[string]any{"title": "", "body": "", "tags": []string{"#"}}, []string{"title", "body", "tags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]any{"slug": a.Slug}
			maps.Copy(in, tc.change)
			before := e.Snapshot(t)
			res := e.Query(t, alice.Token, acsUpdateArticle, map[string]any{"in": in})
			acsWantError(t, res, "BAD_USER_INPUT", tc.fields...)
			acsSameRows(t, e, before)
			if got := acsRead(t, e, "", a.Slug); !reflect.DeepEqual(got, original) {
				t.Errorf("refused update changed the article:\n got %+v\nwant %+v", got, original)
			}
		})
	}
}

func TestArticleDeleteAuthorization(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	a := e.CreateArticle(t, alice, "Mine", "go")
	// Runs in order: the refusals first, then the author's delete.
	for _, tc := range []struct {
		name  string
		token string
		slug  string
		want  string
		kept  bool // whether the article is still there afterwards
	}{
		{"anonymous", "", a.Slug, "UNAUTHENTICATED", true},
		{"someone else", bob.Token, a.Slug, "FORBIDDEN", true},
		{"unknown slug", alice.Token, "missing", "NOT_FOUND", true},
		{"the author", alice.Token, a.Slug, "", false},
		{"the author again", alice.Token, a.Slug, "NOT_FOUND", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.Snapshot(t)
			res := e.Query(t, tc.token, acsDeleteArticle, map[string]any{"s": tc.slug})
			if tc.want == "" {
				var out struct {
					DeleteArticle struct{ DeletedArticleID string }
				}
				res.Decode(t, &out)
				if out.DeleteArticle.DeletedArticleID != a.ID {
					t.Errorf("deletedArticleId = %q, want %q", out.DeleteArticle.DeletedArticleID, a.ID)
				}
			} else {
				acsWantError(t, res, tc.want)
				acsSameRows(t, e, before)
			}
			if got := acsRead(t, e, "", a.Slug); (got != nil) != tc.kept {
				t.Errorf("article(slug:) = %+v afterwards, want it there: %v", got, tc.kept)
			}
		})
	}
}

func TestArticleDelete(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	gone := e.CreateArticle(t, alice, "Gone", "go", "solo")
	kept := e.CreateArticle(t, alice, "Kept", "go")
	for _, a := range []*apptest.Article{gone, kept} {
		e.AddComment(t, bob, a.Slug, "nice")
		e.AddComment(t, alice, a.Slug, "thanks")
		e.Favorite(t, bob, a.Slug)
		e.Favorite(t, alice, a.Slug)
	}
	before := e.Snapshot(t)

	var out struct {
		DeleteArticle struct{ DeletedArticleID string }
	}
	e.MustQuery(t, alice.Token, acsDeleteArticle, map[string]any{"s": gone.Slug}, &out)
	if out.DeleteArticle.DeletedArticleID != gone.ID {
		t.Errorf("deletedArticleId = %q, want %q", out.DeleteArticle.DeletedArticleID, gone.ID)
	}

	// In the trash, its rows are kept for a restore (trash_test.go); it is gone for
	// every reader.
	if got := e.Snapshot(t); !maps.Equal(got, before) {
		t.Errorf("rows after delete = %v, want %v", got, before)
	}
	var res struct {
		Article *struct{ ID string }
		Node    *struct{ ID string }
	}
	e.MustQuery(t, "", `query($s: String!, $id: ID!) { article(slug: $s) { id } node(id: $id) { id } }`,
		map[string]any{"s": gone.Slug, "id": gone.ID}, &res)
	if res.Article != nil || res.Node != nil {
		t.Errorf("article, node after delete = %+v, %+v; want null, null", res.Article, res.Node)
	}
	// The other article keeps its comments, favorites and tags.
	var other struct {
		Article struct {
			FavoritesCount int
			Tags           []acsTag
			Comments       struct{ TotalCount int }
		}
	}
	e.MustQuery(t, "", `query($s: String!) { article(slug: $s) { favoritesCount tags { name articlesCount } comments { totalCount } } }`,
		map[string]any{"s": kept.Slug}, &other)
	if a := other.Article; a.FavoritesCount != 2 || a.Comments.TotalCount != 2 || !slices.Equal(a.Tags, []acsTag{{"go", 1}}) {
		t.Errorf("kept article = %+v, want 2 favorites, 2 comments, tag go counted once", a)
	}
	if got, want := acsTags(t, e, 0), []acsTag{{"go", 1}}; !slices.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
}

func TestArticleTagCounts(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	a1 := e.CreateArticle(t, alice, "One", "go", "web")
	a2 := e.CreateArticle(t, bob, "Two", "Go")
	a3 := e.CreateArticle(t, alice, "Three", "go", "rust")

	steps := []struct {
		name string
		do   func(t *testing.T)
		want []acsTag
	}{
		{"after creates, most used first, ties by name", func(*testing.T) {}, []acsTag{{"go", 3}, {"rust", 1}, {"web", 1}}},
		{"update replacing tags", func(t *testing.T) {
			var out any
			e.MustQuery(t, alice.Token, acsUpdateArticle, map[string]any{"in": map[string]any{"slug": a3.Slug, "tags": []string{"go", "web"}}}, &out)
		}, []acsTag{{"go", 3}, {"web", 2}}},
		{"update without tags", func(t *testing.T) {
			var out any
			e.MustQuery(t, bob.Token, acsUpdateArticle, map[string]any{"in": map[string]any{"slug": a2.Slug, "title": "Two!"}}, &out)
		}, []acsTag{{"go", 3}, {"web", 2}}},
		{"update clearing tags", func(t *testing.T) {
			var out any
			e.MustQuery(t, bob.Token, acsUpdateArticle, map[string]any{"in": map[string]any{"slug": a2.Slug, "tags": []string{}}}, &out)
		}, []acsTag{{"go", 2}, {"web", 2}}},
		{"delete", func(t *testing.T) {
			var out any
			e.MustQuery(t, alice.Token, acsDeleteArticle, map[string]any{"s": a1.Slug}, &out)
		}, []acsTag{{"go", 1}, {"web", 1}}},
		{"new article", func(t *testing.T) { e.CreateArticle(t, bob, "Four", "web", "zig") }, []acsTag{{"web", 2}, {"go", 1}, {"zig", 1}}},
		{"last use gone", func(t *testing.T) {
			var out any
			e.MustQuery(t, alice.Token, acsDeleteArticle, map[string]any{"s": a3.Slug}, &out)
		}, []acsTag{{"web", 1}, {"zig", 1}}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			if got := acsTags(t, e, 0); !slices.Equal(got, st.want) {
				t.Fatalf("tags = %v, want %v", got, st.want)
			}
		})
	}
	if got := acsTags(t, e, 1); !slices.Equal(got, []acsTag{{"web", 1}}) {
		t.Errorf("tags(first: 1) = %v, want [web]", got)
	}
}

func TestArticleTagsFirst(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	for _, n := range []int{101, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			res := e.Query(t, "", acsReadTags, map[string]any{"n": n})
			acsWantError(t, res, "BAD_USER_INPUT", "first")
		})
	}
	t.Run("100", func(t *testing.T) {
		if got := acsTags(t, e, 100); len(got) != 0 {
			t.Errorf("tags = %v, want none", got)
		}
	})
}

func TestArticleBodyHTML(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	for _, tc := range []struct {
		name, body   string
		want, reject []string
	}{
		{"markdown", "## Sub\n\n- one\n- ~~two~~\n\n`code`", []string{`<h2 id="user-content-sub">sub</h2>`, "<li>one</li>", "<del>two</del>", "<code>code</code>"}, nil},
		{"code language", "```go\nfmt.Println()\n```", []string{`<code class="language-go">`}, nil},
		{"no ids from raw html", `<p id="top">x</p>`, nil, []string{`id="top"`}},
		{"table", "| a | b |\n|---|---|\n| 1 | 2 |", []string{"<table>", "<td>1</td>"}, nil},
		{"safe link", "[site](https://example.com/x)", []string{`href="https://example.com/x"`, `rel="nofollow noreferrer"`}, nil},
		{"script", "hi <script>alert(1)</script>", []string{"hi"}, []string{"<script", "</script"}},
		{"onerror", `<img src="x" onerror="alert(1)">`, nil, []string{"onerror"}},
		{"event handler inline", `a <b onmouseover="alert(1)">b</b>`, nil, []string{"onmouseover"}},
		{"javascript link", "[click](javascript:alert(1))", []string{"click"}, []string{"javascript:"}},
		{"javascript link mixed case", "[click](JaVaScRiPt:alert(1))", []string{"click"}, []string{"javascript:"}},
		{"javascript anchor", `<a href="javascript:alert(1)">click</a>`, nil, []string{"javascript:"}},
		{"iframe", `<iframe src="https://evil.example"></iframe>`, nil, []string{"<iframe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := acsArticleInput("Body " + tc.name)
			in["body"] = tc.body
			got := acsCreate(t, e, alice.Token, in)
			if got.Body != tc.body {
				t.Errorf("body = %q, want it stored as sent %q", got.Body, tc.body)
			}
			// Lower-cased, so JavaScript: in any case is caught.
			html := strings.ToLower(got.BodyHTML)
			for _, w := range tc.want {
				if !strings.Contains(html, w) {
					t.Errorf("bodyHTML = %q, want it to contain %q", got.BodyHTML, w)
				}
			}
			for _, r := range tc.reject {
				if strings.Contains(html, r) {
					t.Errorf("bodyHTML = %q, must not contain %q", got.BodyHTML, r)
				}
			}
		})
	}
}

func TestArticleNode(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	a := e.CreateArticle(t, alice, "Noded", "go")
	var out struct {
		Node *struct {
			Typename string `json:"__typename"`
			ID, Slug string
			Author   struct{ Username string }
		}
	}
	e.MustQuery(t, "", `query($id: ID!) { node(id: $id) { __typename id ... on Article { slug author { username } } } }`,
		map[string]any{"id": a.ID}, &out)
	if n := out.Node; n == nil || n.Typename != "Article" || n.ID != a.ID || n.Slug != a.Slug || n.Author.Username != "alice" {
		t.Errorf("node = %+v, want Article %s (%s) by alice", n, a.ID, a.Slug)
	}
}
