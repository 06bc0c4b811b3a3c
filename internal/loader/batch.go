package loader

import (
	"context"
	"fmt"
	"unsafe"

	"entgo.io/ent/dialect/sql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/lib/pq"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/asset"
	"inkwell/ent/bookmark"
	"inkwell/ent/comment"
	"inkwell/ent/favorite"
	"inkwell/ent/follow"
	"inkwell/ent/predicate"
	"inkwell/ent/tagfollow"
	"inkwell/ent/user"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/markdown"
	"inkwell/internal/paging"
)

// batches holds the batch functions. Each returns one result per key, in key order.
type batches struct {
	db     *ent.Client
	viewer auth.Viewer
	cache  *cache.Cache // shared by every request; nil caches nothing
}

// anyOf matches the rows whose column is one of values (a slice), sent as one array:
// the statement's text is the same for any number of keys, so it stays prepared
// (internal/stmtcache), where IN ($1, $2, …) would be a new statement for each count.
func anyOf[P ~func(*sql.Selector)](column string, values any) P {
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString(s.C(column)).WriteString(" = ANY(").Arg(pq.Array(values)).WriteString(")")
		}))
	}
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

// cached answers ids from the shared cache, and the rest with fetch, keeping what it
// fetched there as kind. Values cached as one of alsoIn serve as well. weight estimates a
// value's size in bytes.
func cached[V any](ctx context.Context, c *cache.Cache, kind cache.Kind, ids []int,
	fetch func(context.Context, []int) (map[int]V, error), weight func(V) int, alsoIn ...cache.Kind,
) (map[int]V, error) {
	out := make(map[int]V, len(ids))
	var missing []int
	kinds := append([]cache.Kind{kind}, alsoIn...)
	for _, id := range ids {
		if v, ok := cache.GetFirst[V](ctx, c, id, kinds...); ok {
			out[id] = v
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	e := c.Epoch(kind)
	// The keys asked of the cache above describe what this reads.
	got, err := fetch(cache.Covered(ctx), missing)
	if err != nil {
		return out, err
	}
	for id, v := range got {
		out[id] = v
		cache.Fill(c, e, id, v, weight(v))
	}
	if len(got) < len(missing) {
		cache.Unknown(ctx) // a user or article that may be created later
	}
	return out, nil
}

func (b batches) usersByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.User] {
	m, err := cached(ctx, b.cache, cache.User, ids, func(ctx context.Context, ids []int) (map[int]*ent.User, error) {
		rows, err := b.db.User.Query().Where(anyOf[predicate.User](user.FieldID, ids)).All(ctx)
		m := make(map[int]*ent.User, len(rows))
		for _, u := range rows {
			m[u.ID] = u
		}
		return m, err
	}, userWeight)
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("user") })
}

func (b batches) articlesByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.Article] {
	m, err := cached(ctx, b.cache, cache.Article, ids, b.fetchArticles(), articleWeight)
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("article") })
}

// fetchArticles reads articles by id: their columns cols, or all of them.
func (b batches) fetchArticles(cols ...string) func(context.Context, []int) (map[int]*ent.Article, error) {
	return func(ctx context.Context, ids []int) (map[int]*ent.Article, error) {
		q := b.db.Article.Query().Where(anyOf[predicate.Article](article.FieldID, ids))
		var rows []*ent.Article
		var err error
		if len(cols) > 0 {
			rows, err = q.Select(cols...).All(ctx)
		} else {
			rows, err = q.All(ctx)
		}
		m := make(map[int]*ent.Article, len(rows))
		for _, a := range rows {
			m[a.ID] = a
		}
		return m, err
	}
}

// headColumns are an article's columns but its body, HTML and table of contents: what a
// list shows. Those three are the bulk of a row, stored out of line (TOAST) and
// decompressed for every row read, and a cached head takes a fraction of the memory.
var headColumns = func() []string {
	var cols []string
	for _, c := range article.Columns {
		switch c {
		case article.FieldBody, article.FieldBodyHTML, article.FieldToc:
		default:
			cols = append(cols, c)
		}
	}
	return cols
}()

// articleHeadsByID reads articles without their body columns (headColumns). A whole
// article already cached serves as well.
func (b batches) articleHeadsByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.Article] {
	m, err := cached(ctx, b.cache, cache.ArticleHead, ids, b.fetchArticles(headColumns...), articleWeight, cache.Article)
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("article") })
}

// articlesBySlug answers slugs through the cache's slug-to-id map and the articles by id.
func (b batches) articlesBySlug(ctx context.Context, slugs []string) []*dataloader.Result[*ent.Article] {
	out := make(map[string]*ent.Article, len(slugs))
	var missing []string
	for _, s := range slugs {
		if id, ok := cache.GetSlug(ctx, b.cache, s); ok {
			if a, ok := cache.Get[*ent.Article](ctx, b.cache, cache.Article, id); ok && a.Slug == s {
				out[s] = a
				continue
			}
		}
		missing = append(missing, s)
	}
	var err error
	if len(missing) > 0 {
		slugEpoch, articleEpoch := b.cache.Epoch(cache.Slug), b.cache.Epoch(cache.Article)
		var rows []*ent.Article
		// The slugs were asked of the cache above; the articles found are noted here.
		rows, err = b.db.Article.Query().Where(anyOf[predicate.Article](article.FieldSlug, missing)).All(cache.Covered(ctx))
		if len(rows) < len(missing) {
			// A slug that names no article may name the next one created.
			cache.Note(ctx, cache.ArticleLists, 0)
		}
		for _, a := range rows {
			out[a.Slug] = a
			b.keepBySlug(ctx, slugEpoch, articleEpoch, a)
		}
	}
	// A missing slug is null, not an error: article(slug:) answers null for it.
	return byKey(slugs, out, err, nil)
}

// keepBySlug notes a, read by its slug after the epochs of slugs and articles were taken,
// and keeps it and its slug in the shared cache.
func (b batches) keepBySlug(ctx context.Context, slugEpoch, articleEpoch cache.Epoch, a *ent.Article) {
	cache.Note(ctx, cache.Article, a.ID)
	cache.FillSlug(b.cache, slugEpoch, a.Slug, a.ID)
	cache.Fill(b.cache, articleEpoch, a.ID, a, articleWeight(a))
}

// The weights are sizes in bytes, so that the cache's bound is one of memory: the struct
// as allocated and its strings (the cache adds its own entry's). Lists' heads are mostly
// struct, so a weight that left it out would let them take twice their share.
var (
	userSize    = int(unsafe.Sizeof(ent.User{}))
	articleSize = int(unsafe.Sizeof(ent.Article{}))
	tagSize     = int(unsafe.Sizeof(ent.Tag{}))
	commentSize = int(unsafe.Sizeof(ent.Comment{}))
	tocSize     = int(unsafe.Sizeof(markdown.TocEntry{}))
	keySize     = int(unsafe.Sizeof(paging.Key{}))
)

func userWeight(u *ent.User) int {
	return userSize + len(u.Username) + len(u.UsernameKey) + len(u.Email) + len(u.Bio) + len(u.Image) + len(u.PasswordHash)
}

func articleWeight(a *ent.Article) int {
	n := articleSize + len(a.Slug) + len(a.Title) + len(a.Subtitle) + len(a.Description) +
		len(a.CanonicalURL) + len(a.SeoTitle) + len(a.SeoDescription) + len(a.Body) + len(a.BodyHTML) +
		len(a.Excerpt) + len(a.SearchTags)
	for _, e := range a.Toc {
		n += tocSize + len(e.Title) + len(e.Anchor)
	}
	return n
}

func tagsWeight(ts []*ent.Tag) int {
	n := 24
	for _, t := range ts {
		n += 8 + tagSize + len(t.Name)
	}
	return n
}

func countWeight(int) int { return 8 }

func (b batches) assetsByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.Asset] {
	rows, err := b.db.Asset.Query().Where(anyOf[predicate.Asset](asset.FieldID, ids)).All(ctx)
	m := make(map[int]*ent.Asset, len(rows))
	for _, a := range rows {
		m[a.ID] = a
	}
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("asset") })
}

func (b batches) commentsByID(ctx context.Context, ids []int) []*dataloader.Result[*ent.Comment] {
	rows, err := b.db.Comment.Query().Where(anyOf[predicate.Comment](comment.FieldID, ids)).All(ctx)
	m := make(map[int]*ent.Comment, len(rows))
	for _, c := range rows {
		m[c.ID] = c
	}
	return byKey(ids, m, err, func(int) error { return apperr.NotFound("comment") })
}

func (b batches) tagsByArticle(ctx context.Context, ids []int) []*dataloader.Result[[]*ent.Tag] {
	m, err := cached(ctx, b.cache, cache.Tags, ids, b.fetchTags, tagsWeight)
	return byKey(ids, m, err, nil)
}

// tagLinks joins articles' tag links (at) to their tags (t). A page has a few dozen links;
// probing tags by primary key for each beats the hash join the planner would pick, which
// reads the whole tags table every time (OFFSET 0 keeps the subquery from being flattened
// back into that join).
const tagLinks = `article_tags at
		  CROSS JOIN LATERAL (SELECT * FROM tags WHERE tags.id = at.tag_id OFFSET 0) t`

func (b batches) fetchTags(ctx context.Context, ids []int) (map[int][]*ent.Tag, error) {
	m := make(map[int][]*ent.Tag, len(ids))
	rows, err := b.db.QueryContext(ctx,
		`SELECT at.article_id, t.id, t.name, t.articles_count, t.created_at
		   FROM `+tagLinks+`
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
	return m, err
}

// viewerFlags answers, for each of ids, whether the viewer has it among the ids that
// mine returns (a subset of ids); false for an anonymous viewer. kind is what the answer
// depends on, noted for the response cache.
func (b batches) viewerFlags(ctx context.Context, ids []int, kind cache.Kind, mine func(context.Context) ([]int, error)) []*dataloader.Result[bool] {
	m := map[int]bool{}
	var err error
	if !b.viewer.Anonymous() {
		cache.Note(ctx, kind, b.viewer.UserID)
		var got []int
		got, err = mine(cache.Covered(ctx))
		for _, id := range got {
			m[id] = true
		}
	}
	return byKey(ids, m, err, nil)
}

func (b batches) viewerHasFavorited(ctx context.Context, ids []int) []*dataloader.Result[bool] {
	return b.viewerFlags(ctx, ids, cache.FavoritesOf, func(ctx context.Context) ([]int, error) {
		return b.db.Favorite.Query().
			Where(favorite.UserID(b.viewer.UserID), anyOf[predicate.Favorite](favorite.FieldArticleID, ids)).
			Select(favorite.FieldArticleID).Ints(ctx)
	})
}

func (b batches) viewerHasBookmarked(ctx context.Context, ids []int) []*dataloader.Result[bool] {
	return b.viewerFlags(ctx, ids, cache.BookmarksOf, func(ctx context.Context) ([]int, error) {
		return b.db.Bookmark.Query().
			Where(bookmark.UserID(b.viewer.UserID), anyOf[predicate.Bookmark](bookmark.FieldArticleID, ids)).
			Select(bookmark.FieldArticleID).Ints(ctx)
	})
}

func (b batches) notificationActors(ctx context.Context, ids []int) []*dataloader.Result[[]int] {
	m := map[int][]int{}
	rows, err := b.db.QueryContext(ctx, `SELECT r.id, m.actor_id FROM notifications r
		JOIN notifications m ON (m.id = COALESCE(r.group_id, r.id) OR m.group_id = COALESCE(r.group_id, r.id)) AND m.id <= r.id
		WHERE r.id = ANY($1)
		GROUP BY r.id, m.actor_id ORDER BY r.id, max(m.id) DESC`, pq.Array(ids))
	if err == nil {
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var id, actor int
			if err = rows.Scan(&id, &actor); err != nil {
				break
			}
			m[id] = append(m[id], actor)
		}
		if err == nil {
			err = rows.Err()
		}
	}
	return byKey(ids, m, err, nil)
}

func (b batches) viewerFollowsTag(ctx context.Context, ids []int) []*dataloader.Result[bool] {
	return b.viewerFlags(ctx, ids, cache.FollowsOf, func(ctx context.Context) ([]int, error) {
		return b.db.TagFollow.Query().
			Where(tagfollow.UserID(b.viewer.UserID), anyOf[predicate.TagFollow](tagfollow.FieldTagID, ids)).
			Select(tagfollow.FieldTagID).Ints(ctx)
	})
}

func (b batches) viewerIsFollowing(ctx context.Context, ids []int) []*dataloader.Result[bool] {
	return b.viewerFlags(ctx, ids, cache.FollowsOf, func(ctx context.Context) ([]int, error) {
		return b.db.Follow.Query().
			Where(follow.FollowerID(b.viewer.UserID), anyOf[predicate.Follow](follow.FieldFolloweeID, ids)).
			Select(follow.FieldFolloweeID).Ints(ctx)
	})
}

// countBy counts rows of from (a table, or tables joined) per value of column, for the
// given values, among the rows matching where ("" for all); a missing value counts 0.
// All three are constants of this package, never client input.
func (b batches) countBy(ctx context.Context, from, column, where string, ids []int) []*dataloader.Result[int] {
	m, err := b.fetchCounts(ctx, from, column, where, ids)
	return byKey(ids, m, err, nil)
}

// cachedCount is countBy through the shared cache, as kind.
func (b batches) cachedCount(ctx context.Context, kind cache.Kind, table, column, where string, ids []int) []*dataloader.Result[int] {
	m, err := cached(ctx, b.cache, kind, ids, func(ctx context.Context, ids []int) (map[int]int, error) {
		return b.fetchCounts(ctx, table, column, where, ids)
	}, countWeight)
	return byKey(ids, m, err, nil)
}

// fetchCounts counts rows of from per value of column, among those matching where ("" for
// all); every id has a count, 0 for none.
func (b batches) fetchCounts(ctx context.Context, from, column, where string, ids []int) (map[int]int, error) {
	m := make(map[int]int, len(ids))
	for _, id := range ids {
		m[id] = 0
	}
	if where != "" {
		where = " AND " + where
	}
	rows, err := b.db.QueryContext(ctx,
		`SELECT `+column+`, count(*) FROM `+from+` WHERE `+column+` = ANY($1)`+where+` GROUP BY `+column, pq.Array(ids))
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
		err = fmt.Errorf("count %s: %w", from, err)
	}
	return m, err
}

func (b batches) followersCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.cachedCount(ctx, cache.FollowersCount, follow.Table, follow.FieldFolloweeID, "", ids)
}

func (b batches) followingCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.cachedCount(ctx, cache.FollowingCount, follow.Table, follow.FieldFollowerID, "", ids)
}

func (b batches) commentsCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.cachedCount(ctx, cache.CommentsCount, comment.Table, comment.FieldArticleID, "parent_id IS NULL", ids)
}

func (b batches) repliesCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.cachedCount(ctx, cache.RepliesCount, comment.Table, comment.FieldParentID, "", ids)
}

// articlesCount counts an author's published articles.
func (b batches) articlesCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, article.Table, article.FieldAuthorID, "status = 'published'", ids)
}

// favoriteArticlesCount counts a user's favorites of published articles (deleting an
// article deletes its favorites; unpublishing one keeps them for when it is back).
func (b batches) favoriteArticlesCount(ctx context.Context, ids []int) []*dataloader.Result[int] {
	return b.countBy(ctx, "favorites f JOIN articles a ON a.id = f.article_id", "f.user_id", "a.status = 'published'", ids)
}
