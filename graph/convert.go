package graph

import (
	"context"
	"fmt"

	"github.com/graph-gophers/dataloader/v7"

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
		ExpiresAt:    timestamp(s.ExpiresAt),
		User:         s.User,
	}, nil
}

// articleConnection also tells the request's loaders that the page's articles are one
// list, so their fields are fetched in one query per field however their resolvers
// happen to be scheduled.
func articleConnection(ctx context.Context, l service.ArticleList, err error) (*model.ArticleConnection, error) {
	if err != nil {
		return nil, err
	}
	loader.ListArticles(ctx, l.Page.Items)
	return &model.ArticleConnection{Page: l.Page, Count: l.Count}, nil
}

// articlePage is the connection for a page of parentID's articles from pages (one of the
// loaders keyed by PageKey), counted by counts when a client asks for totalCount.
func articlePage(ctx context.Context, pages *dataloader.Loader[loader.PageKey, paging.Page[*ent.Article]], counts *dataloader.Loader[int, int],
	parentID int, first *int, after *string,
) (*model.ArticleConnection, error) {
	page, count, err := loadPage(ctx, pages, counts, parentID, first, after)
	if err != nil {
		return nil, err
	}
	return &model.ArticleConnection{Page: page, Count: count}, nil
}

// userPage is articlePage for users.
func userPage(ctx context.Context, pages *dataloader.Loader[loader.PageKey, paging.Page[*ent.User]], counts *dataloader.Loader[int, int],
	parentID int, first *int, after *string,
) (*model.UserConnection, error) {
	page, count, err := loadPage(ctx, pages, counts, parentID, first, after)
	if err != nil {
		return nil, err
	}
	return &model.UserConnection{Page: page, Count: count}, nil
}

func loadPage[T any](ctx context.Context, pages *dataloader.Loader[loader.PageKey, paging.Page[T]], counts *dataloader.Loader[int, int],
	parentID int, first *int, after *string,
) (paging.Page[T], model.Counter, error) {
	w, err := paging.First(first, after)
	if err != nil {
		return paging.Page[T]{}, nil, err
	}
	page, err := pages.Load(ctx, loader.NewPageKey(parentID, w))()
	count := func(ctx context.Context) (int, error) { return counts.Load(ctx, parentID)() }
	return page, count, err
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
