package service

import (
	"context"
	"fmt"
	"strings"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/comment"
	"inkwell/ent/notification"
	"inkwell/internal/apperr"
	"inkwell/internal/change"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
	"inkwell/internal/policy"
)

// maxDepth is how many replies deep a thread goes: a comment (0), replies to it (1) and
// replies to those (2).
const maxDepth = 2

// AddComment adds the viewer's comment to an article, or, with parentGID, a reply to a
// comment on it.
func (s *Acting) AddComment(ctx context.Context, slug, body string, parentGID *string) (*ent.Comment, error) {
	v := s.viewer
	body = strings.TrimSpace(body)
	bad := apperr.Fields{}
	checkLen(bad, "body", body, 1, maxComment)
	parentID := 0
	if parentGID != nil {
		typ, id, ok := globalid.Decode(*parentGID)
		if !ok || typ != globalid.TypeComment {
			bad.Add("parentId", "is not a comment id")
		}
		parentID = id
	}
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
		parentAuthor := 0
		create := tx.Comment.Create().SetCreatedAt(ts).SetUpdatedAt(ts).
			SetArticleID(a.ID).SetAuthorID(v.UserID).SetBody(body)
		ch.Set = change.Set{CommentsOf: []int{a.ID}}
		if parentID != 0 {
			// Shared, so that the parent cannot turn into a placeholder (or go) meanwhile.
			p, err := tx.Comment.Query().Where(comment.ID(parentID)).ForShare().Only(ctx)
			if err != nil {
				if ent.IsNotFound(err) {
					return apperr.BadInput("parentId", "names no comment")
				}
				return err
			}
			switch {
			case p.ArticleID != a.ID:
				return apperr.BadInput("parentId", "is a comment on another article")
			case p.Deleted:
				return apperr.BadInput("parentId", "was deleted")
			case p.Depth >= maxDepth:
				return apperr.BadInput("parentId", "is a reply to a reply: threads are two replies deep, reply to its parent instead")
			}
			create.SetParentID(p.ID).SetDepth(p.Depth + 1)
			ch.RepliesOf = []int{p.ID}
			parentAuthor = p.AuthorID
		}
		var err error
		c, err = create.Save(ctx)
		if err != nil {
			// The article may have been deleted between the two statements.
			if ent.IsConstraintError(err) {
				return apperr.NotFound("article")
			}
			return fmt.Errorf("insert comment: %w", err)
		}
		// The article's author hears of a comment; a reply's parent's author, of the reply
		// (only of the reply, when that is the article's author too).
		if parentAuthor != 0 {
			ch.notify(notice{kind: notification.KindReplied, users: []int{parentAuthor}, actor: v.UserID, article: &a.ID, comment: &c.ID})
		}
		if parentAuthor != a.AuthorID {
			ch.notify(notice{kind: notification.KindCommented, users: []int{a.AuthorID}, actor: v.UserID, article: &a.ID, comment: &c.ID})
		}
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
		ch.Set = change.Set{CommentsOf: []int{c.ArticleID}, RepliesOf: parentOf(c)}
		return nil
	})
	return out, err
}

// parentOf is c's parent's id, alone, or none.
func parentOf(c *ent.Comment) []int {
	if c.ParentID == nil {
		return nil
	}
	return []int{*c.ParentID}
}

// Deleted is what deleting a comment did.
type Deleted struct {
	// Placeholder is what stays of a comment that had replies (Deleted set), else nil.
	Placeholder *ent.Comment
	// Removed are the global ids of the comments gone: the one deleted unless a
	// placeholder stays, and placeholders left without replies.
	Removed []string
}

// DeleteComment deletes a comment of the viewer's, named by its global id. A comment with
// replies stays as a placeholder, so that its thread stays whole; a placeholder goes
// with its last reply.
func (s *Acting) DeleteComment(ctx context.Context, gid string) (Deleted, error) {
	v := s.viewer
	typ, id, ok := globalid.Decode(gid)
	if !ok || typ != globalid.TypeComment {
		return Deleted{}, apperr.BadInput("id", "is not a comment id")
	}
	var out Deleted
	err := s.write(ctx, func(tx *ent.Tx, ch *written) error {
		out = Deleted{}
		c, err := tx.Comment.Query().Where(comment.ID(id)).ForUpdate().Only(ctx)
		if err != nil {
			return notFound(err, "comment")
		}
		if err := policy.CanDeleteComment(v, c); err != nil {
			return err
		}
		ch.Set = change.Set{CommentsOf: []int{c.ArticleID}, RepliesOf: parentOf(c)}
		replied, err := tx.Comment.Query().Where(comment.ParentID(c.ID)).Exist(ctx)
		if err != nil {
			return err
		}
		if replied {
			out.Placeholder, err = tx.Comment.UpdateOne(c).SetDeleted(true).SetBody("").Save(ctx)
			return err
		}
		if err := tx.Comment.DeleteOne(c).Exec(ctx); err != nil {
			return err
		}
		out.Removed = append(out.Removed, gid)
		// Up the thread: a placeholder whose last reply this was goes too. Each is locked
		// before its replies are counted, so of two last replies deleted at once the
		// second to commit sees the first gone.
		for parent := c.ParentID; parent != nil; {
			p, err := tx.Comment.Query().Where(comment.ID(*parent)).ForUpdate().Only(ctx)
			if err != nil {
				return err
			}
			if !p.Deleted {
				break
			}
			if more, err := tx.Comment.Query().Where(comment.ParentID(p.ID)).Exist(ctx); err != nil || more {
				return err
			}
			// The placeholder may be someone else's: its removal is the thread's upkeep,
			// not a write of the viewer's.
			if err := tx.Comment.DeleteOne(p).Exec(policy.System(ctx)); err != nil {
				return err
			}
			out.Removed = append(out.Removed, globalid.Encode(globalid.TypeComment, p.ID))
			ch.RepliesOf = append(ch.RepliesOf, parentOf(p)...)
			parent = p.ParentID
		}
		return nil
	})
	return out, err
}
