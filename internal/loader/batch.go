package loader

import (
	"context"
	"fmt"

	"github.com/graph-gophers/dataloader/v7"
	"github.com/lib/pq"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/comment"
	"inkwell/ent/favorite"
	"inkwell/ent/follow"
	"inkwell/ent/user"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
)

// batches holds the batch functions. Each returns one result per key, in key order.
type batches struct {
	db     *ent.Client
	viewer auth.Viewer
}

// byKey answers keys from a map, with missing for keys the map lacks (nil = zero value).
func byKey[K comparable, V any](keys []K, m map[K]V, err error, missing func(K) error) []*dataloader.Result[V] {
	out := make([]*dataloader.Result[V], len(keys))
	for i, k := range keys {
		v, ok := m[k]
		r := &dataloader.Result[V]{Data: v, Error: err}
		if !ok && err == nil && missing != nil {
			r.Error = missing(k)
		}
		out[i] = r
	}
	return out
}

func (b batches) usersByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.User] {
	rows, err := b.db.User.Query().Where(user.IDIn(ids...)).All(ctx)
	m := make(map[int]*ent.User, len(rows))
	for _, u := range rows {
		m[u.ID] = u
	}
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("user") })
}

func (b batches) articlesByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.Article] {
	rows, err := b.db.Article.Query().Where(article.IDIn(ids...)).All(ctx)
	m := make(map[int]*ent.Article, len(rows))
	for _, a := range rows {
		m[a.ID] = a
	}
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("article") })
}

func (b batches) commentsByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.Comment] {
	rows, err := b.db.Comment.Query().Where(comment.IDIn(ids...)).All(ctx)
	m := make(map[int]*ent.Comment, len(rows))
	for _, c := range rows {
		m[c.ID] = c
	}
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("comment") })
}

func (b batches) tagsByArticle(ctx context.Context, ids []int) []*dataloader.Result[[]*ent.Tag] {
	m := make(map[int][]*ent.Tag, len(ids))
	rows, err := b.db.QueryContext(ctx,
		// A page has a few dozen links; probing tags by primary key for each beats the hash
		// join the planner would pick, which reads the whole tags table every time (OFFSET 0
		// keeps the subquery from being flattened back into that join).
		`SELECT at.article_id, t.id, t.name, t.articles_count, t.created_at
		   FROM article_tags at
		  CROSS JOIN LATERAL (SELECT * FROM tags WHERE tags.id = at.tag_id OFFSET 0) t
		  WHERE at.article_id = ANY($1)
		  ORDER BY at.article_id, t.name`, pq.Array(ids))
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var aid int
			t := &ent.Tag{}
			if err = rows.Scan(&aid, &t.ID, &t.Name, &t.ArticlesCount, &t.CreatedAt); err != nil {
				break
			}
			m[aid] = append(m[aid], t)
		}
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		err = fmt.Errorf("load tags: %w", err)
	}
	for _, id := range ids {
		if m[id] == nil {
			m[id] = []*ent.Tag{}
		}
	}
	return byKey(ids, m, err, nil)
}

func (b batches) viewerHasFavorited(ctx context.Context, ids []int) []*dataloader.Result[bool] {
	m := map[int]bool{}
	var err error
	if !b.viewer.Anonymous() {
		var got []int
		got, err = b.db.Favorite.Query().
			Where(favorite.UserID(b.viewer.UserID), favorite.ArticleIDIn(ids...)).
			Select(favorite.FieldArticleID).Ints(ctx)
		for _, id := range got {
			m[id] = true
		}
	}
	return byKey(ids, m, err, nil)
}

func (b batches) viewerIsFollowing(ctx context.Context, ids []int) []*dataloader.Result[bool] {
	m := map[int]bool{}
	var err error
	if !b.viewer.Anonymous() {
		var got []int
		got, err = b.db.Follow.Query().
			Where(follow.FollowerID(b.viewer.UserID), follow.FolloweeIDIn(ids...)).
			Select(follow.FieldFolloweeID).Ints(ctx)
		for _, id := range got {
			m[id] = true
		}
	}
	return byKey(ids, m, err, nil)
}

// countBy counts rows of table per value of column, for the given values; a missing
// value counts 0. table and column are constants of this package, never client input.
func (b batches) countBy(ctx context.Context, table, column string, ids []int) []*dataloader.Result[int] {
	m := make(map[int]int, len(ids))
	rows, err := b.db.QueryContext(ctx,
		`SELECT `+column+`, count(*) FROM `+table+` WHERE `+column+` = ANY($1) GROUP BY `+column, pq.Array(ids))
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var k, n int
			if err = rows.Scan(&k, &n); err != nil {
				break
			}
			m[k] = n
		}
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		err = fmt.Errorf("count %s: %w", table, err)
	}
	return byKey(ids, m, err, nil)
}

func (b batches) followersCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, follow.Table, follow.FieldFolloweeID, ids)
}

func (b batches) followingCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, follow.Table, follow.FieldFollowerID, ids)
}

func (b batches) commentsCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, comment.Table, comment.FieldArticleID, ids)
}

func (b batches) articlesCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, article.Table, article.FieldAuthorID, ids)
}

// favoriteArticlesCount counts favorites rows: one per favorited article, since deleting
// an article deletes its favorites.
func (b batches) favoriteArticlesCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, favorite.Table, favorite.FieldUserID, ids)
}
