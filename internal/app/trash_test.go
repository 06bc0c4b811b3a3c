package app_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

const (
	trTrash = `query { viewer { trash(first: 10) { totalCount nodes { slug status deletedAt
		comments(first: 5) { totalCount } } } } }`
	trRestore = `mutation($s: String!) { restoreArticle(input: {slug: $s}) { article { slug status publishedAt deletedAt
		favoritesCount tags { name articlesCount } comments(first: 5) { totalCount } } } }`
	trDelete = `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`
)

type trArticle struct {
	Slug, Status string
	PublishedAt  *string
	DeletedAt    *string
	Comments     struct{ TotalCount int }
	Tags         []acsTag
}

func trashOf(t *testing.T, e *apptest.Env, u *apptest.User) (int, []trArticle) {
	t.Helper()
	var out struct {
		Viewer struct {
			Trash struct {
				TotalCount int
				Nodes      []trArticle
			}
		}
	}
	e.MustQuery(t, u.Token, trTrash, nil, &out)
	return out.Viewer.Trash.TotalCount, out.Viewer.Trash.Nodes
}

// publicSlugs are the slugs of the first page of articles, as anyone sees them.
func publicSlugs(t *testing.T, e *apptest.Env, token string) []string {
	t.Helper()
	var out struct {
		Articles struct{ Nodes []struct{ Slug string } }
	}
	e.MustQuery(t, token, `{ articles(first: 20) { nodes { slug } } }`, nil, &out)
	var slugs []string
	for _, n := range out.Articles.Nodes {
		slugs = append(slugs, n.Slug)
	}
	return slugs
}

func TestTrashAndRestore(t *testing.T) {
	t.Parallel()
	eachCache(t, func(t *testing.T, e *apptest.Env) {
		ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
		a := e.CreateArticle(t, ada, "Regretted", "go")
		e.AddComment(t, bob, a.Slug, "nice")
		e.Favorite(t, bob, a.Slug)
		var created struct {
			CreateArticle struct{ Article struct{ Slug string } }
		}
		e.MustQuery(t, ada.Token, dCreate, map[string]any{"in": map[string]any{
			"title": "A draft", "description": "", "body": "b", "publish": false}}, &created)
		draft := created.CreateArticle.Article.Slug
		_ = publicSlugs(t, e, bob.Token) // read before, so caches hold the list

		var del struct {
			DeleteArticle struct{ DeletedArticleID string }
		}
		e.MustQuery(t, ada.Token, trDelete, map[string]any{"s": a.Slug}, &del)
		e.MustQuery(t, ada.Token, trDelete, map[string]any{"s": draft}, &del)

		// Gone for everyone, its author included, but for the trash.
		for _, who := range []*apptest.User{ada, bob} {
			if slices.Contains(publicSlugs(t, e, who.Token), a.Slug) {
				t.Errorf("%s still lists the deleted article", who.Username)
			}
			var got struct{ Article *struct{ Slug string } }
			e.MustQuery(t, who.Token, `query($s: String!) { article(slug: $s) { slug } }`, map[string]any{"s": a.Slug}, &got)
			if got.Article != nil {
				t.Errorf("%s finds the deleted article by slug", who.Username)
			}
		}
		if got, want := acsTags(t, e, 0), []acsTag(nil); !slices.Equal(got, want) {
			t.Errorf("tags after delete = %v, want none counted", got)
		}
		n, trash := trashOf(t, e, ada)
		if n != 2 || len(trash) != 2 || trash[0].Slug != draft || trash[1].Slug != a.Slug ||
			trash[1].Status != "PUBLISHED" || trash[0].Status != "DRAFT" || trash[1].DeletedAt == nil || trash[1].Comments.TotalCount != 1 {
			t.Fatalf("ada's trash = %d %+v, want the draft then the article, most recent first", n, trash)
		}
		if n, trash := trashOf(t, e, bob); n != 0 || len(trash) != 0 {
			t.Errorf("bob's trash = %d %+v, want empty", n, trash)
		}
		var bobSeesAdas struct {
			User struct{ Trash struct{ TotalCount int } }
		}
		e.MustQuery(t, bob.Token, `{ user(username: "ada") { trash { totalCount } } }`, nil, &bobSeesAdas)
		if bobSeesAdas.User.Trash.TotalCount != 0 {
			t.Errorf("bob sees %d articles in ada's trash", bobSeesAdas.User.Trash.TotalCount)
		}

		// Refused, changing nothing.
		before := e.Snapshot(t)
		for _, tc := range []struct {
			name, token, query, want string
		}{
			{"edit in the trash", ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, body: "x"}) { article { slug } } }`, "CONFLICT"},
			{"publish from the trash", ada.Token, `mutation($s: String!) { publishArticle(input: {slug: $s}) { article { slug } } }`, "CONFLICT"},
			{"delete again", ada.Token, trDelete, "NOT_FOUND"},
			{"comment", bob.Token, `mutation($s: String!) { addComment(input: {articleSlug: $s, body: "x"}) { comment { id } } }`, "NOT_FOUND"},
			{"restore someone else's", bob.Token, trRestore, "NOT_FOUND"},
			{"restore anonymously", "", trRestore, "UNAUTHENTICATED"},
		} {
			if r := e.Query(t, tc.token, tc.query, map[string]any{"s": a.Slug}); r.Code() != tc.want {
				t.Errorf("%s: %s, want %s", tc.name, r.Body, tc.want)
			}
		}
		if after := e.Snapshot(t); !maps.Equal(before, after) {
			t.Errorf("refusals wrote: %v -> %v", before, after)
		}

		var restored struct {
			RestoreArticle struct {
				Article struct {
					trArticle
					FavoritesCount int
				}
			}
		}
		e.MustQuery(t, ada.Token, trRestore, map[string]any{"s": a.Slug}, &restored)
		got := restored.RestoreArticle.Article
		if got.Status != "PUBLISHED" || got.PublishedAt == nil || got.DeletedAt != nil || got.FavoritesCount != 1 ||
			got.Comments.TotalCount != 1 || !slices.Equal(got.Tags, []acsTag{{"go", 1}}) {
			t.Fatalf("restored = %+v, want published with its comment, favorite and tag count back", got)
		}
		if !slices.Contains(publicSlugs(t, e, bob.Token), a.Slug) {
			t.Error("the restored article is not listed")
		}
		// Again is not an error; the draft comes back a draft.
		e.MustQuery(t, ada.Token, trRestore, map[string]any{"s": a.Slug}, &restored)
		e.MustQuery(t, ada.Token, trRestore, map[string]any{"s": draft}, &restored)
		if s := restored.RestoreArticle.Article.Status; s != "DRAFT" {
			t.Errorf("restored draft has status %s", s)
		}
		if n, _ := trashOf(t, e, ada); n != 0 {
			t.Errorf("trash holds %d after the restores", n)
		}
	})
}

// The purge job deletes what has been in the trash longer than the retention, with its
// comments and favorites, and only that; with two instances running it, each article
// is purged once (the DELETE takes rows with SKIP LOCKED; a second delete finds none).
func TestTrashPurge(t *testing.T) {
	t.Parallel()
	retention := func(c *config.Config) { c.TrashRetention = 2 * time.Second }
	e := apptest.New(t, apptest.WithConfig(retention))
	_ = e.Peer(t, apptest.WithConfig(retention))
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	old := e.CreateArticle(t, ada, "Old news", "go")
	e.AddComment(t, bob, old.Slug, "first")
	e.Favorite(t, bob, old.Slug)
	kept := e.CreateArticle(t, ada, "Still here")
	var del struct {
		DeleteArticle struct{ DeletedArticleID string }
	}
	e.MustQuery(t, ada.Token, trDelete, map[string]any{"s": old.Slug}, &del)

	deadline := time.Now().Add(30 * time.Second)
	for e.Count(t, "articles") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d articles after 30 s, want the trashed one purged", e.Count(t, "articles"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c, f := e.Count(t, "comments"), e.Count(t, "favorites"); c != 0 || f != 0 {
		t.Errorf("after the purge: %d comments, %d favorites; want none", c, f)
	}
	if slugs := publicSlugs(t, e, ""); !slices.Equal(slugs, []string{kept.Slug}) {
		t.Errorf("articles = %v, want only %s", slugs, kept.Slug)
	}
	if r := e.Query(t, ada.Token, trRestore, map[string]any{"s": old.Slug}); r.Code() != "NOT_FOUND" {
		t.Errorf("restore after the purge: %s", r.Body)
	}
}
