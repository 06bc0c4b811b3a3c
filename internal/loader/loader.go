// Package loader holds the per-request dataloaders that turn the many small reads of one
// GraphQL response (authors, tags, counts, viewer flags, nested pages) into a few
// batched queries. A set lives for one request: kept longer it would leak one viewer's
// flags to another and serve stale rows.
package loader

import (
	"context"
	"time"

	"github.com/graph-gophers/dataloader/v7"

	"inkwell/ent"
	"inkwell/internal/auth"
	"inkwell/internal/paging"
)

// wait is how long a loader collects keys before it runs its batch. The keys of one list
// do not always arrive within it; lists make up for that (see prefetcher).
const wait = time.Millisecond

// Loaders is one request's set of dataloaders.
type Loaders struct {
	UserByID           *dataloader.Loader[int, *ent.User]
	ArticleByID        *dataloader.Loader[int, *ent.Article]
	CommentByID        *dataloader.Loader[int, *ent.Comment]
	TagsByArticle      *dataloader.Loader[int, []*ent.Tag]
	ViewerHasFavorited *dataloader.Loader[int, bool]
	ViewerIsFollowing  *dataloader.Loader[int, bool]
	FollowersCount     *dataloader.Loader[int, int]
	FollowingCount     *dataloader.Loader[int, int]
	CommentsCount      *dataloader.Loader[int, int]

	// Pages of lists under many parents (see PageKey) and the lists' sizes, by parent:
	// an article's comments, a user's articles, favorite articles, followers and follows.
	Comments              *dataloader.Loader[PageKey, paging.Page[*ent.Comment]]
	Articles              *dataloader.Loader[PageKey, paging.Page[*ent.Article]]
	ArticlesCount         *dataloader.Loader[int, int]
	FavoriteArticles      *dataloader.Loader[PageKey, paging.Page[*ent.Article]]
	FavoriteArticlesCount *dataloader.Loader[int, int]
	Followers             *dataloader.Loader[PageKey, paging.Page[*ent.User]]
	Following             *dataloader.Loader[PageKey, paging.Page[*ent.User]]

	listed *listed
}

// New builds a fresh set of loaders for one request of viewer v.
func New(db *ent.Client, v auth.Viewer) *Loaders {
	lst := newListed()
	b := batches{db: db, viewer: v, listed: lst}
	return &Loaders{
		UserByID:              newListLoader(lst.usersOf, observed("UserByID", b.usersByID)),
		ArticleByID:           newLoader(observed("ArticleByID", b.articlesByID)),
		CommentByID:           newLoader(observed("CommentByID", b.commentsByID)),
		TagsByArticle:         newListLoader(lst.articlesOf, observed("TagsByArticle", b.tagsByArticle)),
		ViewerHasFavorited:    newListLoader(lst.articlesOf, observed("ViewerHasFavorited", b.viewerHasFavorited)),
		ViewerIsFollowing:     newListLoader(lst.usersOf, observed("ViewerIsFollowing", b.viewerIsFollowing)),
		FollowersCount:        newListLoader(lst.usersOf, observed("FollowersCount", b.followersCount)),
		FollowingCount:        newListLoader(lst.usersOf, observed("FollowingCount", b.followingCount)),
		CommentsCount:         newListLoader(lst.articlesOf, observed("CommentsCount", b.commentsCount)),
		Comments:              newListLoader(pagesOf(lst.articlesOf), observed("Comments", b.comments)),
		Articles:              newListLoader(pagesOf(lst.usersOf), observed("Articles", b.articles)),
		ArticlesCount:         newListLoader(lst.usersOf, observed("ArticlesCount", b.articlesCount)),
		FavoriteArticles:      newListLoader(pagesOf(lst.usersOf), observed("FavoriteArticles", b.favoriteArticles)),
		FavoriteArticlesCount: newListLoader(lst.usersOf, observed("FavoriteArticlesCount", b.favoriteArticlesCount)),
		Followers:             newListLoader(pagesOf(lst.usersOf), observed("Followers", b.followers)),
		Following:             newListLoader(pagesOf(lst.usersOf), observed("Following", b.following)),
		listed:                lst,
	}
}

func newLoader[K comparable, V any](fn dataloader.BatchFunc[K, V], opts ...dataloader.Option[K, V]) *dataloader.Loader[K, V] {
	return dataloader.NewBatchedLoader(fn, append([]dataloader.Option[K, V]{
		dataloader.WithWait[K, V](wait),
		dataloader.WithBatchCapacity[K, V](500),
	}, opts...)...)
}

type ctxKey struct{}

// With returns ctx carrying l.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// For returns the request's loaders. It panics when the request has none: that is a
// wiring bug, and silently building a set here would hide it.
func For(ctx context.Context) *Loaders {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		panic("loader: no loaders in context")
	}
	return l
}

// PerRequest returns the function that installs a fresh set in a request's context,
// for the viewer the auth middleware put there.
func PerRequest(db *ent.Client) func(context.Context) context.Context {
	return func(ctx context.Context) context.Context {
		return With(ctx, New(db, auth.ViewerFrom(ctx)))
	}
}

// ForgetFollow drops what a follow or unfollow by follower of followee changed. Pages are
// keyed by window as well as by user, so all of them go.
func (l *Loaders) ForgetFollow(ctx context.Context, follower, followee int) {
	l.ViewerIsFollowing.Clear(ctx, followee)
	l.FollowersCount.Clear(ctx, followee)
	l.FollowingCount.Clear(ctx, follower)
	l.Followers.ClearAll()
	l.Following.ClearAll()
}

// ForgetFavorite drops what a favorite or unfavorite of articleID by userID changed.
func (l *Loaders) ForgetFavorite(ctx context.Context, userID, articleID int) {
	l.ViewerHasFavorited.Clear(ctx, articleID)
	l.FavoriteArticlesCount.Clear(ctx, userID)
	l.FavoriteArticles.ClearAll()
}

// ForgetArticles drops cached pages and counts of articles, after one was published,
// changed or deleted (with its favorites).
func (l *Loaders) ForgetArticles() {
	l.Articles.ClearAll()
	l.ArticlesCount.ClearAll()
	l.FavoriteArticles.ClearAll()
	l.FavoriteArticlesCount.ClearAll()
}

// ForgetComments drops cached comment pages and counts: of one article, or of all
// (articleID 0) when the article is not known.
func (l *Loaders) ForgetComments(ctx context.Context, articleID int) {
	l.Comments.ClearAll()
	if articleID == 0 {
		l.CommentsCount.ClearAll()
		return
	}
	l.CommentsCount.Clear(ctx, articleID)
}

// BatchObserver is told the size of every batch a loader runs, by loader name.
type BatchObserver func(loader string, keys int)

type observerKey struct{}

// WithBatchObserver returns ctx whose loaders report their batches to o. The batch of a
// loader reports to the observer in the context of its first caller.
func WithBatchObserver(ctx context.Context, o BatchObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// observed is fn reporting each batch's size to the observer in its context, if any.
func observed[K comparable, V any](name string, fn dataloader.BatchFunc[K, V]) dataloader.BatchFunc[K, V] {
	return func(ctx context.Context, keys []K) []*dataloader.Result[V] {
		if o, ok := ctx.Value(observerKey{}).(BatchObserver); ok && o != nil {
			o(name, len(keys))
		}
		return fn(ctx, keys)
	}
}
