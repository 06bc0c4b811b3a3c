package graph

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/asset"
	"inkwell/graph/model"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/globalid"
	"inkwell/internal/loader"
	"inkwell/internal/paging"
	"inkwell/internal/policy"
	"inkwell/internal/service"
)

func authPayload(ctx context.Context, s *service.Session, err error) (*model.AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.AuthPayload{
		AccessToken:  s.AccessToken,
		RefreshToken: s.RefreshToken,
		ExpiresAt:    s.ExpiresAt,
		User:         model.NewSignedIn(ctx, s.User),
	}, nil
}

// articleConnection is a root list's page of articles, with what its selection asks of
// them loaded ahead (prefetch.go).
func articleConnection(ctx context.Context, l service.ArticleList, err error) (*model.ArticleConnection, error) {
	if err != nil {
		return nil, err
	}
	items, _ := ownConnection(ctx, "ArticleConnection", "ArticleEdge", "Article")
	ld, heads := articleReader(ctx, items)
	ld.Preload(ctx, l.Page.Items)
	as, errs := ld.LoadAll(ctx, l.Page.Items)
	page := paging.Page[*ent.Article]{HasNextPage: l.Page.HasNextPage, HasPreviousPage: l.Page.HasPreviousPage}
	for i, a := range as {
		switch {
		case errs != nil && apperr.CodeOf(errs[i]) == apperr.CodeNotFound:
			continue // deleted since the page was chosen
		case errs != nil && errs[i] != nil:
			return nil, errs[i]
		case !policy.CanSeeArticle(auth.ViewerFrom(ctx), a):
			continue // unpublished since the page was chosen
		}
		page.Items, page.Keys = append(page.Items, a), append(page.Keys, l.Page.Keys[i])
	}
	prefetchArticles(ctx, page.Items, items)
	return model.NewArticleConnection(ctx, page, l.Count, heads), nil
}

// articleReader is the loader for articles of a list whose selection is fields, and
// whether it reads heads: a list that shows no body reads none (loader.ArticleHeadByID).
func articleReader(ctx context.Context, fields []graphql.CollectedField) (ld *loader.Loader[int, *ent.Article], heads bool) {
	l := loader.For(ctx)
	for _, f := range fields {
		switch f.Name {
		case "body", "bodyHTML", "toc":
			return l.ArticleByID, false
		}
	}
	return l.ArticleHeadByID, true
}

// articleMeta is an article's metadata from its input.
func articleMeta(subtitle, canonicalURL *string, seo *model.SEOInput, cover *string) service.ArticleMeta {
	m := service.ArticleMeta{Subtitle: subtitle, CanonicalURL: canonicalURL, CoverImageAssetID: cover}
	if seo != nil {
		m.SeoTitle, m.SeoDescription = seo.Title, seo.Description
	}
	return m
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
		return asNode(ctx, l.UserByID.Load(ctx, id), model.NewUser)
	case globalid.TypeArticle:
		article := l.ArticleByID.Load(ctx, id)
		return asNode(ctx, func() (*ent.Article, error) {
			a, err := article()
			if err != nil || a == nil || !policy.CanFindArticle(auth.ViewerFrom(ctx), a) {
				return nil, err
			}
			return a, nil
		}, model.NewArticle)
	case globalid.TypeComment:
		// A comment exists for the viewer when its article does.
		comment := l.CommentByID.Load(ctx, id)
		return asNode(ctx, func() (*ent.Comment, error) {
			c, err := comment()
			if err != nil || c == nil {
				return c, err
			}
			a, err := l.ArticleByID.Load(ctx, c.ArticleID)()
			if err != nil || !policy.CanFindArticle(auth.ViewerFrom(ctx), a) {
				return nil, err
			}
			return c, nil
		}, model.NewComment)
	}
	return func() (model.Node, error) { return nil, nil }
}

// asNode turns a loader's thunk into a node's, with NOT_FOUND as null. A nil pointer must
// become a nil interface, not an interface holding a nil pointer.
func asNode[T, W any](ctx context.Context, th func() (*T, error), wrap func(context.Context, *T) *W) func() (model.Node, error) {
	return func() (model.Node, error) {
		v, err := th()
		if apperr.CodeOf(err) == apperr.CodeNotFound {
			return nil, nil
		}
		if err != nil || v == nil {
			return nil, err
		}
		w := wrap(ctx, v)
		if w == nil { // not shown to this viewer
			return nil, nil
		}
		return w, nil
	}
}

func nodeOf(ctx context.Context, typ string, id int) (model.Node, error) {
	return nodeThunk(ctx, typ, id)()
}

// ownList is one of the user's private lists (drafts, trash) read by list: for anyone
// but the user themself it is empty, as if there were none.
func (r *userResolver) ownList(ctx context.Context, u *model.User, first *int, after *string, offset *int,
	list func(*service.Acting, context.Context, paging.Window) (service.ArticleList, error),
) (*model.ArticleConnection, error) {
	w, err := window(first, after, nil, nil, offset)
	if err != nil {
		return nil, err
	}
	acting, err := r.Service.As(ctx)
	if err != nil || auth.ViewerFrom(ctx).UserID != u.ID {
		return articleConnection(ctx, service.ArticleList{Count: func(context.Context) (int, error) { return 0, nil }}, nil)
	}
	l, err := list(acting, ctx, w)
	return articleConnection(ctx, l, err)
}

// articleOrder is the service's form of a list's orderBy.
func articleOrder(o *model.ArticleOrder) service.ArticleOrder {
	if o == nil || o.Field == model.ArticleOrderFieldNewest {
		return service.Newest
	}
	return service.ArticleOrder(strings.ToLower(string(o.Field)))
}

// uploadRequest is the service's form of requestUpload's input.
func uploadRequest(in model.RequestUploadInput) service.UploadRequest {
	r := service.UploadRequest{Purpose: asset.Purpose(strings.ToLower(string(in.Purpose))), ContentType: in.ContentType,
		ByteSize: int64(in.ByteSize)}
	if in.Alt != nil {
		r.Alt = *in.Alt
	}
	return r
}

// uploadPayload is requestUpload's answer; headers in name order, so that answers
// compare equal.
func uploadPayload(t service.UploadTicket) *model.RequestUploadPayload {
	out := &model.RequestUploadPayload{UploadURL: t.URL, Method: t.Method, ExpiresAt: t.ExpiresAt, Asset: model.NewAsset(t.Asset)}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) {
		out.Headers = append(out.Headers, &model.HTTPHeader{Name: name, Value: t.Headers[name]})
	}
	return out
}

// searchConnection is a page of search hits of type typ, with what the results'
// selection asks of them loaded ahead. A hit gone since (deleted, unpublished) is left out.
func searchConnection(ctx context.Context, svc *service.Service, typ service.SearchType, res service.SearchResults) (*model.SearchConnection, error) {
	ids := make([]int, len(res.Hits))
	for i, h := range res.Hits {
		ids[i] = h.ID
	}
	nodes := make([]model.SearchResult, len(ids))
	l := loader.For(ctx)
	switch typ {
	case service.SearchArticles:
		items, _ := ownConnection(ctx, "SearchConnection", "SearchEdge", "Article")
		ld, heads := articleReader(ctx, items)
		wrap := model.NewArticle
		if heads {
			wrap = model.NewArticleHead
		}
		as, _ := ld.LoadAll(ctx, ids)
		prefetchArticles(ctx, present(as), items)
		for i, a := range as {
			if m := wrap(ctx, a); m != nil && a.Status == article.StatusPublished {
				nodes[i] = m
			}
		}
	case service.SearchUsers:
		us, _ := l.UserByID.LoadAll(ctx, ids)
		items, _ := ownConnection(ctx, "SearchConnection", "SearchEdge", "User")
		prefetchUsers(ctx, present(us), items)
		for i, u := range us {
			if u != nil {
				nodes[i] = model.NewUser(ctx, u)
			}
		}
	case service.SearchTags:
		tags, err := svc.TagsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		byID := make(map[int]*ent.Tag, len(tags))
		for _, t := range tags {
			byID[t.ID] = t
		}
		for i, id := range ids {
			if t, ok := byID[id]; ok {
				nodes[i] = t
			}
		}
	}
	edges := make([]*model.SearchEdge, 0, len(ids))
	for i, h := range res.Hits {
		if nodes[i] != nil {
			edges = append(edges, &model.SearchEdge{Cursor: h.Cursor, Node: nodes[i], Highlight: h.Highlight, Rank: float64(h.Rank)})
		}
	}
	return model.NewSearchConnection(ctx, edges, res.HasNextPage, res.HasPreviousPage, res.Count), nil
}
