package app_test

import (
	"testing"

	"inkwell/internal/apptest"
)

func TestSmokeSignUpAndPublish(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Hello World", "Go", "graphql")
	var out struct {
		Article struct {
			Slug   string
			Author struct{ Username string }
			Tags   []struct{ Name string }
		}
	}
	e.MustQuery(t, "", `query($s: String!) { article(slug: $s) { slug author { username } tags { name } } }`,
		map[string]any{"s": art.Slug}, &out)
	if out.Article.Slug != "hello-world" || out.Article.Author.Username != "alice" || len(out.Article.Tags) != 2 {
		t.Fatalf("got %+v", out.Article)
	}
}
