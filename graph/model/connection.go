package model

import (
	"context"

	"inkwell/ent"
	"inkwell/internal/globalid"
	"inkwell/internal/paging"
)

// PageInfo is Relay's page information.
type PageInfo struct {
	HasNextPage     bool    `json:"hasNextPage"`
	HasPreviousPage bool    `json:"hasPreviousPage"`
	StartCursor     *string `json:"startCursor"`
	EndCursor       *string `json:"endCursor"`
}

// Counter counts the whole list behind a connection; it runs only when a client asks
// for totalCount.
type Counter func(ctx context.Context) (int, error)

func pageInfo[T any](p paging.Page[T]) *PageInfo {
	pi := &PageInfo{HasNextPage: p.HasNextPage, HasPreviousPage: p.HasPreviousPage}
	if n := len(p.Keys); n > 0 {
		start, end := paging.EncodeCursor(p.Keys[0]), paging.EncodeCursor(p.Keys[n-1])
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}

func total(ctx context.Context, count Counter) (int, error) {
	if count == nil {
		return 0, nil
	}
	return count(ctx)
}

// NewArticleConnection is a page of articles read in ctx's request, counted by count
// when a client asks for totalCount; heads when they were read without their body
// columns (loader.ArticleHeadByID).
func NewArticleConnection(ctx context.Context, p paging.Page[*ent.Article], count Counter, heads bool) *ArticleConnection {
	return &ArticleConnection{Page: p, Count: count, ctx: ctx, heads: heads}
}

// ArticleConnection is a page of articles.
type ArticleConnection struct {
	Page  paging.Page[*ent.Article]
	Count Counter
	ctx   context.Context // the request's, which the items are read in
	heads bool            // the items lack their body columns
}

// ArticleEdge is an article and its cursor.
type ArticleEdge struct {
	Cursor string   `json:"cursor"`
	Node   *Article `json:"node"`
}

// Edges lists the page's articles with cursors.
func (c *ArticleConnection) Edges() []*ArticleEdge {
	nodes := c.Nodes()
	edges := make([]ArticleEdge, len(nodes))
	out := make([]*ArticleEdge, len(nodes))
	for i, n := range nodes {
		edges[i] = ArticleEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: n}
		out[i] = &edges[i]
	}
	return out
}

// Nodes lists the page's articles.
func (c *ArticleConnection) Nodes() []*Article {
	return wrapAll(c.Page.Items, func(a *ent.Article, w *Article) { *w = Article{Article: a, ctx: c.ctx, head: c.heads} })
}

// PageInfo tells where the page sits.
func (c *ArticleConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the whole list.
func (c *ArticleConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }

// ArticleRevision is an article's earlier version.
type ArticleRevision struct{ *ent.ArticleRevision }

// GlobalID is the version's global id.
func (r *ArticleRevision) GlobalID() string {
	return globalid.Encode(globalid.TypeArticleRevision, r.ID)
}

// ArticleRevisionConnection is a page of an article's earlier versions.
type ArticleRevisionConnection struct {
	Page  paging.Page[*ent.ArticleRevision]
	Count Counter
	ctx   context.Context
}

// NewArticleRevisionConnection is a page of versions, counted by count.
func NewArticleRevisionConnection(ctx context.Context, p paging.Page[*ent.ArticleRevision], count Counter) *ArticleRevisionConnection {
	return &ArticleRevisionConnection{Page: p, Count: count, ctx: ctx}
}

// ArticleRevisionEdge is a version and its cursor.
type ArticleRevisionEdge struct {
	Cursor string           `json:"cursor"`
	Node   *ArticleRevision `json:"node"`
}

// Nodes lists the page's versions.
func (c *ArticleRevisionConnection) Nodes() []*ArticleRevision {
	out := make([]*ArticleRevision, len(c.Page.Items))
	for i, r := range c.Page.Items {
		out[i] = &ArticleRevision{r}
	}
	return out
}

// Edges lists the page's versions with cursors.
func (c *ArticleRevisionConnection) Edges() []*ArticleRevisionEdge {
	out := make([]*ArticleRevisionEdge, len(c.Page.Items))
	for i, n := range c.Nodes() {
		out[i] = &ArticleRevisionEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: n}
	}
	return out
}

// PageInfo tells where the page sits.
func (c *ArticleRevisionConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the versions kept.
func (c *ArticleRevisionConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }

// CommentConnection is a page of comments.
type CommentConnection struct {
	Page  paging.Page[*ent.Comment]
	Count Counter
	ctx   context.Context // the request's, which the items are read in
}

// CommentEdge is a comment and its cursor.
type CommentEdge struct {
	Cursor string   `json:"cursor"`
	Node   *Comment `json:"node"`
}

// Edges lists the page's comments with cursors.
func (c *CommentConnection) Edges() []*CommentEdge {
	nodes := c.Nodes()
	edges := make([]CommentEdge, len(nodes))
	out := make([]*CommentEdge, len(nodes))
	for i, n := range nodes {
		edges[i] = CommentEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: n}
		out[i] = &edges[i]
	}
	return out
}

// Nodes lists the page's comments.
func (c *CommentConnection) Nodes() []*Comment { return NewComments(c.ctx, c.Page.Items) }

// PageInfo tells where the page sits.
func (c *CommentConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the whole list.
func (c *CommentConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }

// UserConnection is a page of users.
type UserConnection struct {
	Page  paging.Page[*ent.User]
	Count Counter
	ctx   context.Context // the request's, which the items are read in
}

// UserEdge is a user and its cursor.
type UserEdge struct {
	Cursor string `json:"cursor"`
	Node   *User  `json:"node"`
}

// Edges lists the page's users with cursors.
func (c *UserConnection) Edges() []*UserEdge {
	nodes := c.Nodes()
	edges := make([]UserEdge, len(nodes))
	out := make([]*UserEdge, len(nodes))
	for i, n := range nodes {
		edges[i] = UserEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: n}
		out[i] = &edges[i]
	}
	return out
}

// Nodes lists the page's users.
func (c *UserConnection) Nodes() []*User { return NewUsers(c.ctx, c.Page.Items) }

// PageInfo tells where the page sits.
func (c *UserConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the whole list.
func (c *UserConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }
