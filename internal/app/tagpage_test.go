package app_test

import (
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
