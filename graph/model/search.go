package model

import "context"

// SearchResult is what search finds: an *Article, a *User or an *ent.Tag.
type SearchResult any

// SearchEdge is a result with its cursor, highlight and rank.
type SearchEdge struct {
	Cursor    string
	Node      SearchResult
	Highlight string
	Rank      float64
}

// SearchConnection is a page of search results.
type SearchConnection struct {
	Edges    []*SearchEdge
	PageInfo *PageInfo
	Count    Counter
	ctx      context.Context
}

// NewSearchConnection is a page of edges whose whole list count counts.
func NewSearchConnection(ctx context.Context, edges []*SearchEdge, hasNext, hasPrevious bool, count Counter) *SearchConnection {
	pi := &PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrevious}
	if n := len(edges); n > 0 {
		pi.StartCursor, pi.EndCursor = &edges[0].Cursor, &edges[n-1].Cursor
	}
	return &SearchConnection{Edges: edges, PageInfo: pi, Count: count, ctx: ctx}
}

// Nodes lists the page's results.
func (c *SearchConnection) Nodes() []SearchResult {
	out := make([]SearchResult, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node
	}
	return out
}

// TotalCount counts the whole list.
func (c *SearchConnection) TotalCount() (int, error) { return total(c.ctx, c.Count) }
