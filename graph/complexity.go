package graph

import (
	"inkwell/graph/model"
	"inkwell/internal/paging"
)

// Complexity returns the cost model for gqlgen's complexity limit: a list field costs
// its items' fields once per item it may return, so that nested lists multiply. The item
// count is first (or last), else the default page size, and never more than the
// largest page: a larger request is refused by the resolver anyway. Text fields are
// priced by how large they may be (sizeMedium, sizeLarge), so that the limit bounds the
// bytes an operation can make the server read and send, not only its field count.
// Fields not listed here cost 1 plus their children, gqlgen's default.
func Complexity() ComplexityRoot {
	var c ComplexityRoot
	medium := func(int) int { return sizeMedium }
	c.Article.Description = medium
	c.Article.Excerpt = medium
	c.Comment.Text = medium
	c.User.Bio = medium
	c.Article.BodyText = func(int) int { return sizeLarge }
	c.Article.HTML = func(int) int { return 2 * sizeLarge }
	c.Query.Articles = func(child int, first *int, _ *string, last *int, _ *string, _ *model.ArticleFilter, _ *model.ArticleOrder, offset *int) int {
		return listCost(child, first, last) + offsetCost(offset)
	}
	c.Query.Feed = func(child int, first *int, _ *string, last *int, _ *string, offset *int) int {
		return listCost(child, first, last) + offsetCost(offset)
	}
	c.Query.Tags = func(child int, first *int, _ *string) int { return listCost(child, first, nil) }
	// A search ranks every match before it pages: it costs a large text field more than
	// its page does.
	c.Query.Search = func(child int, _ string, _ *model.SearchType, first *int, _ *string, offset *int) int {
		return sizeLarge + listCost(child, first, nil) + offsetCost(offset)
	}
	c.Query.Nodes = func(child int, ids []string) int { return 1 + child*min(len(ids), paging.MaxSize) }
	c.Article.Comments = func(child int, first *int, _ *string, last *int, _ *string) int {
		return listCost(child, first, last)
	}
	forward := func(child int, first *int, _ *string) int { return listCost(child, first, nil) }
	numbered := func(child int, first *int, _ *string, offset *int) int {
		return listCost(child, first, nil) + offsetCost(offset)
	}
	c.User.Articles = numbered
	c.Tag.Articles = func(child int, first *int, _ *string, _ *model.ArticleOrder, offset *int) int {
		return listCost(child, first, nil) + offsetCost(offset)
	}
	c.User.FavoriteArticles = numbered
	c.User.Followers = numbered
	c.User.Following = numbered
	c.User.Drafts = forward
	c.User.Trash = forward
	c.User.Bookmarks = numbered
	c.User.Notifications = forward
	c.Notification.Actors = func(child int, first *int) int {
		n := 3
		if first != nil {
			n = min(max(*first, 0), 20)
		}
		return 1 + child*n
	}
	c.Article.Revisions = forward
	c.Comment.Replies = forward
	return c
}

// The size classes of text fields, as costs.
const (
	// sizeMedium: up to a few thousand characters (description, excerpt, bio, a comment).
	sizeMedium = 3
	// sizeLarge: an article's body, up to 100,000 characters; its HTML costs twice this.
	// With the default limit of 10000, a page of 100 bodies fits, two pages of their
	// HTML do not.
	sizeLarge = 40
)

// listCost is the cost of a list field whose items cost child each.
func listCost(child int, first, last *int) int {
	n := paging.DefaultSize
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	n = max(0, min(n, paging.MaxSize))
	return 1 + child*n
}

// offsetCost is what skipping offset rows costs: the database reads every one of them.
func offsetCost(offset *int) int {
	if offset == nil || *offset <= 0 {
		return 0
	}
	return *offset / 20
}
