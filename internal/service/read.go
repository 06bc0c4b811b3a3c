package service

import (
	"context"
	"strings"

	"entgo.io/ent/dialect/sql"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/favorite"
	"inkwell/ent/follow"
	"inkwell/ent/predicate"
	"inkwell/ent/tag"
	"inkwell/ent/user"
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

// Articles lists articles newest first.
func (s *Service) Articles(ctx context.Context, w paging.Window, f ArticleFilter) (ArticleList, error) {
	var preds []predicate.Article
	if t := strings.TrimSpace(f.Tag); t != "" {
		preds = append(preds, article.HasTagsWith(tag.Name(strings.Join(strings.Fields(strings.ToLower(t)), "-"))))
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
		return s.articleListPaged(ctx, w, uncovered, byPublication, publishedOnly(preds...))
	}
	// Only publishing, unpublishing or deleting an article changes the whole list.
	cache.Note(ctx, cache.ArticleLists, 0)
	return s.articleListPaged(ctx, w, cache.Covered, byPublication, publishedOnly())
}

// publishedOnly is preds and published articles only: the lists of everyone's articles.
func publishedOnly(preds ...predicate.Article) []predicate.Article {
	return append(preds, article.StatusEQ(article.StatusPublished))
}

// uncovered runs a list's statements as they are: see cache.Covered.
func uncovered(ctx context.Context) context.Context { return ctx }

// Feed lists articles by the authors the viewer follows, newest first.
func (s *Acting) Feed(ctx context.Context, w paging.Window) (ArticleList, error) {
	v := s.viewer
	followedBy := func(sel *sql.Selector) {
		f := sql.Table(follow.Table)
		sel.Where(sql.In(sel.C(article.FieldAuthorID),
			sql.Select(f.C(follow.FieldFolloweeID)).From(f).Where(sql.EQ(f.C(follow.FieldFollowerID), v.UserID))))
	}
	// The page's ids are chosen from the (author_id, created_at, id) index alone, so only
	// the rows of the page are read from the table, not every article of every followed
	// author (which grows with the data and falls out of cache on large databases).
	page := func(sel *sql.Selector) {
		a := sql.Table(article.Table).As("feed_page")
		ids := sql.Select(a.C(article.FieldID)).From(a)
		followedBy(ids)
		ids.Where(sql.EQ(a.C(article.FieldStatus), article.StatusPublished.String()))
		keyset(w, true, article.FieldPublishedAt, article.FieldID)(ids)
		dir := sql.Desc
		if w.Backward {
			dir = sql.Asc
		}
		// The rows an offset skips too: the outer query (articleListPaged) skips them.
		ids.OrderBy(dir(a.C(article.FieldPublishedAt)), dir(a.C(article.FieldID))).Limit(w.Offset + w.Limit + 1)
		sel.Where(sql.In(sel.C(article.FieldID), ids))
	}
	// The feed changes when the viewer follows or unfollows, or an article is published,
	// unpublished or deleted; an article's edits keep its place (the list is by publication).
	cache.Note(ctx, cache.ArticleLists, 0)
	cache.Note(ctx, cache.FollowsOf, v.UserID)
	return s.articleListPaged(ctx, w, cache.Covered, byPublication, publishedOnly(followedBy), page)
}

// listOrder is a list's order, newest first by a time column, and its cursors' key.
type listOrder struct {
	col string
	key func(*ent.Article) paging.Key
}

var (
	// byPublication orders published articles.
	byPublication = listOrder{article.FieldPublishedAt, ArticleKey}
	// byUpdate orders drafts, last changed first.
	byUpdate = listOrder{article.FieldUpdatedAt, func(a *ent.Article) paging.Key {
		return paging.Key{Time: a.UpdatedAt, ID: a.ID}
	}}
)

// articleListPaged lists the articles matching preds; pagePreds narrow only the page
// query (not the count), for lists that pick a page's rows more cleverly. cover is
// cache.Covered when the caller noted every key the list depends on, else uncovered.
func (s *Service) articleListPaged(ctx context.Context, w paging.Window, cover func(context.Context) context.Context,
	by listOrder, preds []predicate.Article, pagePreds ...predicate.Article,
) (ArticleList, error) {
	q := s.db.Article.Query().Where(preds...)
	count := func(ctx context.Context) (int, error) { return q.Clone().Count(cover(ctx)) }
	page := q.Clone().Where(pagePreds...).Where(keyset(w, true, by.col, article.FieldID)).
		Order(order[article.OrderOption](w, true, by.col, article.FieldID)...).
		Limit(w.Limit + 1)
	if w.Offset > 0 {
		page.Offset(w.Offset)
	}
	rows, err := page.Select(article.FieldID, by.col).All(cover(ctx))
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

// Tags lists the first n tags in use, most used first.
func (s *Service) Tags(ctx context.Context, n int) ([]*ent.Tag, error) {
	cache.Note(ctx, cache.TagCounts, 0)
	return s.db.Tag.Query().
		Where(tag.ArticlesCountGT(0)).
		Order(tag.ByArticlesCountField(sql.OrderDesc()), tag.ByName()).
		Limit(n).
		All(cache.Covered(ctx))
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

// TagByName is the tag named name (normalised as tags are), nil when no published article
// carries it.
func (s *Service) TagByName(ctx context.Context, name string) (*ent.Tag, error) {
	n := strings.Join(strings.Fields(strings.ToLower(name)), "-")
	t, err := s.db.Tag.Query().Where(tag.Name(n), tag.ArticlesCountGT(0)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return t, err
}
