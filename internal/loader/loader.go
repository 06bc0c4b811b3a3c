// Package loader holds the per-request dataloaders that turn the many small reads of one
// GraphQL response (authors, tags, counts, viewer flags, nested pages) into a few
// batched queries. A set lives for one request: kept longer it would leak one viewer's
// flags to another and serve stale rows.
package loader

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"inkwell/ent"
	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/change"
	"inkwell/internal/paging"
)

// wait is how long a loader collects keys before it runs its batch, for keys that come
// from unrelated places (node ids, mutations' payloads). Lists do not rely on it: their
// resolvers preload what their items ask for (Preload), all keys in one query.
const wait = time.Millisecond

// Loader is a dataloader whose batch can also be run ahead for keys known together
// (Preload), which primes its cache so that later loads of those keys cost nothing.
// It is built on first use: a request uses a few of its set's loaders, and building all
// of them was a few per cent of what a cached read allocates.
type Loader[K comparable, V any] struct {
	name  string
	b     *batches
	fn    func(*batches, context.Context, []K) []*dataloader.Result[V]
	once  sync.Once
	dl    atomic.Pointer[dataloader.Loader[K, V]] // nil until first used
	cache dataloader.Cache[K, V]                  // set before dl
}

// newLoader returns the loader named name whose batches run fn on b. fn is a method
// expression, so that the unused loaders of a request allocate nothing but themselves.
func newLoader[K comparable, V any](b *batches, name string, fn func(*batches, context.Context, []K) []*dataloader.Result[V]) *Loader[K, V] {
	return &Loader[K, V]{name: name, b: b, fn: fn}
}

func (l *Loader[K, V]) get() *dataloader.Loader[K, V] {
	l.once.Do(func() {
		l.cache = dataloader.NewCache[K, V]()
		l.dl.Store(dataloader.NewBatchedLoader(l.fetch,
			dataloader.WithWait[K, V](wait),
			dataloader.WithBatchCapacity[K, V](500),
			dataloader.WithCache[K, V](l.cache)))
	})
	return l.dl.Load()
}

// fetch runs one batch, reporting its size to the observer in ctx, if any.
func (l *Loader[K, V]) fetch(ctx context.Context, keys []K) []*dataloader.Result[V] {
	if o, ok := ctx.Value(observerKey{}).(BatchObserver); ok && o != nil {
		o(l.name, len(keys))
	}
	return l.fn(l.b, ctx, keys)
}

// cached returns key's value if the loader has it, loaded or loading.
func (l *Loader[K, V]) cached(ctx context.Context, key K) (dataloader.Thunk[V], bool) {
	if l.dl.Load() == nil {
		return nil, false
	}
	return l.cache.Get(ctx, key)
}

// Load returns a thunk for key's value, batched with the keys asked for in the same
// moment (see wait).
func (l *Loader[K, V]) Load(ctx context.Context, key K) dataloader.Thunk[V] {
	return l.get().Load(ctx, key)
}

// Prime keeps value as key's, unless key is already loaded or loading.
func (l *Loader[K, V]) Prime(ctx context.Context, key K, value V) {
	l.get().Prime(ctx, key, value)
}

// Clear forgets key's value. A loader not used yet has none, and is not built for it.
func (l *Loader[K, V]) Clear(ctx context.Context, key K) {
	if dl := l.dl.Load(); dl != nil {
		dl.Clear(ctx, key)
	}
}

// ClearAll forgets every value.
func (l *Loader[K, V]) ClearAll() {
	if dl := l.dl.Load(); dl != nil {
		dl.ClearAll()
	}
}

// Preload fetches those of keys not yet loaded or loading, in one batch run now, and
// keeps the results for later loads. A key whose result is an error is left out, so the
// load that needs it runs (and reports) again.
func (l *Loader[K, V]) Preload(ctx context.Context, keys []K) {
	var missing []K
	seen := make(map[K]bool, len(keys))
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := l.cached(ctx, k); !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return
	}
	for i, r := range l.fetch(ctx, missing) {
		if r != nil && r.Error == nil {
			l.Prime(ctx, missing[i], r.Data)
		}
	}
}

// Loaders is one request's set of dataloaders. The loaders of what depends on the viewer
// are named Viewer…, and only they: Sharing relies on it.
type Loaders struct {
	b *batches // what they read through, for reads ahead of them (PreloadArticlePage)

	UserByID    *Loader[int, *ent.User]
	ArticleByID *Loader[int, *ent.Article]
	// ArticleHeadByID reads articles without body, bodyHTML and toc, for lists that show
	// none of them: a fraction of the row to read, and of the cache to keep.
	ArticleHeadByID     *Loader[int, *ent.Article]
	ArticleBySlug       *Loader[string, *ent.Article] // nil for a slug that names none
	CommentByID         *Loader[int, *ent.Comment]
	AssetByID           *Loader[int, *ent.Asset]
	TagsByArticle       *Loader[int, []*ent.Tag]
	ViewerHasFavorited  *Loader[int, bool]
	ViewerHasBookmarked *Loader[int, bool]
	ViewerIsFollowing   *Loader[int, bool]
	ViewerFollowsTag    *Loader[int, bool]
	FollowersCount      *Loader[int, int]
	FollowingCount      *Loader[int, int]
	CommentsCount       *Loader[int, int]
	RepliesCount        *Loader[int, int]
	// NotificationActors: by notification id, the distinct users of its group up to it,
	// most recent first.
	NotificationActors *Loader[int, []int]

	// Pages of lists under many parents (see PageKey) and the lists' sizes, by parent:
	// an article's comments, a user's articles, favorite articles, followers and follows.
	Comments              *Loader[PageKey, paging.Page[*ent.Comment]]
	Replies               *Loader[PageKey, paging.Page[*ent.Comment]]
	Articles              *Loader[PageKey, paging.Page[*ent.Article]]
	ArticlesCount         *Loader[int, int]
	FavoriteArticles      *Loader[PageKey, paging.Page[*ent.Article]]
	FavoriteArticlesCount *Loader[int, int]
	Followers             *Loader[PageKey, paging.Page[*ent.User]]
	Following             *Loader[PageKey, paging.Page[*ent.User]]
}

// New builds a fresh set of loaders for one request of viewer v, reading through c, the
// instance's shared cache (nil for none).
func New(db *ent.Client, v auth.Viewer, c *cache.Cache) *Loaders {
	b := &batches{db: db, viewer: v, cache: c}
	return &Loaders{
		b:                     b,
		UserByID:              newLoader(b, "UserByID", (*batches).usersByID),
		ArticleByID:           newLoader(b, "ArticleByID", (*batches).articlesByID),
		ArticleHeadByID:       newLoader(b, "ArticleHeadByID", (*batches).articleHeadsByID),
		ArticleBySlug:         newLoader(b, "ArticleBySlug", (*batches).articlesBySlug),
		CommentByID:           newLoader(b, "CommentByID", (*batches).commentsByID),
		AssetByID:             newLoader(b, "AssetByID", (*batches).assetsByID),
		TagsByArticle:         newLoader(b, "TagsByArticle", (*batches).tagsByArticle),
		ViewerHasFavorited:    newLoader(b, "ViewerHasFavorited", (*batches).viewerHasFavorited),
		ViewerHasBookmarked:   newLoader(b, "ViewerHasBookmarked", (*batches).viewerHasBookmarked),
		ViewerIsFollowing:     newLoader(b, "ViewerIsFollowing", (*batches).viewerIsFollowing),
		ViewerFollowsTag:      newLoader(b, "ViewerFollowsTag", (*batches).viewerFollowsTag),
		FollowersCount:        newLoader(b, "FollowersCount", (*batches).followersCount),
		FollowingCount:        newLoader(b, "FollowingCount", (*batches).followingCount),
		CommentsCount:         newLoader(b, "CommentsCount", (*batches).commentsCount),
		Comments:              newLoader(b, "Comments", (*batches).comments),
		RepliesCount:          newLoader(b, "RepliesCount", (*batches).repliesCount),
		NotificationActors:    newLoader(b, "NotificationActors", (*batches).notificationActors),
		Replies:               newLoader(b, "Replies", (*batches).replies),
		Articles:              newLoader(b, "Articles", (*batches).articles),
		ArticlesCount:         newLoader(b, "ArticlesCount", (*batches).articlesCount),
		FavoriteArticles:      newLoader(b, "FavoriteArticles", (*batches).favoriteArticles),
		FavoriteArticlesCount: newLoader(b, "FavoriteArticlesCount", (*batches).favoriteArticlesCount),
		Followers:             newLoader(b, "Followers", (*batches).followers),
		Following:             newLoader(b, "Following", (*batches).following),
	}
}

// Sharing returns a set that reads through shared's loaders, except for the viewer's own
// flags (the Viewer… loaders), read through own's. The subscribers of one event read it
// so: rows every subscriber shows alike are loaded once, in shared, for all of them.
func Sharing(shared, own *Loaders) *Loaders {
	out := *shared
	o, sv := reflect.ValueOf(&out).Elem(), reflect.ValueOf(own).Elem()
	for i := range o.NumField() {
		if strings.HasPrefix(o.Type().Field(i).Name, "Viewer") {
			o.Field(i).Set(sv.Field(i))
		}
	}
	return &out
}

type ctxKey struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the request's loaders, building them if PerRequest left them pending. It
// panics when the request has none: that is a wiring bug, and silently building a set
// here would hide it.
func For(ctx context.Context) *Loaders {
	switch l := ctx.Value(ctxKey{}).(type) {
	case *Loaders:
		return l
	case *pending:
		return l.get()
	}
	panic("loader: no loaders in context")
}

// pending is a request's set before its first use: a request answered from the
// response cache never builds one.
type pending struct {
	once   sync.Once
	l      atomic.Pointer[Loaders]
	db     *ent.Client
	viewer auth.Viewer
	cache  *cache.Cache
}

func (p *pending) get() *Loaders {
	p.once.Do(func() { p.l.Store(New(p.db, p.viewer, p.cache)) })
	return p.l.Load()
}

// PerRequest returns the function that installs a fresh set in a request's context,
// for the viewer the auth middleware put there, built on first use.
func PerRequest(db *ent.Client, c *cache.Cache) func(context.Context) context.Context {
	return func(ctx context.Context) context.Context {
		return context.WithValue(ctx, ctxKey{}, &pending{db: db, viewer: auth.ViewerFrom(ctx), cache: c})
	}
}

// Apply forgets what a committed write changed from the loaders of the request in ctx,
// if it has any: the one place that knows which keys each kind of change touches.
// Pages are keyed by window as well as by parent, so a changed list drops all of them.
func Apply(ctx context.Context, s change.Set) {
	var l *Loaders
	switch v := ctx.Value(ctxKey{}).(type) {
	case *Loaders:
		l = v
	case *pending:
		l = v.l.Load() // nil: not built yet, so nothing to forget
	}
	if l == nil {
		return
	}
	for _, id := range s.Users {
		l.UserByID.Clear(ctx, id)
	}
	if len(s.Articles) > 0 {
		l.ArticleBySlug.ClearAll()
	}
	for _, id := range s.Articles {
		l.ArticleByID.Clear(ctx, id)
		l.ArticleHeadByID.Clear(ctx, id)
		l.TagsByArticle.Clear(ctx, id)
		l.ViewerHasFavorited.Clear(ctx, id)
	}
	if s.ArticleLists || len(s.Articles) > 0 {
		l.Articles.ClearAll()
		l.ArticlesCount.ClearAll()
		l.FavoriteArticles.ClearAll()
		l.FavoriteArticlesCount.ClearAll()
	}
	for _, f := range s.Follows {
		l.ViewerIsFollowing.Clear(ctx, f.Followee)
		l.FollowersCount.Clear(ctx, f.Followee)
		l.FollowingCount.Clear(ctx, f.Follower)
	}
	if len(s.Follows) > 0 {
		l.Followers.ClearAll()
		l.Following.ClearAll()
	}
	for _, f := range s.Favorites {
		l.ViewerHasFavorited.Clear(ctx, f.Article)
		l.FavoriteArticlesCount.Clear(ctx, f.User)
	}
	if len(s.Favorites) > 0 {
		l.FavoriteArticles.ClearAll()
	}
	for _, b := range s.Bookmarks {
		l.ViewerHasBookmarked.Clear(ctx, b.Article)
	}
	for _, f := range s.TagFollows {
		l.ViewerFollowsTag.Clear(ctx, f.Tag)
	}
	if len(s.TagFollows) > 0 {
		// The tags' rows (followers counts) are read with articles' tags.
		l.TagsByArticle.ClearAll()
	}
	if s.AllComments || len(s.CommentsOf) > 0 {
		l.Comments.ClearAll()
	}
	if s.AllComments {
		l.CommentsCount.ClearAll()
	}
	for _, id := range s.CommentsOf {
		l.CommentsCount.Clear(ctx, id)
	}
	if s.AllComments || len(s.RepliesOf) > 0 {
		l.Replies.ClearAll()
		// A comment read before the write may have become a placeholder.
		l.CommentByID.ClearAll()
	}
	if s.AllComments {
		l.RepliesCount.ClearAll()
	}
	for _, id := range s.RepliesOf {
		l.RepliesCount.Clear(ctx, id)
	}
}

// BatchObserver is told the size of every batch a loader runs, by loader name.
type BatchObserver func(loader string, keys int)

type observerKey struct{}

// WithBatchObserver returns ctx whose loaders report their batches to o. The batch of a
// loader reports to the observer in the context of its first caller.
func WithBatchObserver(ctx context.Context, o BatchObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// LoadAll loads keys through the loader, all in one batch when they are not cached yet
// (every load is asked for before any is waited on), and returns their values and
// errors in key order. Unlike LoadMany it starts no goroutine per key.
func (l *Loader[K, V]) LoadAll(ctx context.Context, keys []K) ([]V, []error) {
	thunks := make([]dataloader.Thunk[V], len(keys))
	for i, k := range keys {
		thunks[i] = l.Load(ctx, k)
	}
	vals := make([]V, len(keys))
	var errs []error
	for i, th := range thunks {
		v, err := th()
		if err != nil {
			if errs == nil {
				errs = make([]error, len(keys))
			}
			errs[i] = err
		}
		vals[i] = v
	}
	return vals, errs
}
