package main

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"inkwell/internal/apptest"
	"inkwell/internal/seed"
)

func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

func TestWorkloadDocumentsAreValid(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(b)})
	if err != nil {
		t.Fatal(err)
	}
	files, err := documents.ReadDir("workloads")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, d := range []*doc{docHomeFeed, docArticlePage, docTags, docAddComment, docFavorite, docFollow, docSearch, docTagPage, docBell} {
		used[d.file] = true
	}
	for _, f := range files {
		t.Run(f.Name(), func(t *testing.T) {
			d := mustDoc(f.Name())
			q, errs := gqlparser.LoadQueryWithRules(schema, d.query, nil) // nil: the standard rules
			if len(errs) > 0 {
				t.Fatalf("not valid against schema.graphql: %v", errs)
			}
			if len(q.Operations) != 1 || q.Operations[0].Name != d.op {
				t.Errorf("want exactly one operation, named %s", d.op)
			}
			if !used[f.Name()] {
				t.Errorf("no workload sends it")
			}
		})
	}
}

// seeded is a server over a database seeded at size S, with a token for every user.
func seeded(t *testing.T) (*apptest.Env, *dataset) {
	t.Helper()
	e := apptest.New(t)
	ctx := context.Background()
	if err := seed.Run(ctx, e.DB, seed.Options{Size: seed.Sizes["S"], Seed: 1, Force: true}); err != nil {
		t.Fatal(err)
	}
	ds, err := loadDataset(ctx, e.DB)
	if err != nil {
		t.Fatal(err)
	}
	if err := ds.mintTokens(ctx, e.DB, e.App.Tokens); err != nil {
		t.Fatal(err)
	}
	return e, ds
}

// send sends c as the load generator would, and fails the test on any error.
func send(t *testing.T, e *apptest.Env, ds *dataset, c call) (*apptest.Response, map[string]json.RawMessage) {
	t.Helper()
	token := ""
	if c.viewer > 0 {
		token = ds.tokens[c.viewer-1]
	}
	res := e.Do(t, apptest.Request{Query: c.doc.query, Variables: c.vars, Token: token})
	var data map[string]json.RawMessage
	if res.Status != 200 {
		t.Fatalf("%s: HTTP %d: %s", c.doc.op, res.Status, res.Body)
	}
	res.Decode(t, &data)
	if len(data) != 1 {
		t.Fatalf("%s: data has %d fields: %s", c.doc.op, len(data), res.Body)
	}
	for k, v := range data {
		if string(v) == "null" {
			t.Fatalf("%s: %s is null: %s", c.doc.op, k, res.Body)
		}
	}
	return res, data
}

func TestWorkloadsReturnData(t *testing.T) {
	t.Parallel()
	e, ds := seeded(t)
	t.Run("every document", func(t *testing.T) {
		var feed struct {
			Feed struct{ Nodes []struct{ Slug string } }
		}
		res, _ := send(t, e, ds, homeFeed(ds))
		res.Decode(t, &feed)
		if n := len(feed.Feed.Nodes); n != 20 {
			t.Errorf("feed has %d articles, want 20", n)
		}
		var page struct{ Article struct{ Slug string } }
		c := articlePage(ds)
		res, _ = send(t, e, ds, c)
		res.Decode(t, &page)
		if page.Article.Slug != c.vars["slug"] {
			t.Errorf("article page of %q shows %q", c.vars["slug"], page.Article.Slug)
		}
		var tags struct {
			Tags struct{ Nodes []struct{ Name string } }
		}
		res, _ = send(t, e, ds, topTags(ds))
		res.Decode(t, &tags)
		if len(tags.Tags.Nodes) != 20 {
			t.Errorf("got %d tags, want 20", len(tags.Tags.Nodes))
		}
		var found struct {
			Search struct{ Edges []struct{ Highlight string } }
		}
		res, _ = send(t, e, ds, search(ds))
		res.Decode(t, &found)
		if len(found.Search.Edges) < searchWords-1 || len(found.Search.Edges) > searchWords {
			t.Errorf("search found %d articles, want %d (one per word; fewer when a word came twice)", len(found.Search.Edges), searchWords)
		}
		var tag struct {
			Tag *struct{ Articles struct{ Nodes []any } }
		}
		res, _ = send(t, e, ds, tagPage(ds))
		res.Decode(t, &tag)
		if tag.Tag == nil || len(tag.Tag.Articles.Nodes) == 0 {
			t.Errorf("tag page shows %+v", tag.Tag)
		}
		var notes struct {
			Viewer struct{ Notifications struct{ Nodes []any } }
		}
		res, _ = send(t, e, ds, bell(ds))
		res.Decode(t, &notes)
		if len(notes.Viewer.Notifications.Nodes) == 0 {
			t.Error("the seeded user has no notifications")
		}
		for _, c := range []call{addComment(ds), favorite(ds), follow(ds)} {
			send(t, e, ds, c)
		}
	})
	for _, w := range workloads {
		t.Run(w.name, func(t *testing.T) {
			for range 8 {
				send(t, e, ds, w.next(ds))
			}
		})
	}
}

func TestStatementCounts(t *testing.T) {
	t.Parallel()
	e, ds := seeded(t)
	// The viewer and article with the most to batch: a full feed, the most comments.
	var slug string
	if err := e.DB.QueryRow(`SELECT a.slug FROM articles a JOIN comments c ON c.article_id = a.id
		WHERE EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id)
		GROUP BY a.id ORDER BY count(*) DESC, a.id LIMIT 1`).Scan(&slug); err != nil {
		t.Fatal(err)
	}
	homeFeedCount := int64(-1)
	for _, first := range []int{5, 20, 50} {
		c := call{doc: docHomeFeed, viewer: 1, vars: map[string]any{"first": first}}
		res, _ := send(t, e, ds, c)
		var feed struct {
			Feed struct {
				Nodes []struct{ Comments struct{ Nodes []any } }
			}
		}
		res.Decode(t, &feed)
		if len(feed.Feed.Nodes) != first {
			t.Fatalf("feed(first: %d) has %d articles", first, len(feed.Feed.Nodes))
		}
		t.Logf("W1 feed(first: %d): %d SQL statements", first, res.Statements)
		if res.Statements > 8 {
			t.Errorf("W1 feed(first: %d) sent %d SQL statements, want at most 8", first, res.Statements)
		}
		if homeFeedCount >= 0 && res.Statements != homeFeedCount {
			t.Errorf("W1 feed(first: %d) sent %d SQL statements, but %d for a smaller page", first, res.Statements, homeFeedCount)
		}
		homeFeedCount = res.Statements
	}

	res, _ := send(t, e, ds, call{doc: docArticlePage, vars: map[string]any{"slug": slug}})
	var page struct {
		Article struct{ Comments struct{ Nodes []any } }
	}
	res.Decode(t, &page)
	t.Logf("W2 article page (%d comments): %d SQL statements", len(page.Article.Comments.Nodes), res.Statements)
	if len(page.Article.Comments.Nodes) != 20 {
		t.Errorf("article %s shows %d comments, want 20", slug, len(page.Article.Comments.Nodes))
	}
	if res.Statements > 5 {
		t.Errorf("W2 sent %d SQL statements, want at most 5", res.Statements)
	}

	res, _ = send(t, e, ds, topTags(ds))
	t.Logf("W3 tags: %d SQL statements", res.Statements)
	if res.Statements != 1 {
		t.Errorf("W3 sent %d SQL statements, want 1", res.Statements)
	}

	// W6-W8: the same statements for a page of 5 as for 20.
	for _, w := range []struct {
		name string
		c    call
		most int64
	}{
		{"W6 search", search(ds), 3},
		{"W7 tag page", tagPage(ds), 5},
		{"W8 notifications", bell(ds), 8},
	} {
		counts := map[int]int64{}
		for _, first := range []int{5, 20} {
			c := w.c
			c.vars = map[string]any{"first": first}
			for k, v := range w.c.vars {
				c.vars[k] = v
			}
			res, _ := send(t, e, ds, c)
			counts[first] = res.Statements
		}
		t.Logf("%s: %d SQL statements for 5, %d for 20", w.name, counts[5], counts[20])
		if counts[5] != counts[20] || counts[20] > w.most {
			t.Errorf("%s sent %d SQL statements for 5 and %d for 20, want the same, at most %d", w.name, counts[5], counts[20], w.most)
		}
	}
}
