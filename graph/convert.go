package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"inkwell/ent"
	"inkwell/graph/model"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/globalid"
	"inkwell/internal/loader"
	"inkwell/internal/paging"
	"inkwell/internal/service"
)

func authPayload(ctx context.Context, s *service.Session, err error) (*model.AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	auth.RecordSignIn(ctx, s.User.ID)
	return &model.AuthPayload{
		AccessToken:  s.AccessToken,
		RefreshToken: s.RefreshToken,
		ExpiresAt:    s.ExpiresAt,
		User:         s.User,
	}, nil
}

// articleConnection is a root list's page of articles, with what its selection asks of
// them loaded ahead (prefetch.go).
func articleConnection(ctx context.Context, l service.ArticleList, err error) (*model.ArticleConnection, error) {
	if err != nil {
		return nil, err
	}
	items, _ := ownConnection(ctx, "ArticleConnection", "ArticleEdge", "Article")
	prefetchArticles(ctx, l.Page.Items, items)
	return &model.ArticleConnection{Page: l.Page, Count: l.Count}, nil
}

// load is a batch resolver's body: the values of keys from ld, fetched now in one query
// for those not loaded yet, with an error per key that failed.
func load[K comparable, V any](ctx context.Context, ld *loader.Loader[K, V], keys []K) ([]V, error) {
	ld.Preload(ctx, keys)
	vals, errs := ld.LoadAll(ctx, keys)
	if errs != nil {
		return vals, graphql.BatchErrorList(errs)
	}
	return vals, nil
}

// users loads the users ids for a batch resolver, with what the field's selection asks
// of them.
func users(ctx context.Context, ids []int) ([]*ent.User, error) {
	sel := ownSelection(ctx, "User")
	lookAhead(ctx, func(p *plan) { p.usersByID(ids, sel) })
	return load(ctx, loader.For(ctx).UserByID, ids)
}

func articleIDs(as []*ent.Article) []int {
	ids := make([]int, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func userIDs(us []*ent.User) []int {
	ids := make([]int, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

// connectionKind names a connection's GraphQL types and looks ahead into its items.
type connectionKind[T any] struct {
	conn, edge, item string
	plan             func(*plan, []T, []graphql.CollectedField)
}

// The kinds are functions, not variables: the look-ahead they hold refers back to them.
func commentPages() connectionKind[*ent.Comment] {
	return connectionKind[*ent.Comment]{"CommentConnection", "CommentEdge", "Comment", (*plan).comments}
}

func articlePages() connectionKind[*ent.Article] {
	return connectionKind[*ent.Article]{"ArticleConnection", "ArticleEdge", "Article", (*plan).articles}
}

func userPages() connectionKind[*ent.User] {
	return connectionKind[*ent.User]{"UserConnection", "UserEdge", "User", (*plan).users}
}

// pagesFor is the body of a batch resolver of a connection field: window w of the list
// under each parent, loaded from pages in one query, the items' selection looked ahead
// into, and each list's total from counts (loaded ahead when the selection asks for it).
func pagesFor[T any](ctx context.Context, pageLoader *loader.Loader[loader.PageKey, paging.Page[T]], counts *loader.Loader[int, int],
	parents []int, w paging.Window, kind connectionKind[T],
) ([]paging.Page[T], []model.Counter, error) {
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		lookAhead(ctx, func(p *plan) { pages(p, fc.Field, parents, w, pageLoader, counts, kind) })
	}
	keys := make([]loader.PageKey, len(parents))
	for i, id := range parents {
		keys[i] = loader.NewPageKey(id, w)
	}
	got, err := load(ctx, pageLoader, keys)
	out := make([]model.Counter, len(parents))
	for i, id := range parents {
		out[i] = func(ctx context.Context) (int, error) { return counts.Load(ctx, id)() }
	}
	return got, out, err
}

// articleConnections answers a batch of connections of articles under users, paged by
// first/after.
func articleConnections(ctx context.Context, pages *loader.Loader[loader.PageKey, paging.Page[*ent.Article]], counts *loader.Loader[int, int],
	parents []*ent.User, first *int, after *string,
) ([]*model.ArticleConnection, error) {
	w, err := paging.First(first, after)
	if err != nil {
		return nil, err
	}
	got, count, err := pagesFor(ctx, pages, counts, userIDs(parents), w, articlePages())
	out := make([]*model.ArticleConnection, len(parents))
	for i := range parents {
		out[i] = &model.ArticleConnection{Page: got[i], Count: count[i]}
	}
	return out, err
}

// userConnections is articleConnections for connections of users.
func userConnections(ctx context.Context, pages *loader.Loader[loader.PageKey, paging.Page[*ent.User]], counts *loader.Loader[int, int],
	parents []*ent.User, first *int, after *string,
) ([]*model.UserConnection, error) {
	w, err := paging.First(first, after)
	if err != nil {
		return nil, err
	}
	got, count, err := pagesFor(ctx, pages, counts, userIDs(parents), w, userPages())
	out := make([]*model.UserConnection, len(parents))
	for i := range parents {
		out[i] = &model.UserConnection{Page: got[i], Count: count[i]}
	}
	return out, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func tooManyIDs() error {
	return apperr.BadInput("ids", fmt.Sprintf("has too many ids (at most %d)", paging.MaxSize))
}

// nodeThunk starts loading the object behind a decoded global id; a missing object is
// null, as Relay expects, not an error.
func nodeThunk(ctx context.Context, typ string, id int) func() (model.Node, error) {
	l := loader.For(ctx)
	switch typ {
	case globalid.TypeUser:
		return asNode(l.UserByID.Load(ctx, id))
	case globalid.TypeArticle:
		return asNode(l.ArticleByID.Load(ctx, id))
	case globalid.TypeComment:
		return asNode(l.CommentByID.Load(ctx, id))
	}
	return func() (model.Node, error) { return nil, nil }
}

// asNode turns a loader's thunk into a node's, with NOT_FOUND as null. A nil pointer must
// become a nil interface, not an interface holding a nil pointer.
func asNode[T any](th func() (*T, error)) func() (model.Node, error) {
	return func() (model.Node, error) {
		v, err := th()
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, nil
		}
		if err != nil || v == nil {
			return nil, err
		}
		return v, nil
	}
}

func nodeOf(ctx context.Context, typ string, id int) (model.Node, error) {
	return nodeThunk(ctx, typ, id)()
}
