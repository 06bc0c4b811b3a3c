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
	Comments           *dataloader.Loader[CommentsKey, paging.Page[*ent.Comment]]

	listed *listed
}

// New builds a fresh set of loaders for one request of viewer v.
func New(db *ent.Client, v auth.Viewer) *Loaders {
	lst := newListed()
	b := batches{db: db, viewer: v, listed: lst}
	return &Loaders{
		UserByID:           newListLoader(lst.usersOf, b.usersByID),
		ArticleByID:        newLoader(b.articlesByID),
		CommentByID:        newLoader(b.commentsByID),
		TagsByArticle:      newListLoader(lst.articlesOf, b.tagsByArticle),
		ViewerHasFavorited: newListLoader(lst.articlesOf, b.viewerHasFavorited),
		ViewerIsFollowing:  newListLoader(lst.usersOf, b.viewerIsFollowing),
		FollowersCount:     newListLoader(lst.usersOf, b.followersCount),
		FollowingCount:     newListLoader(lst.usersOf, b.followingCount),
		CommentsCount:      newListLoader(lst.articlesOf, b.commentsCount),
		Comments:           newListLoader(lst.commentsOf, b.comments),
		listed:             lst,
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

// ForgetFollow drops what a follow or unfollow by follower of followee changed.
func (l *Loaders) ForgetFollow(ctx context.Context, follower, followee int) {
	l.ViewerIsFollowing.Clear(ctx, followee)
	l.FollowersCount.Clear(ctx, followee)
	l.FollowingCount.Clear(ctx, follower)
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
