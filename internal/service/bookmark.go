package service

import (
	"context"
	"fmt"
	"strconv"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/internal/apperr"
	"inkwell/internal/cache"
	"inkwell/internal/change"
	"inkwell/internal/paging"
	"inkwell/internal/policy"
)

// Bookmark saves a published article to the viewer's bookmarks (on), or removes it;
// again is not an error. Bookmarks are private: the write changes the viewer's reads only.
func (s *Acting) Bookmark(ctx context.Context, slug string, on bool) (*ent.Article, error) {
	v := s.viewer
	var out *ent.Article
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := tx.Article.Query().Where(article.Slug(slug)).Only(ctx)
		if err != nil {
			return notFound(err, "article")
		}
		if !policy.CanFindArticle(v, a) {
			return apperr.NotFound("article")
		}
		if on {
			// As for a favorite: published articles only.
			if err := policy.CanComment(v, a); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO bookmarks (user_id, article_id, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, article_id) DO NOTHING`, v.UserID, a.ID, s.now())
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM bookmarks WHERE user_id = $1 AND article_id = $2`, v.UserID, a.ID)
		}
		if err != nil {
			return fmt.Errorf("write bookmark: %w", err)
		}
		out = a
		c.Set = change.Set{Bookmarks: []change.Favorite{{User: v.UserID, Article: a.ID}}}
		return nil
	})
	return out, err
}

// Bookmarks lists the viewer's bookmarked published articles, most recent bookmark
// first; the cursors are the bookmarks'.
func (s *Acting) Bookmarks(ctx context.Context, w paging.Window) (ArticleList, error) {
	// What the viewer bookmarked, and which articles are published, describe the list.
	cache.Note(ctx, cache.BookmarksOf, s.viewer.UserID)
	cache.Note(ctx, cache.ArticleLists, 0)
	const from = ` FROM bookmarks b JOIN articles a ON a.id = b.article_id
		WHERE b.user_id = $1 AND a.status = 'published'`
	args := []any{s.viewer.UserID, w.Limit + 1}
	bound := ""
	if w.After != nil {
		args = append(args, w.After.Time, w.After.ID)
		bound = ` AND (b.created_at, b.id) < ($3, $4)`
	}
	rows, err := s.db.QueryContext(cache.Covered(ctx), `SELECT b.article_id, b.created_at, b.id`+from+bound+`
		ORDER BY b.created_at DESC, b.id DESC LIMIT $2 OFFSET `+strconv.Itoa(w.Offset), args...)
	if err != nil {
		return ArticleList{}, fmt.Errorf("bookmarks: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var l ArticleList
	for rows.Next() {
		var id int
		var k paging.Key
		if err := rows.Scan(&id, &k.Time, &k.ID); err != nil {
			return ArticleList{}, fmt.Errorf("bookmarks: %w", err)
		}
		l.Page.Items, l.Page.Keys = append(l.Page.Items, id), append(l.Page.Keys, k)
	}
	if err := rows.Err(); err != nil {
		return ArticleList{}, fmt.Errorf("bookmarks: %w", err)
	}
	l.Page.HasPreviousPage = w.Offset > 0
	if len(l.Page.Items) > w.Limit {
		l.Page.Items, l.Page.Keys, l.Page.HasNextPage = l.Page.Items[:w.Limit], l.Page.Keys[:w.Limit], true
	}
	uid := s.viewer.UserID
	l.Count = func(ctx context.Context) (int, error) {
		return count(cache.Covered(ctx), s.db, `SELECT count(*)`+from, uid)
	}
	return l, nil
}
