package loader

import (
	"context"
	"encoding/json"
	"strings"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/internal/cache"
	"inkwell/internal/paging"
)

// The first sight of an article page costs three statements in two round trips: the
// article by its slug, then its tags and its first comments, which need its id. When
// the cache knows nothing of the article, PreloadArticlePage asks for all three in one
// statement, the tags and the comments as JSON beside the article's columns, and puts
// each where its own loader would: in the request's loaders and in the shared cache.

// articlePageRow is an article with its tags and a page of its comments, as JSON.
type articlePageRow struct {
	ent.Article
	PageTags     []byte `json:"page_tags"`
	PageComments []byte `json:"page_comments"`
}

// PreloadArticlePage loads the article at slug together with its tags (when tags) and
// the page of its top-level comments in window w (when w is not nil and has no cursor:
// a first page, as an article page shows), if neither this request nor the cache has
// the article yet; a slug that names no article is answered null. Otherwise it does
// nothing: the loaders answer as usual.
func (l *Loaders) PreloadArticlePage(ctx context.Context, slug string, tags bool, w *paging.Window) {
	if w != nil && (w.After != nil || w.Before != nil || w.Backward) {
		w = nil
	}
	if !tags && w == nil {
		return
	}
	if _, ok := l.ArticleBySlug.cached(ctx, slug); ok {
		return
	}
	b := l.b
	if id, ok := cache.PeekSlug(b.cache, slug); ok {
		if _, ok := cache.Peek[*ent.Article](b.cache, cache.Article, id); ok {
			return
		}
	}
	slugE, articleE := b.cache.Epoch(cache.Slug), b.cache.Epoch(cache.Article)
	tagsE, commentsE := b.cache.Epoch(cache.Tags), b.cache.Epoch(cache.Comments)

	q := `SELECT ` + strings.Join(columns("a", article.Columns), ", ")
	args := []any{slug}
	if tags {
		// The columns fetchTags reads, in its order.
		q += `, (SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name,
		        'articles_count', t.articles_count, 'created_at', t.created_at) ORDER BY t.name), '[]')
		     FROM ` + tagLinks + `
		    WHERE at.article_id = a.id) AS page_tags`
	}
	var k PageKey
	if w != nil {
		k = NewPageKey(0, *w)
		args = append(args, k.Limit+1)
		q += `, (SELECT coalesce(json_agg(x ORDER BY x.page_time, x.page_id), '[]')
		     FROM (` + commentList.rows(k, "a.id", "", "$2") + `) x) AS page_comments`
	}
	q += ` FROM articles a WHERE a.slug = $1`

	var rows []articlePageRow
	// The keys the loaders would note are noted here, so the statement is covered.
	if err := queryScan(cache.Covered(ctx), b.db, q, args, &rows); err != nil || len(rows) > 1 {
		return // the loaders read it again, and report any error
	}
	if len(rows) == 0 {
		// As articlesBySlug answers a slug that names nothing: null, until an article
		// takes the slug.
		cache.Note(ctx, cache.ArticleLists, 0)
		l.ArticleBySlug.Prime(ctx, slug, nil)
		return
	}
	r := &rows[0]
	// A copy: a pointer into the row would keep its JSON alive in the cache, unweighed.
	a := new(ent.Article)
	*a = r.Article
	var (
		ts    []*ent.Tag
		items []entry[*ent.Comment]
	)
	if tags {
		if err := json.Unmarshal(r.PageTags, &ts); err != nil {
			return
		}
	}
	if w != nil {
		var cs []commentRow
		if err := json.Unmarshal(r.PageComments, &cs); err != nil {
			return
		}
		for i := range cs {
			at, c := cs[i].split()
			items = append(items, entry[*ent.Comment]{c, at.key})
		}
	}

	b.keepBySlug(ctx, slugE, articleE, a)
	l.ArticleBySlug.Prime(ctx, slug, a)
	if tags {
		cache.Note(ctx, cache.Tags, a.ID)
		cache.Fill(b.cache, tagsE, a.ID, ts, tagsWeight(ts))
		l.TagsByArticle.Prime(ctx, a.ID, ts)
	}
	if w != nil {
		k.ParentID = a.ID
		page := cut(*w, items)
		cache.Note(ctx, cache.Comments, a.ID)
		b.keepCommentPage(ctx, commentsE, k, page)
		l.Comments.Prime(ctx, k, page)
	}
}
