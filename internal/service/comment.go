package service

import (
	"context"
	"fmt"
	"strings"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/comment"
	"inkwell/internal/apperr"
	"inkwell/internal/change"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
	"inkwell/internal/policy"
)

// AddComment adds the viewer's comment to an article.
func (s *Acting) AddComment(ctx context.Context, slug, body string) (*ent.Comment, error) {
	v := s.viewer
	body = strings.TrimSpace(body)
	bad := apperr.Fields{}
	checkLen(bad, "body", body, 1, maxComment)
	if err := bad.Err(); err != nil {
		return nil, err
	}
	a, err := s.db.Article.Query().Where(article.Slug(slug)).
		Select(article.FieldID, article.FieldStatus, article.FieldAuthorID).Only(ctx)
	if err != nil {
		return nil, notFound(err, "article")
	}
	if err := policy.CanComment(v, a); err != nil {
		return nil, err
	}
	// One clock for both stamps, so a new comment's updatedAt equals its createdAt.
	ts := s.now()
	var c *ent.Comment
	err = s.write(ctx, func(tx *ent.Tx, ch *written) error {
		var err error
		c, err = tx.Comment.Create().SetCreatedAt(ts).SetUpdatedAt(ts).
			SetArticleID(a.ID).SetAuthorID(v.UserID).SetBody(body).Save(ctx)
		if err != nil {
			// The article may have been deleted between the two statements.
			if ent.IsConstraintError(err) {
				return apperr.NotFound("article")
			}
			return fmt.Errorf("insert comment: %w", err)
		}
		ch.Set = change.Set{CommentsOf: []int{a.ID}}
		return ch.announce(events.CommentAdded(a.ID, c.ID))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateComment changes the text of a comment of the viewer's, named by its global id.
func (s *Acting) UpdateComment(ctx context.Context, gid, body string) (*ent.Comment, error) {
	v := s.viewer
	typ, id, ok := globalid.Decode(gid)
	if !ok || typ != globalid.TypeComment {
		return nil, apperr.BadInput("id", "is not a comment id")
	}
	body = strings.TrimSpace(body)
	bad := apperr.Fields{}
	checkLen(bad, "body", body, 1, maxComment)
	if err := bad.Err(); err != nil {
		return nil, err
	}
	var out *ent.Comment
	err := s.write(ctx, func(tx *ent.Tx, ch *written) error {
		c, err := tx.Comment.Query().Where(comment.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return notFound(err, "comment")
		}
		a, err := tx.Article.Get(ctx, c.ArticleID)
		if err != nil {
			return notFound(err, "comment")
		}
		if !policy.CanSeeArticle(v, a) {
			return apperr.NotFound("comment") // on someone else's draft: it does not exist
		}
		if err := policy.CanEditComment(v, c); err != nil {
			return err
		}
		if out, err = tx.Comment.UpdateOne(c).SetBody(body).Save(ctx); err != nil {
			return fmt.Errorf("update comment: %w", err)
		}
		ch.Set = change.Set{CommentsOf: []int{c.ArticleID}}
		return nil
	})
	return out, err
}

// DeleteComment deletes a comment of the viewer's, named by its global id.
func (s *Acting) DeleteComment(ctx context.Context, gid string) (string, error) {
	v := s.viewer
	typ, id, ok := globalid.Decode(gid)
	if !ok || typ != globalid.TypeComment {
		return "", apperr.BadInput("id", "is not a comment id")
	}
	err := s.write(ctx, func(tx *ent.Tx, ch *written) error {
		c, err := tx.Comment.Get(ctx, id)
		if err != nil {
			return notFound(err, "comment")
		}
		if err := policy.CanDeleteComment(v, c); err != nil {
			return err
		}
		ch.Set = change.Set{CommentsOf: []int{c.ArticleID}}
		return tx.Comment.DeleteOne(c).Exec(ctx)
	})
	if err != nil {
		return "", err
	}
	return gid, nil
}
