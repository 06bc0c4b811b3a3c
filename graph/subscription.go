package graph

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"inkwell/ent"
	"inkwell/graph/model"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/dberr"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
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

// pullSize is the most rows one pull of a resumable stream reads.
const pullSize = 100

// resume streams what pull reads from the tables: first what was written after the
// client's cursor (pull keeps it), then, each time the hub says a write may concern the
// subscriber (poked), what was written since. The hub subscription (sub) is made after the
// cursor is known and before the first pull, so a write committed meanwhile is either in
// that pull or pokes after it, and since every pull starts at the last row sent, no row is
// sent twice or missed.
func resume[T any](ctx context.Context, r *Resolver, sub *events.Subscription, poked func(events.Event) bool,
	pull func(ctx context.Context) (rows []*T, more bool, err error),
) <-chan *T {
	out := make(chan *T)
	go func() {
		defer close(out)
		defer sub.Close()
		defer func() {
			if p := recover(); p != nil {
				endSubscription(ctx, fmt.Errorf("panic in subscription: %v\n%s", p, debug.Stack()))
			}
		}()
		for {
			// Rows change between pulls: each reads with fresh loaders.
			for more := true; more; {
				var rows []*T
				var err error
				rows, more, err = pull(r.Loaders(context.WithoutCancel(ctx)))
				if err != nil {
					endSubscription(ctx, err)
					return
				}
				for _, v := range rows {
					select {
					case out <- v:
					case <-ctx.Done():
						return
					}
				}
			}
			for waiting := true; waiting; {
				e, ok := sub.Next(ctx)
				if !ok {
					endSubscription(ctx, sub.Err())
					return
				}
				waiting = !poked(e)
			}
		}
	}()
	return out
}

// feedArticles is feedArticleAdded's stream for the viewer: articles that joined their
// feed after the article with global id after (from now, without one).
func (r *Resolver) feedArticles(ctx context.Context, after *string) (<-chan *model.Article, error) {
	acting, err := r.Service.As(ctx)
	if err != nil {
		return nil, err
	}
	var from *int
	if after != nil {
		typ, id, ok := globalid.Decode(*after)
		if !ok || typ != globalid.TypeArticle {
			return nil, apperr.BadInput("after", "is not an article id")
		}
		from = &id
	}
	// The cursor first, then the hub: what commits in between is past the cursor, and
	// the first pull (after subscribing) reads it, so "from now" misses nothing once the
	// subscription counts.
	cursor, err := r.Service.FeedCursor(ctx, from)
	if err != nil {
		return nil, err
	}
	sub, err := r.Events.Subscribe(ctx, events.NewArticles)
	if err != nil {
		return nil, err
	}
	poked := func(e events.Event) bool { return e.Kind == events.KindArticleCreated }
	return resume(ctx, r, sub, poked, func(ctx context.Context) ([]*model.Article, bool, error) {
		ids, next, err := acting.FeedAfter(ctx, cursor, pullSize)
		if err != nil {
			return nil, false, err
		}
		cursor = next
		as, errs := loader.For(ctx).ArticleByID.LoadAll(ctx, ids)
		var out []*model.Article
		for i, a := range as {
			if errs != nil && errs[i] != nil {
				continue // gone since
			}
			if m := model.NewArticle(ctx, a); m != nil {
				out = append(out, m)
			}
		}
		return out, len(ids) == pullSize, nil
	}), nil
}

// notifications is notificationAdded's stream for the viewer: notifications after the
// one with global id after (from now, without one).
func (r *Resolver) notifications(ctx context.Context, after *string) (<-chan *model.Notification, error) {
	acting, err := r.Service.As(ctx)
	if err != nil {
		return nil, err
	}
	cursor := -1
	if after != nil {
		typ, id, ok := globalid.Decode(*after)
		if !ok || typ != globalid.TypeNotification {
			return nil, apperr.BadInput("after", "is not a notification id")
		}
		cursor = id
	}
	// The cursor before the hub, as in feedArticles.
	if cursor < 0 {
		if cursor, err = acting.LatestNotification(ctx); err != nil {
			return nil, err
		}
	}
	sub, err := r.Events.Subscribe(ctx, events.Notifications)
	if err != nil {
		return nil, err
	}
	uid := auth.ViewerFrom(ctx).UserID
	poked := func(e events.Event) bool { return e.Notifies(uid) }
	return resume(ctx, r, sub, poked, func(ctx context.Context) ([]*model.Notification, bool, error) {
		rows, next, err := acting.NotificationsAfter(ctx, cursor, pullSize)
		if err != nil {
			return nil, false, err
		}
		more := next != cursor && len(rows) == pullSize
		cursor = next
		out := make([]*model.Notification, len(rows))
		for i, n := range rows {
			out[i] = model.NewNotification(ctx, n)
		}
		return out, more, nil
	}), nil
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
			e, ok := sub.Next(ctx)
			if !ok {
				endSubscription(ctx, sub.Err())
				return
			}
			if e.Kind == events.KindArticleDeleted {
				return
			}
			v, err := loadEvent(ctx, r, sub, e, load)
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

// Loading an event's rows while the database fails over: attempts go on, closer together
// than events arrive once writes resume, for as long as a failover takes. Ending the
// subscription instead would lose every event after it. A load that takes longer than
// eventLoadHeld (a few ms is usual) holds the subscriber up through no fault of its
// client's: failed attempts, or a query queued in a pooler while the primary changes.
const (
	eventLoadPatience = time.Minute
	eventRetryMax     = 500 * time.Millisecond
	eventLoadHeld     = 250 * time.Millisecond
)

// loadEvent loads e's rows with load, again while the database is unavailable (the
// events keep their place in the subscription's buffer meanwhile). The first attempt
// shares its loaders with the event's other subscribers; later ones, after an error
// that those loaders keep, use loaders of their own.
func loadEvent[T any](ctx context.Context, r *Resolver, sub *events.Subscription, e events.Event, load func(context.Context, events.Event) (*T, error)) (*T, error) {
	giveUp := time.Now().Add(eventLoadPatience)
	wait := 50 * time.Millisecond
	// The events published meanwhile queue up behind this one.
	held := time.AfterFunc(eventLoadHeld, sub.Lagging)
	defer held.Stop()
	for attempt := 0; ; attempt++ {
		loaders := r.Loaders
		if attempt == 0 {
			loaders = func(ctx context.Context) context.Context { return r.eventLoaders(ctx, e) }
		}
		// No deadline of its own: the value keeps the context for its nested fields,
		// resolved after this returns.
		v, err := load(loaders(ctx), e)
		if err == nil || ctx.Err() != nil || !dberr.Unavailable(err) || time.Now().After(giveUp) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, eventRetryMax)
	}
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
