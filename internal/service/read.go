package service

import (
	"context"
	"strings"

	"entgo.io/ent/dialect/sql"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/favorite"
	"inkwell/ent/predicate"
	"inkwell/ent/tag"
	"inkwell/ent/user"
	"inkwell/internal/apperr"
	"inkwell/internal/cache"
	"inkwell/internal/paging"
)

// ArticleFilter narrows the article list; empty fields do not filter.
type ArticleFilter struct {
	Tag, Author, FavoritedBy string
}

// ArticleList is a page of articles, by id, and a way to count the whole list. Only the
// ids come from the list's query: the articles themselves are read through the request's
// loaders, which most often find them in the shared cache.
type ArticleList struct {
	Page  paging.Page[int]
	Count func(context.Context) (int, error)
}

// ArticleOrder is how a list of articles is sorted; the zero value is newest first.
type ArticleOrder string

// The sort orders: each descending, ties newest first.
const (
	Newest        ArticleOrder = ""
	MostFavorited ArticleOrder = "most_favorited"
	MostCommented ArticleOrder = "most_commented"
	Trending      ArticleOrder = "trending"
)

// listOrderOf is the list order of o.
func listOrderOf(o ArticleOrder) (listOrder, error) {
	ranked := func(col string, rank func(*ent.Article) float64) listOrder {
		return listOrder{col: article.FieldPublishedAt, rank: col, key: func(a *ent.Article) paging.Key {
			k := ArticleKey(a)
			k.Rank, k.Ranked = rank(a), true
			return k
		}}
	}
	switch o {
	case Newest:
		return byPublication, nil
	case MostFavorited:
		return ranked(article.FieldFavoritesCount, func(a *ent.Article) float64 { return float64(a.FavoritesCount) }), nil
	case MostCommented:
		return ranked(article.FieldCommentsCount, func(a *ent.Article) float64 { return float64(a.CommentsCount) }), nil
	case Trending:
		return ranked(article.FieldTrendingScore, func(a *ent.Article) float64 { return a.TrendingScore }), nil
	}
	return listOrder{}, apperr.BadInput("orderBy", "is not a sort order")
}

// Articles lists articles in order o (newest first by default).
func (s *Service) Articles(ctx context.Context, w paging.Window, f ArticleFilter, o ArticleOrder) (ArticleList, error) {
	by, err := listOrderOf(o)
	if err != nil {
		return ArticleList{}, err
	}
	var preds, pagePreds []predicate.Article
	if t := strings.TrimSpace(f.Tag); t != "" {
		preds = append(preds, article.HasTagsWith(tag.Name(tagName(t))))
		if by.rank == "" {
			pagePreds = append(pagePreds, tagPage(w, tagName(t)))
		}
	}
	if a := strings.TrimSpace(f.Author); a != "" {
		preds = append(preds, article.HasAuthorWith(user.UsernameKey(strings.ToLower(a))))
	}
	if fb := strings.TrimSpace(f.FavoritedBy); fb != "" {
		preds = append(preds, article.HasFavoritesWith(favorite.HasUserWith(user.UsernameKey(strings.ToLower(fb)))))
	}
	if len(preds) > 0 {
		// Tags, names and favorites decide these lists too; no key names them, so what is
		// built from them is not kept.
		return s.articleListPaged(ctx, w, uncovered, by, publishedOnly(preds...), pagePreds...)
	}
	if by.rank != "" {
		// Every favorite and comment may reorder these; no key names them all.
		return s.articleListPaged(ctx, w, uncovered, by, publishedOnly(), rankPage(w, by.rank))
	}
	// Only publishing, unpublishing or deleting an article changes the whole list.
	cache.Note(ctx, cache.ArticleLists, 0)
	return s.articleListPaged(ctx, w, cache.Covered, by, publishedOnly())
}

// tagPage narrows a newest-first list to the page's rows of the tag's published articles,
// read from the (tag_id, published_at, article_id) index of article_tags in list order, so
// a popular tag's page reads its page, not every article of the tag.
func tagPage(w paging.Window, name string) predicate.Article {
	return func(sel *sql.Selector) {
		sel.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(sel.C(article.FieldID) + ` IN (SELECT t.article_id FROM article_tags t
				WHERE t.tag_id = (SELECT id FROM tags WHERE name = `).Arg(name).WriteString(`) AND t.published_at IS NOT NULL`)
			pageTail(b, w, true, "t.published_at", "t.article_id")
			b.WriteString(`)`)
		}))
	}
}

// rankPage narrows a ranked list of all published articles to the page's rows, read in
// list order from article_ranks' index of the rank (the same values as the articles'
// columns, kept by a trigger in the same transaction).
func rankPage(w paging.Window, rank string) predicate.Article {
	return func(sel *sql.Selector) {
		sel.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(sel.C(article.FieldID) + ` IN (SELECT r.article_id FROM article_ranks r WHERE true`)
			pageTail(b, w, true, "r."+rank, "r.published_at", "r.article_id")
			b.WriteString(`)`)
		}))
	}
}

// pageTail ends a subquery that picks a page's rows in list order by cols (the list's key:
// [rank,] time, id, each descending in list order): w's cursor bounds when bounded, the
// order (turned round when w pages backward), and as many rows as the page needs.
func pageTail(b *sql.Builder, w paging.Window, bounded bool, cols ...string) {
	bound := func(k *paging.Key, op string) {
		if k == nil || !bounded {
			return
		}
		vals := []any{k.Time, k.ID}
		if len(cols) == 3 {
			vals = append([]any{k.Rank}, vals...)
		}
		b.WriteString(` AND (` + strings.Join(cols, ", ") + `) ` + op + ` (`)
		for i, v := range vals {
			if i > 0 {
				b.Comma()
			}
			b.Arg(v)
		}
		b.WriteString(`)`)
	}
	bound(w.After, "<")
	bound(w.Before, ">")
	dir := " DESC"
	if w.Backward {
		dir = " ASC"
	}
	b.WriteString(` ORDER BY ` + strings.Join(cols, dir+", ") + dir + ` LIMIT `).Arg(w.Offset + w.Limit + 1)
}

// publishedOnly is preds and published articles only: the lists of everyone's articles.
func publishedOnly(preds ...predicate.Article) []predicate.Article {
	return append(preds, article.StatusEQ(article.StatusPublished))
}

// uncovered runs a list's statements as they are: see cache.Covered.
func uncovered(ctx context.Context) context.Context { return ctx }

// Feed lists articles by the authors the viewer follows and articles with a tag the
// viewer follows, newest first, each once.
func (s *Acting) Feed(ctx context.Context, w paging.Window) (ArticleList, error) {
	uid := s.viewer.UserID
	// The page's ids are the first of each source, each read in list order from an index,
	// so only the page's rows are read, not every article of every followed author or
	// tag: per followed author from (author_id, published_at, id); per followed tag from
	// article_tags (tag_id, published_at, article_id), whose published_at is set only
	// while the article is published. UNION removes an article both sources give, and
	// DISTINCT ON one that two followed tags give; the outer query (articleListPaged) orders,
	// skips and cuts the page. The viewer is an argument, never in the text: one statement
	// for every viewer, prepared once per connection (internal/stmtcache).
	page := sql.P(func(b *sql.Builder) {
		b.WriteString(`articles.id IN ((SELECT a.id FROM articles a WHERE a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = `).
			Arg(uid).WriteString(`) AND a.status = 'published'`)
		pageTail(b, w, true, "a.published_at", "a.id")
		b.WriteString(`) UNION (SELECT x.article_id FROM (SELECT DISTINCT ON (x.published_at, x.article_id) x.article_id, x.published_at
			FROM tag_follows f
			CROSS JOIN LATERAL (SELECT t.article_id, t.published_at FROM article_tags t
			  WHERE t.tag_id = f.tag_id AND t.published_at IS NOT NULL`)
		pageTail(b, w, true, "t.published_at", "t.article_id")
		b.WriteString(`) x WHERE f.user_id = `).Arg(uid)
		pageTail(b, w, false, "x.published_at", "x.article_id")
		b.WriteString(`) x))`)
	})
	// The feed changes when the viewer follows or unfollows an author or a tag, when an
	// article is published, unpublished or deleted, or when its tags change; an article's
	// edits keep its place (the list is by publication).
	cache.Note(ctx, cache.ArticleLists, 0)
	cache.Note(ctx, cache.TagCounts, 0)
	cache.Note(ctx, cache.FollowsOf, uid)
	l, err := s.articleListPaged(ctx, w, cache.Covered, byPublication, publishedOnly(),
		func(sel *sql.Selector) { sel.Where(page) })
	if err != nil {
		return ArticleList{}, err
	}
	// The whole feed, counted only when asked for: by a followed author, or with a
	// followed tag.
	followed := sql.P(func(b *sql.Builder) {
		b.WriteString(`(articles.author_id IN (SELECT followee_id FROM follows WHERE follower_id = `).Arg(uid).
			WriteString(`) OR articles.id IN (SELECT t.article_id FROM article_tags t JOIN tag_follows f ON f.tag_id = t.tag_id
				WHERE f.user_id = `).Arg(uid).WriteString(` AND t.published_at IS NOT NULL))`)
	})
	l.Count = func(ctx context.Context) (int, error) {
		return s.db.Article.Query().Where(publishedOnly(func(sel *sql.Selector) { sel.Where(followed) })...).Count(cache.Covered(ctx))
	}
	return l, nil
}

// listOrder is a list's order, newest first by a time column (after a rank column, when
// rank is set), and its cursors' key.
type listOrder struct {
	col  string
	rank string
	key  func(*ent.Article) paging.Key
}

var (
	// byPublication orders published articles.
	byPublication = listOrder{col: article.FieldPublishedAt, key: ArticleKey}
	// byUpdate orders drafts, last changed first.
	byUpdate = listOrder{col: article.FieldUpdatedAt, key: func(a *ent.Article) paging.Key {
		return paging.Key{Time: a.UpdatedAt, ID: a.ID}
	}}
)

// articleListPaged lists the articles matching preds; pagePreds narrow only the page
// query (not the count), for lists that pick a page's rows more cleverly. cover is
// cache.Covered when the caller noted every key the list depends on, else uncovered.
func (s *Service) articleListPaged(ctx context.Context, w paging.Window, cover func(context.Context) context.Context,
	by listOrder, preds []predicate.Article, pagePreds ...predicate.Article,
) (ArticleList, error) {
	for _, c := range []*paging.Key{w.After, w.Before} {
		if c != nil && c.Ranked != (by.rank != "") {
			return ArticleList{}, apperr.BadInput(map[bool]string{true: "after", false: "before"}[c == w.After],
				"is a cursor of another sort order")
		}
	}
	q := s.db.Article.Query().Where(preds...)
	count := func(ctx context.Context) (int, error) { return q.Clone().Count(cover(ctx)) }
	page := q.Clone().Where(pagePreds...)
	cols := []string{article.FieldID, by.col}
	if by.rank != "" {
		page.Where(rankedKeyset(w, by.rank, by.col)).Order(rankedOrder(w, by.rank, by.col)...)
		cols = append(cols, by.rank)
	} else {
		page.Where(keyset(w, true, by.col, article.FieldID)).Order(order[article.OrderOption](w, true, by.col, article.FieldID)...)
	}
	page.Limit(w.Limit + 1)
	if w.Offset > 0 {
		page.Offset(w.Offset)
	}
	rows, err := page.Select(cols...).All(cover(ctx))
	if err != nil {
		return ArticleList{}, err
	}
	p := paging.Cut(w, rows, by.key)
	ids := make([]int, len(p.Items))
	for i, a := range p.Items {
		ids[i] = a.ID
	}
	return ArticleList{Page: paging.Page[int]{Items: ids, Keys: p.Keys, HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage},
		Count: count}, nil
}

// ArticleKey is a published article's place in newest-first lists.
func ArticleKey(a *ent.Article) paging.Key {
	k := paging.Key{ID: a.ID}
	if a.PublishedAt != nil {
		k.Time = *a.PublishedAt
	}
	return k
}

// keyset narrows a query to w's after/before cursors, for a list ordered by
// (timeCol, idCol), descending when desc.
func keyset(w paging.Window, desc bool, timeCol, idCol string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		cols := []string{s.C(timeCol), s.C(idCol)}
		// In list order, "after" is further along: smaller keys when the list descends.
		if w.After != nil {
			if desc {
				s.Where(sql.CompositeLT(cols, w.After.Time, w.After.ID))
			} else {
				s.Where(sql.CompositeGT(cols, w.After.Time, w.After.ID))
			}
		}
		if w.Before != nil {
			if desc {
				s.Where(sql.CompositeGT(cols, w.Before.Time, w.Before.ID))
			} else {
				s.Where(sql.CompositeLT(cols, w.Before.Time, w.Before.ID))
			}
		}
	}
}

// rankedKeyset narrows a query to w's cursors in a list ordered by (rank, time, id), all
// descending.
func rankedKeyset(w paging.Window, rankCol, timeCol string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		cols := []string{s.C(rankCol), s.C(timeCol), s.C(article.FieldID)}
		if k := w.After; k != nil {
			s.Where(sql.CompositeLT(cols, k.Rank, k.Time, k.ID))
		}
		if k := w.Before; k != nil {
			s.Where(sql.CompositeGT(cols, k.Rank, k.Time, k.ID))
		}
	}
}

// rankedOrder sorts by (rank, time, id) descending, or ascending when w pages backward.
func rankedOrder(w paging.Window, rankCol, timeCol string) []article.OrderOption {
	opt := sql.OrderDesc()
	if w.Backward {
		opt = sql.OrderAsc()
	}
	return []article.OrderOption{sql.OrderByField(rankCol, opt).ToFunc(), sql.OrderByField(timeCol, opt).ToFunc(),
		sql.OrderByField(article.FieldID, opt).ToFunc()}
}

// order sorts in list order, or against it when w pages backward (the page is turned
// back round by paging.Cut).
func order[O ~func(*sql.Selector)](w paging.Window, desc bool, timeCol, idCol string) []O {
	if w.Backward {
		desc = !desc
	}
	opt := sql.OrderAsc()
	if desc {
		opt = sql.OrderDesc()
	}
	return []O{sql.OrderByField(timeCol, opt).ToFunc(), sql.OrderByField(idCol, opt).ToFunc()}
}
