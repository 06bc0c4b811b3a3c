package graph

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"inkwell/ent"
	"inkwell/internal/loader"
	"inkwell/internal/paging"
)

// Looking ahead. The entities' fields (graph/model/entity.go) run inline, one object at a
// time, each reading through the request's loaders: on their own they would cost a query
// per object, or depend on the loaders' wait window to meet in a batch. So a resolver
// that returns a page or an object reads its own selection and loads what its items ask
// for into the loaders, level by level: every load of a level is asked for first, then
// each loader runs one query for all the keys of the level that it does not hold yet (the
// level's queries at the same time), then the next level is planned from the results.
// The statements a request costs then depend on its query and data only, never on the
// page's length or on scheduling; the fields below find their values loaded.

// plan is one level of look-ahead: the keys wanted of each loader, and what to plan for
// the next level once they are loaded.
type plan struct {
	ctx   context.Context
	l     *loader.Loaders
	loads map[any]func() // by loader: preload the keys wanted of it
	keys  map[any]any    // by loader: *[]K, the keys wanted of it
	then  []func(next *plan)
}

func newPlan(ctx context.Context) *plan {
	return &plan{ctx: ctx, l: loader.For(ctx), loads: map[any]func(){}, keys: map[any]any{}}
}

// want asks ld for keys at this level, and has then run after the level is loaded.
func want[K comparable, V any](p *plan, ld *loader.Loader[K, V], keys []K, then func(next *plan)) {
	if len(keys) > 0 {
		if got, ok := p.keys[ld]; ok {
			ks := got.(*[]K)
			*ks = append(*ks, keys...)
		} else {
			ks := slices.Clone(keys)
			p.keys[ld] = &ks
			p.loads[ld] = func() { ld.Preload(p.ctx, ks) }
		}
	}
	if then != nil {
		p.then = append(p.then, then)
	}
}

// lookAhead runs the plan that start makes, level by level.
func lookAhead(ctx context.Context, start func(p *plan)) {
	p := newPlan(ctx)
	start(p)
	for len(p.loads) > 0 || len(p.then) > 0 {
		loads := make([]func(), 0, len(p.loads))
		for _, f := range p.loads {
			loads = append(loads, f)
		}
		parallel(loads)
		next := newPlan(ctx)
		for _, f := range p.then {
			f(next)
		}
		p = next
	}
}

// preloadArticlePage reads the article at slug with its tags and first comments in one
// statement, when fields (its selection) ask for them and nothing of it is known yet
// (loader.PreloadArticlePage).
func preloadArticlePage(ctx context.Context, slug string, fields []graphql.CollectedField) {
	var tags bool
	var w *paging.Window
	for _, f := range fields {
		switch f.Name {
		case "tags":
			tags = true
		case "comments":
			a := args(ctx, f)
			if got, err := window(a.int("first"), a.str("after"), a.int("last"), a.str("before")); err == nil && w == nil {
				w = &got
			}
		}
	}
	loader.For(ctx).PreloadArticlePage(ctx, slug, tags, w)
}

// prefetchArticles loads what fields (an Article's selection) ask of as.
func prefetchArticles(ctx context.Context, as []*ent.Article, fields []graphql.CollectedField) {
	if len(as) > 0 && len(fields) > 0 {
		lookAhead(ctx, func(p *plan) { p.articles(as, fields) })
	}
}

// prefetchUsers loads what fields (a User's selection) ask of us.
func prefetchUsers(ctx context.Context, us []*ent.User, fields []graphql.CollectedField) {
	if len(us) > 0 && len(fields) > 0 {
		lookAhead(ctx, func(p *plan) { p.users(us, fields) })
	}
}

func (p *plan) articles(as []*ent.Article, fields []graphql.CollectedField) {
	if len(as) == 0 || len(fields) == 0 {
		return
	}
	ids, authors := make([]int, len(as)), make([]int, len(as))
	for i, a := range as {
		ids[i], authors[i] = a.ID, a.AuthorID
	}
	for _, f := range fields {
		switch f.Name {
		case "author":
			p.usersByID(authors, selection(p.ctx, f, "User"))
		case "tags":
			want(p, p.l.TagsByArticle, ids, nil)
		case "viewerHasFavorited":
			want(p, p.l.ViewerHasFavorited, ids, nil)
		case "viewerHasBookmarked":
			want(p, p.l.ViewerHasBookmarked, ids, nil)
		case "coverImage":
			var covers []int
			for _, a := range as {
				if a.CoverImageAssetID != nil {
					covers = append(covers, *a.CoverImageAssetID)
				}
			}
			want(p, p.l.AssetByID, covers, nil)
		case "comments":
			a := args(p.ctx, f)
			if w, err := window(a.int("first"), a.str("after"), a.int("last"), a.str("before")); err == nil {
				pages(p, f, ids, w, p.l.Comments, p.l.CommentsCount, commentPages())
			} // else the resolver reports the error
		}
	}
}

func (p *plan) comments(cs []*ent.Comment, fields []graphql.CollectedField) {
	if len(cs) == 0 || len(fields) == 0 {
		return
	}
	ids := make([]int, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	for _, f := range fields {
		switch f.Name {
		case "repliesCount":
			want(p, p.l.RepliesCount, ids, nil)
		case "replies":
			if w, ok := firstAfter(p.ctx, f); ok {
				pages(p, f, ids, w, p.l.Replies, p.l.RepliesCount, commentPages())
			}
		case "parent":
			var parents []int
			for _, c := range cs {
				if c.ParentID != nil {
					parents = append(parents, *c.ParentID)
				}
			}
			sel := selection(p.ctx, f, "Comment")
			want(p, p.l.CommentByID, parents, func(next *plan) {
				got, _ := next.l.CommentByID.LoadAll(next.ctx, parents)
				next.comments(present(got), sel)
			})
		case "author":
			ids := make([]int, len(cs))
			for i, c := range cs {
				ids[i] = c.AuthorID
			}
			p.usersByID(ids, selection(p.ctx, f, "User"))
		case "article":
			ids := make([]int, len(cs))
			for i, c := range cs {
				ids[i] = c.ArticleID
			}
			p.articlesByID(ids, selection(p.ctx, f, "Article"))
		}
	}
}

// prefetchNotifications loads what fields (a Notification's selection) ask of ns.
func prefetchNotifications(ctx context.Context, ns []*ent.Notification, fields []graphql.CollectedField) {
	lookAhead(ctx, func(p *plan) { p.notifications(ns, fields) })
}

func (p *plan) notifications(ns []*ent.Notification, fields []graphql.CollectedField) {
	if len(ns) == 0 || len(fields) == 0 {
		return
	}
	ids := make([]int, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	for _, f := range fields {
		switch f.Name {
		case "actor":
			actors := make([]int, len(ns))
			for i, n := range ns {
				actors[i] = n.ActorID
			}
			p.usersByID(actors, selection(p.ctx, f, "User"))
		case "actorsCount":
			want(p, p.l.NotificationActors, ids, nil)
		case "recipient":
			users := make([]int, len(ns))
			for i, n := range ns {
				users[i] = n.UserID
			}
			p.usersByID(users, selection(p.ctx, f, "User"))
		case "actors":
			sel := selection(p.ctx, f, "User")
			want(p, p.l.NotificationActors, ids, func(next *plan) {
				groups, _ := next.l.NotificationActors.LoadAll(next.ctx, ids)
				var all []int
				for _, g := range groups {
					all = append(all, g...)
				}
				next.usersByID(all, sel)
			})
		case "article":
			var articles []int
			for _, n := range ns {
				if n.ArticleID != nil {
					articles = append(articles, *n.ArticleID)
				}
			}
			p.articlesByID(articles, selection(p.ctx, f, "Article"))
		case "comment":
			var comments []int
			for _, n := range ns {
				if n.CommentID != nil {
					comments = append(comments, *n.CommentID)
				}
			}
			sel := selection(p.ctx, f, "Comment")
			want(p, p.l.CommentByID, comments, func(next *plan) {
				got, _ := next.l.CommentByID.LoadAll(next.ctx, comments)
				next.comments(present(got), sel)
			})
		}
	}
}

// usersByID wants the users ids, and then what sel asks of them.
func (p *plan) usersByID(ids []int, sel []graphql.CollectedField) {
	want(p, p.l.UserByID, ids, func(next *plan) {
		us, _ := next.l.UserByID.LoadAll(next.ctx, ids)
		next.users(present(us), sel)
	})
}

// articlesByID wants the articles ids, and then what sel asks of them.
func (p *plan) articlesByID(ids []int, sel []graphql.CollectedField) {
	want(p, p.l.ArticleByID, ids, func(next *plan) {
		as, _ := next.l.ArticleByID.LoadAll(next.ctx, ids)
		next.articles(present(as), sel)
	})
}

func (p *plan) users(us []*ent.User, fields []graphql.CollectedField) {
	if len(us) == 0 || len(fields) == 0 {
		return
	}
	ids := make([]int, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	for _, f := range fields {
		switch f.Name {
		case "viewerIsFollowing":
			want(p, p.l.ViewerIsFollowing, ids, nil)
		case "followersCount":
			want(p, p.l.FollowersCount, ids, nil)
		case "followingCount":
			want(p, p.l.FollowingCount, ids, nil)
		case "followers", "following", "articles", "favoriteArticles":
			w, ok := firstAfter(p.ctx, f)
			if !ok {
				continue
			}
			switch f.Name {
			case "followers":
				pages(p, f, ids, w, p.l.Followers, p.l.FollowersCount, userPages())
			case "following":
				pages(p, f, ids, w, p.l.Following, p.l.FollowingCount, userPages())
			case "articles":
				pages(p, f, ids, w, p.l.Articles, p.l.ArticlesCount, articlePages())
			default:
				pages(p, f, ids, w, p.l.FavoriteArticles, p.l.FavoriteArticlesCount, articlePages())
			}
		}
	}
}

// pages wants window w of field f (a connection under each of the parents ids) from
// pageLoader, its total from counts if asked, and then what the items' selection asks
// of them.
func pages[T any](p *plan, f graphql.CollectedField, ids []int, w paging.Window,
	pageLoader *loader.Loader[loader.PageKey, paging.Page[T]], counts *loader.Loader[int, int], kind connectionKind[T],
) {
	keys := make([]loader.PageKey, len(ids))
	for i, id := range ids {
		keys[i] = loader.NewPageKey(id, w)
	}
	items, counted := connection(p.ctx, f, kind.conn, kind.edge, kind.item)
	if counted {
		want(p, counts, ids, nil)
	}
	want(p, pageLoader, keys, func(next *plan) {
		if len(items) > 0 {
			kind.plan(next, itemsOf(pageLoader.LoadAll(next.ctx, keys)), items)
		}
	})
}

// connectionKind names a connection's GraphQL types and plans the look-ahead into its
// items.
type connectionKind[T any] struct {
	conn, edge, item string
	plan             func(*plan, []T, []graphql.CollectedField)
}

// The kinds are functions, not variables: the plans they hold refer back to them.
func commentPages() connectionKind[*ent.Comment] {
	return connectionKind[*ent.Comment]{"CommentConnection", "CommentEdge", "Comment", (*plan).comments}
}

func articlePages() connectionKind[*ent.Article] {
	return connectionKind[*ent.Article]{"ArticleConnection", "ArticleEdge", "Article", (*plan).articles}
}

func userPages() connectionKind[*ent.User] {
	return connectionKind[*ent.User]{"UserConnection", "UserEdge", "User", (*plan).users}
}

// firstAfter is the window of a connection field paged by first/after only; not ok when
// its arguments are invalid, which the field's resolver reports.
func firstAfter(ctx context.Context, f graphql.CollectedField) (paging.Window, bool) {
	a := args(ctx, f)
	w, err := paging.FirstOffset(a.int("first"), a.str("after"), a.int("offset"))
	return w, err == nil
}

// parallel runs fs and waits for all of them; one runs on the caller's goroutine.
func parallel(fs []func()) {
	switch len(fs) {
	case 0:
		return
	case 1:
		fs[0]()
		return
	}
	var wg sync.WaitGroup
	for _, f := range fs[1:] {
		wg.Go(f)
	}
	fs[0]()
	wg.Wait()
}

// selection is the fields selected under f on an object of type typ.
func selection(ctx context.Context, f graphql.CollectedField, typ string) []graphql.CollectedField {
	if len(f.Selections) == 0 {
		return nil
	}
	names, ok := satisfies[typ]
	if !ok {
		names = []string{typ}
	}
	return graphql.CollectFields(graphql.GetOperationContext(ctx), f.Selections, names)
}

// satisfies lists, by object type, the type and the interfaces and unions it belongs to:
// the fragments whose condition names one of them apply to it, as when gqlgen executes
// the selection.
var satisfies = func() map[string][]string {
	out := map[string][]string{}
	for name, def := range parsedSchema.Types {
		names := []string{name}
		for _, abstract := range parsedSchema.GetImplements(def) {
			names = append(names, abstract.Name)
		}
		out[name] = names
	}
	return out
}()

// connection is the selection of field f's items (of type item), through nodes and
// through edges.node together, and whether f asks for totalCount.
func connection(ctx context.Context, f graphql.CollectedField, conn, edge, item string) (items []graphql.CollectedField, counted bool) {
	for _, c := range selection(ctx, f, conn) {
		switch c.Name {
		case "nodes":
			items = append(items, selection(ctx, c, item)...)
		case "edges":
			for _, e := range selection(ctx, c, edge) {
				if e.Name == "node" {
					items = append(items, selection(ctx, e, item)...)
				}
			}
		case "totalCount":
			counted = true
		}
	}
	return items, counted
}

// ownSelection is the selection of the field being resolved in ctx, on type typ.
func ownSelection(ctx context.Context, typ string) []graphql.CollectedField {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	return selection(ctx, fc.Field, typ)
}

// ownConnection is connection for the field being resolved in ctx.
func ownConnection(ctx context.Context, conn, edge, item string) (items []graphql.CollectedField, counted bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil, false
	}
	return connection(ctx, fc.Field, conn, edge, item)
}

// arguments are a field's arguments with variables and defaults applied.
type arguments map[string]any

func args(ctx context.Context, f graphql.CollectedField) arguments {
	if f.Field == nil || f.Definition == nil {
		return nil
	}
	return f.ArgumentMap(graphql.GetOperationContext(ctx).Variables)
}

// int is an Int argument, nil when absent or null. Variables arrive as json.Number,
// literals as int64.
func (a arguments) int(name string) *int {
	var n int
	switch v := a[name].(type) {
	case int:
		n = v
	case int64:
		n = int(v)
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			return nil
		}
		n = int(i)
	case float64:
		n = int(v)
	default:
		return nil
	}
	return &n
}

// str is a String argument, nil when absent or null.
func (a arguments) str(name string) *string {
	if s, ok := a[name].(string); ok {
		return &s
	}
	return nil
}

// present drops the nils (not found) of a loaded list.
func present[T any](vs []*T) []*T {
	out := vs[:0:0]
	for _, v := range vs {
		if v != nil {
			out = append(out, v)
		}
	}
	return out
}

// itemsOf is the items of loaded pages, together.
func itemsOf[T any](pages []paging.Page[T], _ []error) []T {
	var out []T
	for _, p := range pages {
		out = append(out, p.Items...)
	}
	return out
}
