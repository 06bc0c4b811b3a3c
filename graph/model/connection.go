package model

import (
	"context"

	"inkwell/ent"
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

// ArticleConnection is a page of articles.
type ArticleConnection struct {
	Page  paging.Page[*ent.Article]
	Count Counter
}

// ArticleEdge is an article and its cursor.
type ArticleEdge struct {
	Cursor string       `json:"cursor"`
	Node   *ent.Article `json:"node"`
}

// Edges lists the page's articles with cursors.
func (c *ArticleConnection) Edges() []*ArticleEdge {
	out := make([]*ArticleEdge, len(c.Page.Items))
	for i, a := range c.Page.Items {
		out[i] = &ArticleEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: a}
	}
	return out
}

// Nodes lists the page's articles.
func (c *ArticleConnection) Nodes() []*ent.Article { return c.Page.Items }

// PageInfo tells where the page sits.
func (c *ArticleConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the whole list.
func (c *ArticleConnection) TotalCount(ctx context.Context) (int, error) {
	return total(ctx, c.Count)
}

// CommentConnection is a page of comments.
type CommentConnection struct {
	Page  paging.Page[*ent.Comment]
	Count Counter
}

// CommentEdge is a comment and its cursor.
type CommentEdge struct {
	Cursor string       `json:"cursor"`
	Node   *ent.Comment `json:"node"`
}

// Edges lists the page's comments with cursors.
func (c *CommentConnection) Edges() []*CommentEdge {
	out := make([]*CommentEdge, len(c.Page.Items))
	for i, a := range c.Page.Items {
		out[i] = &CommentEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: a}
	}
	return out
}

// Nodes lists the page's comments.
func (c *CommentConnection) Nodes() []*ent.Comment { return c.Page.Items }

// PageInfo tells where the page sits.
func (c *CommentConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the whole list.
func (c *CommentConnection) TotalCount(ctx context.Context) (int, error) {
	return total(ctx, c.Count)
}

// UserConnection is a page of users.
type UserConnection struct {
	Page  paging.Page[*ent.User]
	Count Counter
}

// UserEdge is a user and its cursor.
type UserEdge struct {
	Cursor string    `json:"cursor"`
	Node   *ent.User `json:"node"`
}

// Edges lists the page's users with cursors.
func (c *UserConnection) Edges() []*UserEdge {
	out := make([]*UserEdge, len(c.Page.Items))
	for i, a := range c.Page.Items {
		out[i] = &UserEdge{Cursor: paging.EncodeCursor(c.Page.Keys[i]), Node: a}
	}
	return out
}

// Nodes lists the page's users.
func (c *UserConnection) Nodes() []*ent.User { return c.Page.Items }

// PageInfo tells where the page sits.
func (c *UserConnection) PageInfo() *PageInfo { return pageInfo(c.Page) }

// TotalCount counts the whole list.
func (c *UserConnection) TotalCount(ctx context.Context) (int, error) {
	return total(ctx, c.Count)
}
