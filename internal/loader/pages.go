package loader

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/graph-gophers/dataloader/v7"
	"github.com/lib/pq"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/comment"
	"inkwell/ent/user"
	"inkwell/internal/cache"
	"inkwell/internal/paging"
)

// PageKey asks for one page of one parent's list: an article's comments, or a user's
// articles, favorite articles, followers or follows. Window fields are values, not
// pointers, so equal requests share a key.
type PageKey struct {
	ParentID  int
	Limit     int
	Offset    int
	Backward  bool
	After     paging.Key
	Before    paging.Key
	HasAfter  bool
	HasBefore bool
}

// NewPageKey is the key for w's page of parentID's list.
func NewPageKey(parentID int, w paging.Window) PageKey {
	k := PageKey{ParentID: parentID, Limit: w.Limit, Backward: w.Backward, Offset: w.Offset}
	if w.After != nil {
		k.After, k.HasAfter = *w.After, true
	}
	if w.Before != nil {
		k.Before, k.HasBefore = *w.Before, true
	}
	return k
}

// NewCommentsKey is the key for w's page of articleID's comments.
func NewCommentsKey(articleID int, w paging.Window) PageKey { return NewPageKey(articleID, w) }

func (k PageKey) window() paging.Window {
	w := paging.Window{Limit: k.Limit, Backward: k.Backward, Offset: k.Offset}
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

// pagedList is a list kept under each of many parents and paged by a keyset: where its rows
// come from, whose they are, and their order. Its strings are constants of this package,
// never client input.
type pagedList struct {
	name     string   // for errors
	cols     []string // the item's columns, qualified
	from     string   // the tables the rows come from
	parent   string   // the column holding the parent's id
	where    string   // more conditions on the rows, "" for none
	time, id string   // the list's order and its cursors' key
	desc     bool     // newest first
}

// query answers window k for the parents in ids with one statement: a LATERAL join
// takes each parent's page straight off its index, with the rows' parent and keyset
// alongside the item's columns (see articleRow).
func (l pagedList) query(k PageKey, ids []int) (string, []any) {
	args := []any{pq.Array(ids), k.Limit + 1}
	var cond strings.Builder
	bound := func(op string, key paging.Key) {
		args = append(args, key.Time, key.ID)
		fmt.Fprintf(&cond, " AND (%s, %s) %s ($%d, $%d)", l.time, l.id, op, len(args)-1, len(args))
	}
	// In list order "after" is further along: smaller keys when the list descends.
	after, before := ">", "<"
	if l.desc {
		after, before = "<", ">"
	}
	if k.HasAfter {
		bound(after, k.After)
	}
	if k.HasBefore {
		bound(before, k.Before)
	}
	dir := l.dir(k)
	q := `SELECT p.id AS page_parent, x.* FROM unnest($1::bigint[]) AS p(id)
	  CROSS JOIN LATERAL (` + l.rows(k, "p.id", cond.String(), "$2") + `) x
	  ORDER BY page_parent, page_time ` + dir + `, page_id ` + dir
	return q, args
}

// dir is the order rows of window k come in: list order, or against it when paging
// backward (paging.Cut turns the page back round).
func (l pagedList) dir(k PageKey) string {
	if l.desc != k.Backward {
		return "DESC"
	}
	return "ASC"
}

// rows selects window k of the list under parent (an SQL expression), with the
// conditions cond (each starting " AND ": the window's bounds) and the list's own, and
// at most limit (a parameter) rows, each with its keyset (page_time, page_id) beside the
// item's columns.
func (l pagedList) rows(k PageKey, parent, cond, limit string) string {
	if l.where != "" {
		cond += " AND " + l.where
	}
	dir := l.dir(k)
	return `SELECT ` + l.time + ` AS page_time, ` + l.id + ` AS page_id, ` + strings.Join(l.cols, ", ") + `
	      FROM ` + l.from + `
	     WHERE ` + l.parent + ` = ` + parent + cond + `
	     ORDER BY ` + l.time + ` ` + dir + `, ` + l.id + ` ` + dir + `
	     LIMIT ` + limit + offsetClause(k.Offset)
}

// place is where a paged query's row sits: whose list it is in, and where in that list.
type place struct {
	parent int
	key    paging.Key
}

// Row types hold the columns a paged query adds (see pagedList.query) beside an ent entity,
// whose json tags are its column names, so that sql.ScanSlice fills both by the
// columns' names. ScanSlice skips unexported embedded types, hence the three fields
// spelt out in each.
type (
	articleRow struct {
		ent.Article
		PageParent int       `json:"page_parent"`
		PageTime   time.Time `json:"page_time"`
		PageID     int       `json:"page_id"`
	}
	commentRow struct {
		ent.Comment
		PageParent int       `json:"page_parent"`
		PageTime   time.Time `json:"page_time"`
		PageID     int       `json:"page_id"`
	}
	userRow struct {
		ent.User
		PageParent int       `json:"page_parent"`
		PageTime   time.Time `json:"page_time"`
		PageID     int       `json:"page_id"`
	}
)

func newPlace(parent int, t time.Time, id int) place {
	return place{parent: parent, key: paging.Key{Time: t, ID: id}}
}

func (r articleRow) split() (place, *ent.Article) {
	return newPlace(r.PageParent, r.PageTime, r.PageID), &r.Article
}

func (r commentRow) split() (place, *ent.Comment) {
	return newPlace(r.PageParent, r.PageTime, r.PageID), &r.Comment
}

func (r userRow) split() (place, *ent.User) {
	return newPlace(r.PageParent, r.PageTime, r.PageID), &r.User
}

// entry is an item with its place in its list.
type entry[T any] struct {
	item T
	key  paging.Key
}

// loadPages answers keys' pages of l with one query per distinct window (usually one),
// scanning rows of type R and taking each row's item with split.
func loadPages[R, T any](ctx context.Context, db *ent.Client, l pagedList, keys []PageKey, split func(R) (place, T)) (map[PageKey]paging.Page[T], error) {
	groups := map[PageKey][]int{}
	seen := make(map[PageKey]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue // unnest would return its rows twice
		}
		seen[k] = true
		w := k
		w.ParentID = 0
		groups[w] = append(groups[w], k.ParentID)
	}
	pages := make(map[PageKey]paging.Page[T], len(keys))
	for w, ids := range groups {
		q, args := l.query(w, ids)
		var got []R
		if err := queryScan(ctx, db, q, args, &got); err != nil {
			return nil, fmt.Errorf("load %s: %w", l.name, err)
		}
		byParent := make(map[int][]entry[T], len(ids))
		for _, r := range got {
			at, item := split(r)
			byParent[at.parent] = append(byParent[at.parent], entry[T]{item, at.key})
		}
		for _, id := range ids {
			k := w
			k.ParentID = id
			pages[k] = cut(w.window(), byParent[id])
		}
	}
	return pages, nil
}

// cut is paging.Cut for rows whose key is not the item's own (a follow's, for a user).
func cut[T any](w paging.Window, rows []entry[T]) paging.Page[T] {
	p := paging.Cut(w, rows, func(e entry[T]) paging.Key { return e.key })
	out := paging.Page[T]{Items: make([]T, len(p.Items)), Keys: p.Keys, HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage}
	for i, e := range p.Items {
		out.Items[i] = e.item
	}
	return out
}

// columns qualifies cols with alias.
func columns(alias string, cols []string, except ...string) []string {
	var out []string
	for _, c := range cols {
		if !slices.Contains(except, c) {
			out = append(out, alias+"."+c)
		}
	}
	return out
}

// The lists. Each is read off an index: comments by (article_id, created_at, id),
// articles by (author_id, created_at, id), favorites by their (user_id, article_id) key,
// follows by (followee_id, created_at) and (follower_id, created_at).
var (
	// An article's comments are the threads' first comments; replies are their own list.
	commentList = pagedList{
		name: "comments", cols: columns("c", comment.Columns),
		from: "comments c", parent: "c.article_id", where: "c.parent_id IS NULL",
		time: "c.created_at", id: "c.id",
	}
	replyList = pagedList{
		name: "replies", cols: columns("c", comment.Columns),
		from: "comments c", parent: "c.parent_id", time: "c.created_at", id: "c.id",
	}
	// An author's published articles, most recently published first.
	articleList = pagedList{
		name: "articles", cols: columns("a", article.Columns),
		from: "articles a", parent: "a.author_id", where: "a.status = 'published'",
		time: "a.published_at", id: "a.id", desc: true,
	}
	// Favorites list the most recently published article first, not the newest favorite;
	// an article unpublished since is left out.
	favoriteList = pagedList{
		name: "favorite articles", cols: columns("a", article.Columns),
		from: "favorites f JOIN articles a ON a.id = f.article_id", parent: "f.user_id",
		where: "a.status = 'published'", time: "a.published_at", id: "a.id", desc: true,
	}
	// Follows list most recent follow first: the cursor is the follow's, not the user's.
	followerList = pagedList{
		name: "followers", cols: userColumns,
		from: "follows f JOIN users u ON u.id = f.follower_id", parent: "f.followee_id",
		time: "f.created_at", id: "f.id", desc: true,
	}
	followingList = pagedList{
		name: "following", cols: userColumns,
		from: "follows f JOIN users u ON u.id = f.followee_id", parent: "f.follower_id",
		time: "f.created_at", id: "f.id", desc: true,
	}
	// userColumns leave out the password hash and the email token's hash (sensitive
	// fields): nothing that reads a list of users needs them, and ent.User has no
	// column name for them to be scanned by.
	userColumns = columns("u", user.Columns, user.FieldPasswordHash, user.FieldEmailTokenHash)
)

// commentPages are the cached pages of one article's comments, or of one comment's
// replies, by window (PageKey with no parent). A value in the cache is never changed: a
// new page makes a new map.
type commentPages map[PageKey]paging.Page[*ent.Comment]

// comments answers pages of comments (oldest first) for many articles, through the
// shared cache.
func (b batches) comments(ctx context.Context, keys []PageKey) []*dataloader.Result[paging.Page[*ent.Comment]] {
	return b.commentPages(ctx, cache.Comments, commentList, keys)
}

// replies answers pages of replies (oldest first) for many comments, through the shared
// cache.
func (b batches) replies(ctx context.Context, keys []PageKey) []*dataloader.Result[paging.Page[*ent.Comment]] {
	return b.commentPages(ctx, cache.Replies, replyList, keys)
}

// commentPages answers pages of list, kept in the shared cache as kind by parent.
func (b batches) commentPages(ctx context.Context, kind cache.Kind, list pagedList, keys []PageKey) []*dataloader.Result[paging.Page[*ent.Comment]] {
	out := make(map[PageKey]paging.Page[*ent.Comment], len(keys))
	var missing []PageKey
	for _, k := range keys {
		if m, ok := cache.Get[commentPages](ctx, b.cache, kind, k.ParentID); ok {
			if p, ok := m[k.window0()]; ok {
				out[k] = p
				continue
			}
		}
		missing = append(missing, k)
	}
	if len(missing) == 0 {
		return byKey(keys, out, nil, nil)
	}
	e := b.cache.Epoch(kind)
	// The parents' pages were asked of the cache above: they describe this read.
	pages, err := loadPages(cache.Covered(ctx), b.db, list, missing, commentRow.split)
	for k, p := range pages {
		out[k] = p
		b.keepCommentPage(ctx, e, k, p)
	}
	return byKey(keys, out, err, nil)
}

// keepCommentPage adds page p, window k, loaded after e was taken, to the cached pages of
// its parent.
func (b batches) keepCommentPage(ctx context.Context, e cache.Epoch, k PageKey, p paging.Page[*ent.Comment]) {
	old, _ := cache.Peek[commentPages](b.cache, e.Kind(), k.ParentID)
	m := make(commentPages, len(old)+1)
	for w, p := range old {
		m[w] = p
	}
	m[k.window0()] = p
	weight := 0
	for _, p := range m {
		weight += 64
		for _, c := range p.Items {
			weight += 8 + commentSize + keySize + len(c.Body)
		}
	}
	cache.Fill(b.cache, e, k.ParentID, m, weight)
}

// window0 is k without its parent: the window alone.
func (k PageKey) window0() PageKey {
	k.ParentID = 0
	return k
}

// articles answers pages of articles (newest first) for many authors.
func (b batches) articles(ctx context.Context, keys []PageKey) []*dataloader.Result[paging.Page[*ent.Article]] {
	pages, err := loadPages(ctx, b.db, articleList, keys, articleRow.split)
	return byKey(keys, pages, err, nil)
}

// favoriteArticles answers pages of favorite articles (newest article first) for many
// users.
func (b batches) favoriteArticles(ctx context.Context, keys []PageKey) []*dataloader.Result[paging.Page[*ent.Article]] {
	pages, err := loadPages(ctx, b.db, favoriteList, keys, articleRow.split)
	return byKey(keys, pages, err, nil)
}

// followers answers pages of followers (most recent follow first) for many users.
func (b batches) followers(ctx context.Context, keys []PageKey) []*dataloader.Result[paging.Page[*ent.User]] {
	pages, err := loadPages(ctx, b.db, followerList, keys, userRow.split)
	return byKey(keys, pages, err, nil)
}

// following answers pages of followed users (most recent follow first) for many users.
func (b batches) following(ctx context.Context, keys []PageKey) []*dataloader.Result[paging.Page[*ent.User]] {
	pages, err := loadPages(ctx, b.db, followingList, keys, userRow.split)
	return byKey(keys, pages, err, nil)
}

// queryScan runs q and scans every row into dst (a pointer to a slice of structs whose
// json tags name the columns).
func queryScan(ctx context.Context, db *ent.Client, q string, args []any, dst any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := sql.ScanSlice(rows, dst); err != nil {
		return err
	}
	return rows.Err()
}

// offsetClause skips n rows (a validated window's offset, never client text).
func offsetClause(n int) string {
	if n <= 0 {
		return ""
	}
	return " OFFSET " + strconv.Itoa(n)
}
