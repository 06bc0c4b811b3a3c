// Package policy holds every authorization rule, as plain functions over the viewer and
// the entity. Services call them before they write; resolvers call them for visibility.
package policy

import (
	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
)

// requireViewer refuses anonymous viewers.
func requireViewer(v auth.Viewer) error {
	if v.Anonymous() {
		return apperr.Unauthenticated("you must be signed in")
	}
	return nil
}

// CanSeeArticle reports whether v may know that a exists: everyone a published article,
// only its author a draft or a scheduled one.
func CanSeeArticle(v auth.Viewer, a *ent.Article) bool {
	return a.Status == article.StatusPublished || (!v.Anonymous() && v.UserID == a.AuthorID)
}

// CanFindArticle says whether v finds a looking it up by slug or id: as CanSeeArticle, but
// an article in the trash is found by no one, its author included (it is listed in the
// author's trash alone, and deleting it again is NOT_FOUND, as before there was a trash).
func CanFindArticle(v auth.Viewer, a *ent.Article) bool {
	return a.Status != article.StatusTrashed && CanSeeArticle(v, a)
}

// CanEditArticle allows only the article's author to change or delete it.
func CanEditArticle(v auth.Viewer, a *ent.Article) error {
	if err := requireViewer(v); err != nil {
		return err
	}
	if a.AuthorID != v.UserID {
		return apperr.Forbidden("only the author can change this article")
	}
	if a.Status == article.StatusTrashed {
		return apperr.Conflict("the article is in the trash: restore it first")
	}
	return nil
}

// CanRestoreArticle allows only the author of an article to take it out of the trash.
func CanRestoreArticle(v auth.Viewer, a *ent.Article) error {
	if err := requireViewer(v); err != nil {
		return err
	}
	if a.AuthorID != v.UserID {
		return apperr.Forbidden("only the author can restore this article")
	}
	return nil
}

// CanComment allows a signed-in viewer to comment on or favorite a published article;
// its author is told to publish a draft first, anyone else does not know it exists.
func CanComment(v auth.Viewer, a *ent.Article) error {
	if err := requireViewer(v); err != nil {
		return err
	}
	switch {
	case a.Status == article.StatusPublished:
		return nil
	case !CanSeeArticle(v, a):
		return apperr.NotFound("article")
	default:
		return apperr.Forbidden("the article is not published: publish it first")
	}
}

// CanDeleteComment allows only the comment's author to delete it.
func CanDeleteComment(v auth.Viewer, c *ent.Comment) error {
	if err := requireViewer(v); err != nil {
		return err
	}
	if c.Deleted {
		return apperr.NotFound("comment") // a placeholder: the comment is gone already
	}
	if c.AuthorID != v.UserID {
		return apperr.Forbidden("only the author can delete this comment")
	}
	return nil
}

// CanEditComment allows only the comment's author to change it.
func CanEditComment(v auth.Viewer, c *ent.Comment) error {
	if err := requireViewer(v); err != nil {
		return err
	}
	if c.Deleted {
		return apperr.NotFound("comment") // a placeholder: the comment is gone already
	}
	if c.AuthorID != v.UserID {
		return apperr.Forbidden("only the author can edit this comment")
	}
	return nil
}

// CanSeeEmail shows a user's email to that user only: u read by the user it is shown to
// (the request's viewer, or the user a sign-in of this request has just signed in, as
// graph/model's User records it).
func CanSeeEmail(shownTo int, u *ent.User) bool { return shownTo != 0 && shownTo == u.ID }

// CanSeeIdentities shows a user's linked sign-in accounts to that user only, by the same
// rule as the email.
func CanSeeIdentities(shownTo int, u *ent.User) bool { return CanSeeEmail(shownTo, u) }
