package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"inkwell/ent"
	"inkwell/graph/model"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/events"
	"inkwell/internal/loader"
)

// subscribeArticle subscribes to a topic of the article with this slug.
func (r *Resolver) subscribeArticle(ctx context.Context, slug string, topic func(articleID int) events.Topic) (*events.Subscription, error) {
	a, err := r.Service.ArticleBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, apperr.NotFound("article")
	}
	return r.Events.Subscribe(ctx, topic(a.ID))
}

// commentOf loads a new comment.
func commentOf(ctx context.Context, e events.Event) (*model.Comment, error) {
	c, err := loader.For(ctx).CommentByID.Load(ctx, e.CommentID)()
	return model.NewComment(ctx, c), err
}

// favoritesOf loads the article whose count changed, with the count as that change left
// it: a later change may already be committed, and has its own event.
func favoritesOf(ctx context.Context, e events.Event) (*model.Article, error) {
	a, err := loader.For(ctx).ArticleByID.Load(ctx, e.ArticleID)()
	if err != nil {
		return nil, err
	}
	out := *a
	out.FavoritesCount = e.FavoritesCount
	return model.NewArticle(ctx, &out), nil
}

// feedArticleOf loads a new article when the viewer follows its author now; nil skips it.
func feedArticleOf(ctx context.Context, e events.Event) (*model.Article, error) {
	l := loader.For(ctx)
	follows, err := l.ViewerIsFollowing.Load(ctx, e.AuthorID)()
	if err != nil || !follows {
		return nil, err
	}
	a, err := l.ArticleByID.Load(ctx, e.ArticleID)()
	return model.NewArticle(ctx, a), err
}

func (r *Resolver) subscribeFeed(ctx context.Context) (*events.Subscription, error) {
	// The feed is the viewer's: it takes one, as Acting does.
	if _, err := r.Service.As(ctx); err != nil {
		return nil, err
	}
	return r.Events.Subscribe(ctx, events.NewArticles)
}

// eventLoaders installs in ctx the loaders one subscriber reads event e with: for rows,
// the event's shared set, made by its first subscriber for no viewer, so that a row every
// subscriber shows is loaded once however many they are; for the viewer's own flags, a
// fresh set of the subscriber's. The context is not cancelled with the subscriber: the
// shared set's loads serve the others too.
func (r *Resolver) eventLoaders(ctx context.Context, e events.Event) context.Context {
	ctx = context.WithoutCancel(ctx)
	shared := e.Delivery.Once(func() any {
		return loader.For(r.Loaders(auth.WithViewer(ctx, auth.Viewer{})))
	}).(*loader.Loaders)
	own := r.Loaders(ctx)
	return loader.With(own, loader.Sharing(shared, loader.For(own)))
}

// stream turns a hub subscription into the channel gqlgen reads a subscription field
// from. Each event is loaded with a fresh set of loaders: rows change between events, and
// a set kept for the whole subscription would serve stale ones. load returning nil skips
// an event, as does a row deleted before its event was read. The stream ends when ctx
// does (the client unsubscribed or left), when the article is deleted, or with an error
// when the subscription is dropped.
func stream[T any](ctx context.Context, r *Resolver, sub *events.Subscription, load func(context.Context, events.Event) (*T, error)) <-chan *T {
	out := make(chan *T)
	go func() {
		defer close(out)
		defer sub.Close()
		// gqlgen recovers resolvers, not goroutines they start: a panic here would end
		// the process.
		defer func() {
			if p := recover(); p != nil {
				endSubscription(ctx, fmt.Errorf("panic in subscription: %v\n%s", p, debug.Stack()))
			}
		}()
		for {
			var e events.Event
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-sub.Events():
				if !ok {
					endSubscription(ctx, sub.Err())
					return
				}
				e = ev
			}
			if e.Kind == events.KindArticleDeleted {
				return
			}
			v, err := load(r.eventLoaders(ctx, e), e)
			if apperr.CodeOf(err) == apperr.CodeNotFound || ent.IsNotFound(err) {
				continue
			}
			if err != nil {
				endSubscription(ctx, err)
				return
			}
			if v == nil {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// endSubscription reports why a subscription ended early, through the server's error
// presenter (which logs what it hides).
func endSubscription(ctx context.Context, err error) {
	switch {
	case err == nil:
		return
	case errors.Is(err, events.ErrClosed):
		// The server is stopping and about to close the socket with "going away";
		// completing the subscription first would tell the client not to resubscribe.
		<-ctx.Done()
		return
	}
	// gqlgen's socket reads a subscription's errors once its channel is closed, or at
	// once when its context ends (the client completed it, or left); written after that,
	// the error would race with that read and reach no one.
	if ctx.Err() != nil {
		return
	}
	pctx := graphql.WithFreshResponseContext(ctx)
	graphql.AddError(pctx, err)
	for _, e := range graphql.GetErrors(pctx) {
		transport.AddSubscriptionError(ctx, e)
	}
}
