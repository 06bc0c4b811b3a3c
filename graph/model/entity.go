package model

import (
	"context"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/internal/auth"
	"inkwell/internal/globalid"
	"inkwell/internal/loader"
	"inkwell/internal/markdown"
	"inkwell/internal/paging"
	"inkwell/internal/policy"
)

// The entities as GraphQL reads them: ent's row, and the request it is read in. gqlgen
// runs a field with a resolver, or bound to a method that takes a context, in a goroutine
// of its own, once per object: on a feed page that is hundreds of goroutines. Bound to a
// method without a context it runs the field inline. So the fields that load something
// are such methods, reading through the request's loaders with the context kept here; the
// resolver that returned the object has usually loaded what they ask for already (the
// look-ahead in graph/prefetch.go), so they find it in the loaders' caches. Keeping the
// context in the value is the price of that: it never outlives the request.

// Article is an article read in one request.
type Article struct {
	*ent.Article
	ctx context.Context
	// head: read without body, bodyHTML and toc (loader.ArticleHeadByID), for a list
	// whose selection shows none of them.
	head bool
}

// User is a user read in one request.
type User struct {
	*ent.User
	ctx context.Context
	// shownTo is the user the read is shown to: the request's viewer, or the user an
	// AuthPayload has just signed in (NewSignedIn). What is private to a user (email,
	// identities) is decided from it, not from what else the request did.
	shownTo int
}

// Comment is a comment read in one request.
type Comment struct {
	*ent.Comment
	ctx context.Context
}

// NewArticle is a read in ctx's request; nil for nil, and for an article the request's
// viewer may not see (someone else's draft): whatever path reached it, a draft is shown
// to its author alone.
func NewArticle(ctx context.Context, a *ent.Article) *Article {
	if a == nil || !policy.CanSeeArticle(auth.ViewerFrom(ctx), a) {
		return nil
	}
	return &Article{Article: a, ctx: ctx}
}

// NewArticleHead is NewArticle for an article read without its body columns
// (loader.ArticleHeadByID).
func NewArticleHead(ctx context.Context, a *ent.Article) *Article {
	m := NewArticle(ctx, a)
	if m != nil {
		m.head = true
	}
	return m
}

// NewUser is u read in ctx's request; nil for nil.
func NewUser(ctx context.Context, u *ent.User) *User {
	if u == nil {
		return nil
	}
	return &User{User: u, ctx: ctx, shownTo: auth.ViewerFrom(ctx).UserID}
}

// NewSignedIn is u as an AuthPayload shows it: to u, who has just signed in, although the
// request came in anonymous.
func NewSignedIn(ctx context.Context, u *ent.User) *User {
	if u == nil {
		return nil
	}
	return &User{User: u, ctx: ctx, shownTo: u.ID}
}

// ShownTo is the id of the user this read is shown to; 0 for the anonymous viewer.
func (u *User) ShownTo() int { return u.shownTo }

// NewComment is c read in ctx's request; nil for nil.
func NewComment(ctx context.Context, c *ent.Comment) *Comment {
	if c == nil {
		return nil
	}
	return &Comment{Comment: c, ctx: ctx}
}

// wrapAll wraps each of xs, in one allocation.
func wrapAll[E any, W any](xs []*E, wrap func(*E, *W)) []*W {
	vals := make([]W, len(xs))
	out := make([]*W, len(xs))
	for i, x := range xs {
		wrap(x, &vals[i])
		out[i] = &vals[i]
	}
	return out
}

// NewArticles is as read in ctx's request.
func NewArticles(ctx context.Context, as []*ent.Article) []*Article {
	return wrapAll(as, func(a *ent.Article, w *Article) { *w = Article{Article: a, ctx: ctx} })
}

// NewUsers is us read in ctx's request.
func NewUsers(ctx context.Context, us []*ent.User) []*User {
	shownTo := auth.ViewerFrom(ctx).UserID
	return wrapAll(us, func(u *ent.User, w *User) { *w = User{User: u, ctx: ctx, shownTo: shownTo} })
}

// NewComments is cs read in ctx's request.
func NewComments(ctx context.Context, cs []*ent.Comment) []*Comment {
	return wrapAll(cs, func(c *ent.Comment, w *Comment) { *w = Comment{Comment: c, ctx: ctx} })
}

// TableOfContents is the body's headings; the stored TOC type, a named slice, is not
// one gqlgen binds to a list by itself.
func (a *Article) TableOfContents() ([]markdown.TocEntry, error) {
	w, err := a.whole()
	if err != nil {
		return nil, err
	}
	return w.Toc, nil
}

// BodyText is the Markdown body.
func (a *Article) BodyText() (string, error) {
	w, err := a.whole()
	if err != nil {
		return "", err
	}
	return w.Body, nil
}

// HTML is the body rendered, stored when the article was written.
func (a *Article) HTML() (string, error) {
	w, err := a.whole()
	if err != nil {
		return "", err
	}
	return w.BodyHTML, nil
}

// whole is the article with its body columns. A list reads them when its selection shows
// a body field (graph/convert.go), so a head reaches here only for a selection that was
// not looked at ahead; it is then read whole rather than shown empty.
func (a *Article) whole() (*ent.Article, error) {
	if !a.head {
		return a.Article, nil
	}
	return loader.For(a.ctx).ArticleByID.Load(a.ctx, a.ID)()
}

// Canonical is the canonical URL, or nil when the article was first published here.
func (a *Article) Canonical() *string {
	if a.CanonicalURL == "" {
		return nil
	}
	return &a.CanonicalURL
}

// SEO is what search engines and link previews show of an article.
type SEO struct {
	Title, Description string
}

// Seo is the search-engine text, the article's own title and excerpt where none is given.
func (a *Article) Seo() *SEO {
	out := &SEO{Title: a.SeoTitle, Description: a.SeoDescription}
	if out.Title == "" {
		out.Title = a.Title
	}
	if out.Description == "" {
		out.Description = a.Excerpt
	}
	return out
}

// The viewer's hints come from the rules the writes apply (internal/policy).

// ViewerCanEdit reports whether the viewer may change the article.
func (a *Article) ViewerCanEdit() bool {
	return policy.CanEditArticle(auth.ViewerFrom(a.ctx), a.Article) == nil
}

// ViewerCanDelete reports whether the viewer may delete the article.
func (a *Article) ViewerCanDelete() bool { return a.ViewerCanEdit() }

// ViewerCanComment reports whether the viewer may comment on (and favorite) the article.
func (a *Article) ViewerCanComment() bool {
	return policy.CanComment(auth.ViewerFrom(a.ctx), a.Article) == nil
}

// Edited reports whether the comment was changed after it was written (its deletion,
// leaving a placeholder, is not an edit).
func (c *Comment) Edited() bool { return !c.Deleted && c.UpdatedAt.After(c.CreatedAt) }

// DeletedText is the body a placeholder shows.
const DeletedText = "[deleted]"

// Text is the comment's body, or DeletedText for a placeholder.
func (c *Comment) Text() string {
	if c.Deleted {
		return DeletedText
	}
	return c.Body
}

// ViewerCanEdit reports whether the viewer may edit the comment.
func (c *Comment) ViewerCanEdit() bool {
	return policy.CanEditComment(auth.ViewerFrom(c.ctx), c.Comment) == nil
}

// ViewerCanDelete reports whether the viewer may delete the comment.
func (c *Comment) ViewerCanDelete() bool {
	return policy.CanDeleteComment(auth.ViewerFrom(c.ctx), c.Comment) == nil
}

// ArticleStatus is the stored status as the schema names it.
func (a *Article) ArticleStatus() ArticleStatus {
	status := a.Status
	if status == article.StatusTrashed {
		// In the trash, an article shows the status a restore gives back.
		status = article.StatusDraft
		if a.TrashedFrom != nil {
			status = article.Status(*a.TrashedFrom)
		}
	}
	switch status {
	case article.StatusDraft:
		return ArticleStatusDraft
	case article.StatusScheduled:
		return ArticleStatusScheduled
	default:
		return ArticleStatusPublished
	}
}

// Author is who wrote the article.
func (a *Article) Author() (*User, error) {
	u, err := loader.For(a.ctx).UserByID.Load(a.ctx, a.AuthorID)()
	return NewUser(a.ctx, u), err
}

// Tags are the article's tags, by name.
func (a *Article) Tags() ([]*ent.Tag, error) {
	return loader.For(a.ctx).TagsByArticle.Load(a.ctx, a.ID)()
}

// ViewerHasBookmarked says whether the request's viewer bookmarked the article.
func (a *Article) ViewerHasBookmarked() (bool, error) {
	return loader.For(a.ctx).ViewerHasBookmarked.Load(a.ctx, a.ID)()
}

// ViewerHasFavorited says whether the request's viewer favorited the article.
func (a *Article) ViewerHasFavorited() (bool, error) {
	return loader.For(a.ctx).ViewerHasFavorited.Load(a.ctx, a.ID)()
}

// Comments is a page of the article's comments, oldest first.
func (a *Article) Comments(first *int, after *string, last *int, before *string) (*CommentConnection, error) {
	w, err := paging.Parse(paging.Args{First: first, After: after, Last: last, Before: before})
	if err != nil {
		return nil, err
	}
	l := loader.For(a.ctx)
	page, err := l.Comments.Load(a.ctx, loader.NewCommentsKey(a.ID, w))()
	if err != nil {
		return nil, err
	}
	return &CommentConnection{Page: page, Count: countOf(l.CommentsCount, a.ID), ctx: a.ctx}, nil
}

// ViewerIsFollowing says whether the request's viewer follows the user.
func (u *User) ViewerIsFollowing() (bool, error) {
	return loader.For(u.ctx).ViewerIsFollowing.Load(u.ctx, u.ID)()
}

// FollowersCount is how many users follow the user.
func (u *User) FollowersCount() (int, error) {
	return loader.For(u.ctx).FollowersCount.Load(u.ctx, u.ID)()
}

// FollowingCount is how many users the user follows.
func (u *User) FollowingCount() (int, error) {
	return loader.For(u.ctx).FollowingCount.Load(u.ctx, u.ID)()
}

// Followers is a page of the users following the user, most recent follow first.
func (u *User) Followers(first *int, after *string, offset *int) (*UserConnection, error) {
	l := loader.For(u.ctx)
	page, count, err := loadPage(u.ctx, l.Followers, l.FollowersCount, u.ID, first, after, offset)
	return &UserConnection{Page: page, Count: count, ctx: u.ctx}, err
}

// Following is a page of the users the user follows, most recent follow first.
func (u *User) Following(first *int, after *string, offset *int) (*UserConnection, error) {
	l := loader.For(u.ctx)
	page, count, err := loadPage(u.ctx, l.Following, l.FollowingCount, u.ID, first, after, offset)
	return &UserConnection{Page: page, Count: count, ctx: u.ctx}, err
}

// Articles is a page of the user's articles, newest first.
func (u *User) Articles(first *int, after *string, offset *int) (*ArticleConnection, error) {
	l := loader.For(u.ctx)
	page, count, err := loadPage(u.ctx, l.Articles, l.ArticlesCount, u.ID, first, after, offset)
	return &ArticleConnection{Page: page, Count: count, ctx: u.ctx}, err
}

// FavoriteArticles is a page of the articles the user favorited, newest article first.
func (u *User) FavoriteArticles(first *int, after *string, offset *int) (*ArticleConnection, error) {
	l := loader.For(u.ctx)
	page, count, err := loadPage(u.ctx, l.FavoriteArticles, l.FavoriteArticlesCount, u.ID, first, after, offset)
	return &ArticleConnection{Page: page, Count: count, ctx: u.ctx}, err
}

// Author is who wrote the comment.
func (c *Comment) Author() (*User, error) {
	u, err := loader.For(c.ctx).UserByID.Load(c.ctx, c.AuthorID)()
	return NewUser(c.ctx, u), err
}

// Parent is the comment this one replies to, nil for a comment on the article.
func (c *Comment) Parent() (*Comment, error) {
	if c.ParentID == nil {
		return nil, nil
	}
	p, err := loader.For(c.ctx).CommentByID.Load(c.ctx, *c.ParentID)()
	return NewComment(c.ctx, p), err
}

// Replies is a page of the comment's replies, oldest first.
func (c *Comment) Replies(first *int, after *string) (*CommentConnection, error) {
	l := loader.For(c.ctx)
	page, count, err := loadPage(c.ctx, l.Replies, l.RepliesCount, c.ID, first, after, nil)
	return &CommentConnection{Page: page, Count: count, ctx: c.ctx}, err
}

// RepliesCount is how many replies the comment has.
func (c *Comment) RepliesCount() (int, error) {
	return loader.For(c.ctx).RepliesCount.Load(c.ctx, c.ID)()
}

// Article is the article the comment replies to.
func (c *Comment) Article() (*Article, error) {
	a, err := loader.For(c.ctx).ArticleByID.Load(c.ctx, c.ArticleID)()
	return NewArticle(c.ctx, a), err
}

// loadPage is the first/after page of parentID's list from pages, and its counter.
func loadPage[T any](ctx context.Context, pages *loader.Loader[loader.PageKey, paging.Page[T]], counts *loader.Loader[int, int],
	parentID int, first *int, after *string, offset *int,
) (paging.Page[T], Counter, error) {
	w, err := paging.FirstOffset(first, after, offset)
	if err != nil {
		return paging.Page[T]{}, nil, err
	}
	page, err := pages.Load(ctx, loader.NewPageKey(parentID, w))()
	return page, countOf(counts, parentID), err
}

// countOf counts parentID's list with counts, when a client asks for totalCount.
func countOf(counts *loader.Loader[int, int], parentID int) Counter {
	return func(ctx context.Context) (int, error) { return counts.Load(ctx, parentID)() }
}

// Asset is an uploaded image read in one request.
type Asset struct {
	*ent.Asset
}

// NewAsset is a; nil for nil.
func NewAsset(a *ent.Asset) *Asset {
	if a == nil {
		return nil
	}
	return &Asset{Asset: a}
}

// GlobalID is the asset's global id.
func (a *Asset) GlobalID() string { return globalid.Encode(globalid.TypeAsset, a.ID) }

// CoverImage is the article's cover, nil for none.
func (a *Article) CoverImage() (*Asset, error) {
	if a.CoverImageAssetID == nil {
		return nil, nil
	}
	c, err := loader.For(a.ctx).AssetByID.Load(a.ctx, *a.CoverImageAssetID)()
	return NewAsset(c), err
}
