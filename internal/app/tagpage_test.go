package app_test

import (
	"fmt"
	"slices"
	"testing"

	"inkwell/internal/apptest"
)

// A tag's page: the tag by name, with its published articles newest first.
func TestTagPage(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	first := e.CreateArticle(t, ada, "Older", "type-systems")
	e.CreateArticle(t, ada, "Untagged")
	second := e.CreateArticle(t, ada, "Newer", "type-systems", "go")
	var draft map[string]any
	e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
		"title": "Draft", "description": "", "body": "b", "tags": []string{"type-systems", "only-drafts"}, "publish": false}}, &draft)

	const q = `query($n: String!) { tag(name: $n) { name articlesCount articles(first: 10) { totalCount nodes { slug } } } }`
	var out struct {
		Tag *struct {
			Name          string
			ArticlesCount int
			Articles      struct {
				TotalCount int
				Nodes      []struct{ Slug string }
			}
		}
	}
	e.MustQuery(t, "", q, map[string]any{"n": "Type Systems"}, &out)
	if out.Tag == nil || out.Tag.Name != "type-systems" || out.Tag.ArticlesCount != 2 || out.Tag.Articles.TotalCount != 2 {
		t.Fatalf("tag = %+v", out.Tag)
	}
	var slugs []string
	for _, n := range out.Tag.Articles.Nodes {
		slugs = append(slugs, n.Slug)
	}
	if !slices.Equal(slugs, []string{second.Slug, first.Slug}) {
		t.Errorf("articles %v, want newest first without the draft", slugs)
	}
	for _, name := range []string{"nope", "only-drafts"} {
		out.Tag = nil
		e.MustQuery(t, ada.Token, q, map[string]any{"n": name}, &out)
		if out.Tag != nil {
			t.Errorf("tag %q = %+v, want null", name, out.Tag)
		}
	}
}

// A tag's page follows its articles' publication, whatever moves it, and pages alike
// forward, backward and by offset.
func TestTagPageFollowsPublication(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	var want []string
	for i := range 5 {
		want = append([]string{e.CreateArticle(t, ada, fmt.Sprintf("Tagged %d", i), "go").Slug}, want...)
	}
	const q = `query($n: Int, $after: String, $last: Int, $before: String) { articles(filter: {tag: "go"}, first: $n, after: $after, last: $last, before: $before) {
		totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { slug } } }`
	type page struct {
		Articles struct {
			TotalCount int
			PageInfo   struct {
				HasNextPage, HasPreviousPage bool
				StartCursor, EndCursor       *string
			}
			Nodes []struct{ Slug string }
		}
	}
	slugs := func(p page) []string {
		var out []string
		for _, n := range p.Articles.Nodes {
			out = append(out, n.Slug)
		}
		return out
	}
	list := func() []string {
		var p page
		e.MustQuery(t, "", q, map[string]any{"n": 50}, &p)
		return slugs(p)
	}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("tag page %v, want %v", got, want)
	}
	var p1, p2, back page
	e.MustQuery(t, "", q, map[string]any{"n": 2}, &p1)
	e.MustQuery(t, "", q, map[string]any{"n": 2, "after": *p1.Articles.PageInfo.EndCursor}, &p2)
	e.MustQuery(t, "", q, map[string]any{"last": 2, "before": *p2.Articles.PageInfo.EndCursor}, &back)
	if !slices.Equal(append(slugs(p1), slugs(p2)...), want[:4]) || !slices.Equal(slugs(back), want[1:3]) ||
		!p2.Articles.PageInfo.HasNextPage || !back.Articles.PageInfo.HasPreviousPage {
		t.Errorf("pages %v %v, back %v", slugs(p1), slugs(p2), slugs(back))
	}

	mutate := func(m string, vars map[string]any) {
		t.Helper()
		var out map[string]any
		e.MustQuery(t, ada.Token, m, vars, &out)
	}
	s := map[string]any{"s": want[1]}
	for _, step := range []struct {
		name, mutation string
		vars           map[string]any
		want           []string
	}{
		{"unpublished", `mutation($s: String!) { unpublishArticle(input: {slug: $s}) { article { slug } } }`, s, slices.Delete(slices.Clone(want), 1, 2)},
		{"published again", `mutation($s: String!) { publishArticle(input: {slug: $s}) { article { slug } } }`, s, append([]string{want[1], want[0]}, want[2:]...)},
		{"trashed", `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`, s, append([]string{want[0]}, want[2:]...)},
		{"restored", `mutation($s: String!) { restoreArticle(input: {slug: $s}) { article { slug } } }`, s, append([]string{want[1], want[0]}, want[2:]...)},
		{"retagged", `mutation($s: String!) { updateArticle(input: {slug: $s, tags: ["rust"]}) { article { slug } } }`, s, append([]string{want[0]}, want[2:]...)},
	} {
		mutate(step.mutation, step.vars)
		if got := list(); !slices.Equal(got, step.want) {
			t.Errorf("%s: tag page %v, want %v", step.name, got, step.want)
		}
	}
}
