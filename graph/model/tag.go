package model

import (
	"context"

	"inkwell/ent"
)

// TagEdge is a tag and its cursor.
type TagEdge struct {
	Cursor string
	Node   *ent.Tag
}

// TagConnection is a page of tags.
type TagConnection struct {
	Edges    []*TagEdge
	PageInfo *PageInfo
	Count    Counter
	ctx      context.Context
}

// NewTagConnection is a page of tags with their cursors, counted by count.
func NewTagConnection(ctx context.Context, tags []*ent.Tag, cursors []string, hasNext bool, count Counter) *TagConnection {
	c := &TagConnection{PageInfo: &PageInfo{HasNextPage: hasNext, HasPreviousPage: false}, Count: count, ctx: ctx}
	for i, t := range tags {
		c.Edges = append(c.Edges, &TagEdge{Cursor: cursors[i], Node: t})
	}
	if n := len(c.Edges); n > 0 {
		c.PageInfo.StartCursor, c.PageInfo.EndCursor = &c.Edges[0].Cursor, &c.Edges[n-1].Cursor
	}
	return c
}

// Nodes lists the page's tags.
func (c *TagConnection) Nodes() []*ent.Tag {
	out := make([]*ent.Tag, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node
	}
	return out
}

// TotalCount counts every tag in use.
func (c *TagConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }
