package loader

import (
	"context"
	"fmt"
	"sort"

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
	"inkwell/internal/paging"
)

// batches holds the batch functions. Each returns one result per key, in key order.
type batches struct {
	db     *ent.Client
	viewer auth.Viewer
	listed *listed
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
		`SELECT at.article_id, t.id, t.name, t.articles_count, t.created_at
		   FROM article_tags at JOIN tags t ON t.id = at.tag_id
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

// CommentsKey asks for one page of an article's comments (oldest first). Window fields
// are values, not pointers, so equal requests share a key.
type CommentsKey struct {
	ArticleID int
	Limit     int
	Backward  bool
	After     paging.Key
	Before    paging.Key
	HasAfter  bool
	HasBefore bool
}

// NewCommentsKey is the key for w's page of articleID's comments.
func NewCommentsKey(articleID int, w paging.Window) CommentsKey {
	k := CommentsKey{ArticleID: articleID, Limit: w.Limit, Backward: w.Backward}
	if w.After != nil {
		k.After, k.HasAfter = *w.After, true
	}
	if w.Before != nil {
		k.Before, k.HasBefore = *w.Before, true
	}
	return k
}

func (k CommentsKey) window() paging.Window {
	w := paging.Window{Limit: k.Limit, Backward: k.Backward}
	if k.HasAfter {
		after := k.After
		w.After = &after
	}
	if k.HasBefore {
		before := k.Before
		w.Before = &before
	}
	return w
}

// comments answers pages of comments for many articles with one query per distinct
// window (usually one): a LATERAL join takes each article's page straight off the
// (article_id, created_at, id) index.
func (b batches) comments(ctx context.Context, keys []CommentsKey) []*dataloader.Result[paging.Page[*ent.Comment]] {
	groups := map[CommentsKey][]int{}
	for _, k := range keys {
		w := k
		w.ArticleID = 0
		groups[w] = append(groups[w], k.ArticleID)
	}
	pages := make(map[CommentsKey]paging.Page[*ent.Comment], len(keys))
	var err error
	for w, ids := range groups {
		var byArticle map[int][]*ent.Comment
		byArticle, err = b.commentPages(ctx, w, ids)
		if err != nil {
			break
		}
		for _, id := range ids {
			k := w
			k.ArticleID = id
			pages[k] = paging.Cut(w.window(), byArticle[id], commentKey)
		}
	}
	// The comments' authors come next, for all of these pages at once.
	var authors []int
	for _, p := range pages {
		for _, c := range p.Items {
			authors = append(authors, c.AuthorID)
		}
	}
	b.listed.add(b.listed.users, authors)
	return byKey(keys, pages, err, nil)
}

func commentKey(c *ent.Comment) paging.Key { return paging.Key{Time: c.CreatedAt, ID: c.ID} }

func (b batches) commentPages(ctx context.Context, k CommentsKey, ids []int) (map[int][]*ent.Comment, error) {
	cond, dir := "", "ASC"
	args := []any{pq.Array(ids), k.Limit + 1}
	if k.HasAfter {
		args = append(args, k.After.Time, k.After.ID)
		cond += fmt.Sprintf(" AND (c.created_at, c.id) > ($%d, $%d)", len(args)-1, len(args))
	}
	if k.HasBefore {
		args = append(args, k.Before.Time, k.Before.ID)
		cond += fmt.Sprintf(" AND (c.created_at, c.id) < ($%d, $%d)", len(args)-1, len(args))
	}
	if k.Backward {
		dir = "DESC"
	}
	query := `SELECT c.id, c.created_at, c.updated_at, c.body, c.article_id, c.author_id
	  FROM unnest($1::bigint[]) AS a(id)
	  CROSS JOIN LATERAL (
	    SELECT * FROM comments c WHERE c.article_id = a.id` + cond + `
	    ORDER BY c.created_at ` + dir + `, c.id ` + dir + ` LIMIT $2) c`
	rows, err := b.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("load comments: %w", err)
	}
	defer rows.Close()
	out := make(map[int][]*ent.Comment, len(ids))
	for rows.Next() {
		c := &ent.Comment{}
		if err := rows.Scan(&c.ID, &c.CreatedAt, &c.UpdatedAt, &c.Body, &c.ArticleID, &c.AuthorID); err != nil {
			return nil, fmt.Errorf("scan comment: %w", err)
		}
		out[c.ArticleID] = append(out[c.ArticleID], c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// LATERAL keeps each article's rows in the inner ORDER BY, but make it explicit.
	for _, cs := range out {
		sort.SliceStable(cs, func(i, j int) bool {
			less := cs[i].CreatedAt.Before(cs[j].CreatedAt) ||
				(cs[i].CreatedAt.Equal(cs[j].CreatedAt) && cs[i].ID < cs[j].ID)
			if k.Backward {
				return !less
			}
			return less
		})
	}
	return out, nil
}
