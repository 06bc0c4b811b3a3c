// Package policy holds every authorization rule, as plain functions over the viewer and
// the entity. Services call them before they write; resolvers call them for visibility.
package policy

import (
	"context"

	"inkwell/ent"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
)

// RequireViewer refuses anonymous viewers.
func RequireViewer(v auth.Viewer) error {
	if v.Anonymous() {
		return apperr.Unauthenticated("you must be signed in")
	}
	return nil
}

// CanEditArticle allows only the article's author to change or delete it.
func CanEditArticle(v auth.Viewer, a *ent.Article) error {
	if err := RequireViewer(v); err != nil {
		return err
	}
	if a.AuthorID != v.UserID {
		return apperr.Forbidden("only the author can change this article")
	}
	return nil
}

// CanDeleteComment allows only the comment's author to delete it.
func CanDeleteComment(v auth.Viewer, c *ent.Comment) error {
	if err := RequireViewer(v); err != nil {
		return err
	}
	if c.AuthorID != v.UserID {
		return apperr.Forbidden("only the author can delete this comment")
	}
	return nil
}

// CanSeeEmail shows a user's email to that user only: the viewer, or the user a sign-in
// of this very request signed in as.
func CanSeeEmail(ctx context.Context, u *ent.User) bool {
	v := auth.ViewerFrom(ctx)
	return (!v.Anonymous() && v.UserID == u.ID) || auth.SignedInAs(ctx, u.ID)
}

// CanSeeIdentities shows a user's linked sign-in accounts to that user only, by the same
// rule as the email.
func CanSeeIdentities(ctx context.Context, u *ent.User) bool { return CanSeeEmail(ctx, u) }
