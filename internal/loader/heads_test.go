package loader

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"inkwell/ent"
	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/markdown"
	"inkwell/internal/paging"
	"inkwell/internal/policy"
)

// A head is everything but the body columns, and the cache keeps heads and whole
// articles apart: a head never answers a read of the whole article.
func TestArticleHeadsLeaveOutTheBody(t *testing.T) {
	c := newClient(t)
	ctx := policy.System(context.Background())
	author := newUser(t, c, "ada")
	a := c.Article.Create().SetSlug("long").SetTitle("Long").SetDescription("d").
		SetBody("# Part one\n\ntext").SetBodyHTML("<h1 id=\"part-one\">Part one</h1>").
		SetToc(markdown.TOC{{Level: 1, Title: "Part one", Anchor: "part-one"}}).
		SetExcerpt("text").SetAuthorID(author.ID).SaveX(ctx)

	ec := cache.New(1 << 20)
	ec.SetListening(true)
	load := func() (head, whole, again string) {
		l := New(c, auth.Viewer{}, ec)
		h, err := l.ArticleHeadByID.Load(ctx, a.ID)()
		if err != nil {
			t.Fatal(err)
		}
		if h.Title != "Long" || h.Excerpt != "text" || h.AuthorID != author.ID || h.Slug != "long" {
			t.Errorf("head = %+v, want the article's title, excerpt, author and slug", h)
		}
		w, err := l.ArticleByID.Load(ctx, a.ID)()
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Toc) != 1 || w.BodyHTML == "" {
			t.Errorf("whole article's toc %v and HTML %q, want both", w.Toc, w.BodyHTML)
		}
		// A later head comes from whatever the cache holds.
		h2, err := New(c, auth.Viewer{}, ec).ArticleHeadByID.Load(ctx, a.ID)()
		if err != nil {
			t.Fatal(err)
		}
		return h.Body, w.Body, h2.Title
	}
	head, whole, again := load()
	if head != "" {
		t.Errorf("head's body = %q, want none read", head)
	}
	if whole != a.Body {
		t.Errorf("whole article's body = %q after a head was cached, want %q", whole, a.Body)
	}
	if again != "Long" {
		t.Errorf("cached head's title = %q", again)
	}
	// Twice more, now from the cache: still apart.
	head, whole, _ = load()
	if head != "" || whole != a.Body {
		t.Errorf("from the cache: head body %q, whole body %q", head, whole)
	}

	// The head of a missing article is not found, as the whole one is.
	if _, err := New(c, auth.Viewer{}, ec).ArticleHeadByID.Load(ctx, a.ID+1000)(); err == nil {
		t.Error("a head was found for an article that does not exist")
	}
}

// The cache's bound is one of memory: what its entries weigh is about what they take.
// Heads are mostly struct, which the weights once left out.
func TestCachedArticlesWeighWhatTheyTake(t *testing.T) {
	c := newClient(t)
	ctx := policy.System(context.Background())
	author := newUser(t, c, "ada")
	const n = 1000
	bulk := make([]*ent.ArticleCreate, n)
	for i := range bulk {
		bulk[i] = c.Article.Create().SetSlug(fmt.Sprintf("article-%d", i)).SetTitle(fmt.Sprintf("Article number %d", i)).
			SetDescription("What this article is about, in a sentence or two.").SetBody("body").
			SetExcerpt("The first words of the article, as a list shows them under its title.").SetAuthorID(author.ID)
	}
	ids := make([]int, n)
	for i, a := range c.Article.CreateBulk(bulk...).SaveX(ctx) {
		ids[i] = a.ID
	}

	ec, weighed, took := cacheFootprint(func(ec *cache.Cache) {
		if _, errs := New(c, auth.Viewer{}, ec).ArticleHeadByID.LoadAll(ctx, ids); errs != nil {
			t.Fatal(errs)
		}
	})
	t.Logf("%d heads cached: weighed %.0f bytes, took %.0f", ec.Stats().Entries, weighed, took)
	if ec.Stats().Entries != n {
		t.Fatalf("%d entries cached, want %d", ec.Stats().Entries, n)
	}
	if r := took / weighed; r < 0.6 || r > 1.5 {
		t.Errorf("heads take %.2f× what they weigh, want within 0.6–1.5×", r)
	}
}

// An article read with its page in one statement (PreloadArticlePage) is kept without
// that statement's row: the row's JSON of the comments is not part of what the cache
// weighs, and kept alive it made a page take twice its weight.
func TestCachedArticlePagesWeighWhatTheyTake(t *testing.T) {
	c := newClient(t)
	ctx := policy.System(context.Background())
	author := newUser(t, c, "ada")
	const n, per = 200, 20
	bulk := make([]*ent.ArticleCreate, n)
	for i := range bulk {
		bulk[i] = c.Article.Create().SetSlug(fmt.Sprintf("article-%d", i)).SetTitle(fmt.Sprintf("Article number %d", i)).
			SetDescription("d").SetBody("body").SetExcerpt("body").SetAuthorID(author.ID)
	}
	arts := c.Article.CreateBulk(bulk...).SaveX(ctx)
	body := strings.Repeat("A comment of a few words. ", 8)
	for _, a := range arts {
		comments := make([]*ent.CommentCreate, per)
		for k := range comments {
			comments[k] = c.Comment.Create().SetArticleID(a.ID).SetAuthorID(author.ID).SetBody(body)
		}
		c.Comment.CreateBulk(comments...).SaveX(ctx)
	}

	w := paging.Window{Limit: per}
	ec, weighed, took := cacheFootprint(func(ec *cache.Cache) {
		for _, a := range arts {
			New(c, auth.Viewer{}, ec).PreloadArticlePage(ctx, a.Slug, false, &w) // a request each
		}
	})
	t.Logf("%d article pages cached (%d entries): weighed %.0f bytes, took %.0f", n, ec.Stats().Entries, weighed, took)
	if ec.Stats().Entries != 3*n {
		t.Fatalf("%d entries cached, want %d: each article, its slug and its first comments", ec.Stats().Entries, 3*n)
	}
	if r := took / weighed; r < 0.6 || r > 1.3 {
		t.Errorf("article pages take %.2f× what they weigh, want within 0.6–1.3×", r)
	}
}

// cacheFootprint runs fill on an empty cache, and returns the cache with what it weighs
// after fill and how much the live heap grew meanwhile.
func cacheFootprint(fill func(ec *cache.Cache)) (ec *cache.Cache, weighed, took float64) {
	liveHeap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	ec = cache.New(64 << 20)
	ec.SetListening(true)
	before := liveHeap()
	fill(ec)
	took = float64(liveHeap()) - float64(before)
	return ec, float64(ec.Stats().Bytes), took
}
