package service

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/articlerevision"
	"inkwell/ent/notification"
	"inkwell/ent/predicate"
	"inkwell/internal/apperr"
	"inkwell/internal/change"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
	"inkwell/internal/paging"
	"inkwell/internal/policy"
)

// MaxSchedule is how far ahead an article may be scheduled; pastGrace how far in the past
// a time given as "now" by a client whose clock is a little behind may be.
const (
	MaxSchedule = 365 * 24 * time.Hour
	pastGrace   = time.Minute
)

// PublishArticle publishes one of the viewer's articles now, or schedules it for at when
// at is in the future (at most MaxSchedule ahead).
func (s *Acting) PublishArticle(ctx context.Context, slug string, at *time.Time) (*ent.Article, error) {
	v := s.viewer
	now := s.now()
	switch {
	case at != nil && at.After(now.Add(MaxSchedule)):
		return nil, apperr.BadInput("at", "is more than a year ahead")
	case at != nil && at.Before(now.Add(-pastGrace)):
		return nil, apperr.BadInput("at", "is in the past: leave it out to publish now")
	}
	schedule := at != nil && at.After(now)
	var out *ent.Article
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := lockOwn(ctx, tx, v, slug)
		if err != nil {
			return err
		}
		if !schedule {
			out, err = s.publish(ctx, tx, c, a, now)
			return err
		}
		// Scheduling a published article takes it off the lists until its time.
		if err := s.unlist(ctx, tx, c, a); err != nil {
			return err
		}
		out, err = tx.Article.UpdateOne(a).SetStatus(article.StatusScheduled).SetPublishAt(at.UTC()).
			ClearPublishedAt().Save(ctx)
		if err != nil {
			return fmt.Errorf("schedule article: %w", err)
		}
		c.Articles = []int{a.ID}
		return nil
	})
	return out, err
}

// UnpublishArticle returns one of the viewer's articles to draft.
func (s *Acting) UnpublishArticle(ctx context.Context, slug string) (*ent.Article, error) {
	v := s.viewer
	var out *ent.Article
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := lockOwn(ctx, tx, v, slug)
		if err != nil {
			return err
		}
		if err := s.unlist(ctx, tx, c, a); err != nil {
			return err
		}
		out, err = tx.Article.UpdateOne(a).SetStatus(article.StatusDraft).ClearPublishAt().ClearPublishedAt().Save(ctx)
		if err != nil {
			return fmt.Errorf("unpublish article: %w", err)
		}
		c.Articles = []int{a.ID}
		return nil
	})
	return out, err
}

// publish makes a (locked in tx) published at when, with what a new published article
// does: counts, lists, followers' feeds. Publishing a published article changes nothing.
func (s *Service) publish(ctx context.Context, tx *ent.Tx, c *written, a *ent.Article, when time.Time) (*ent.Article, error) {
	if a.Status == article.StatusPublished {
		return a, nil
	}
	if err := countTagsOf(ctx, tx, a, 1); err != nil {
		return nil, err
	}
	out, err := tx.Article.UpdateOne(a).SetStatus(article.StatusPublished).SetPublishedAt(when).ClearPublishAt().Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish article: %w", err)
	}
	c.Set = change.Set{Articles: []int{a.ID}, ArticleLists: true, TagCounts: true}
	c.notify(notice{kind: notification.KindPublished, followersOf: a.AuthorID, actor: a.AuthorID, article: &a.ID})
	return out, c.announce(events.ArticleCreated(a.ID, a.AuthorID))
}

// unlist takes a published article (locked in tx) off every count, and ends the
// subscriptions to it, as a deletion would for everyone but its author; the caller writes
// its new status, which takes it off the lists. Another article needs none of this.
func (s *Service) unlist(ctx context.Context, tx *ent.Tx, c *written, a *ent.Article) error {
	if a.Status != article.StatusPublished {
		return nil
	}
	if err := countTagsOf(ctx, tx, a, -1); err != nil {
		return err
	}
	c.Set = change.Set{ArticleLists: true, TagCounts: true}
	return c.announce(events.ArticleDeleted(a.ID))
}

// PublishDue publishes the scheduled articles whose time has come, each in a transaction
// of its own, and returns how many it published. Several instances may run it at once:
// each article is locked with SKIP LOCKED and checked again under the lock, so it is
// published once.
func (s *Service) PublishDue(ctx context.Context) (int, error) {
	ctx = policy.System(ctx)
	n := 0
	for {
		found := false
		err := s.record(ctx, func(tx *ent.Tx, c *written) error {
			a, err := tx.Article.Query().
				Where(article.StatusEQ(article.StatusScheduled), article.PublishAtLTE(s.now())).
				Order(article.ByPublishAt()).Limit(1).
				ForUpdate(sql.WithLockAction(sql.SkipLocked)).
				Only(ctx)
			if ent.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("find due articles: %w", err)
			}
			found = true
			_, err = s.publish(ctx, tx, c, a, *a.PublishAt)
			return err
		})
		if err != nil || !found {
			return n, err
		}
		n++
	}
}

// Drafts lists the viewer's drafts and scheduled articles, most recently changed first.
func (s *Acting) Drafts(ctx context.Context, w paging.Window) (ArticleList, error) {
	return s.articleListPaged(ctx, w, uncovered, byUpdate,
		[]predicate.Article{article.AuthorID(s.viewer.UserID), article.StatusIn(article.StatusDraft, article.StatusScheduled)})
}

// Trash lists the viewer's deleted articles, most recently deleted first (an article in
// the trash cannot be edited, so its updatedAt is its deletion).
func (s *Acting) Trash(ctx context.Context, w paging.Window) (ArticleList, error) {
	return s.articleListPaged(ctx, w, uncovered, byUpdate,
		[]predicate.Article{article.AuthorID(s.viewer.UserID), article.StatusEQ(article.StatusTrashed)})
}

// RestoreArticle takes one of the viewer's articles out of the trash, back to the status
// it had: a published article returns to its place in the lists (its publishedAt is
// kept), without announcing it as new. An article not in the trash is returned as it is.
func (s *Acting) RestoreArticle(ctx context.Context, slug string) (*ent.Article, error) {
	v := s.viewer
	var out *ent.Article
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := lockArticle(ctx, tx, slug)
		if err != nil {
			return err
		}
		if !policy.CanSeeArticle(v, a) {
			return apperr.NotFound("article")
		}
		if err := policy.CanRestoreArticle(v, a); err != nil {
			return err
		}
		if out = a; a.Status != article.StatusTrashed {
			return nil
		}
		to := article.StatusDraft
		if a.TrashedFrom != nil {
			to = article.Status(*a.TrashedFrom)
		}
		if to == article.StatusPublished {
			if err := countTagsOf(ctx, tx, a, 1); err != nil {
				return err
			}
			c.Set = change.Set{ArticleLists: true, TagCounts: true}
		}
		out, err = tx.Article.UpdateOne(a).SetStatus(to).ClearTrashedFrom().ClearDeletedAt().SetUpdatedAt(s.now()).Save(ctx)
		if err != nil {
			return fmt.Errorf("restore article: %w", err)
		}
		c.Articles = []int{a.ID}
		return nil
	})
	return out, err
}

// PurgeTrash deletes, with their comments, favorites and revisions, the articles that
// have been in the trash longer than retention, and returns how many. Several instances
// may run it at once: each row is taken with SKIP LOCKED and deleted by one of them.
func (s *Service) PurgeTrash(ctx context.Context, retention time.Duration) (int, error) {
	ctx = policy.System(ctx)
	n := 0
	for {
		var ids []int
		err := s.record(ctx, func(tx *ent.Tx, c *written) error {
			// Their covers are used no more: they expire (ExpireAssets).
			var err error
			ids, err = column[int](ctx, tx, `WITH gone AS (DELETE FROM articles WHERE id IN (
				SELECT id FROM articles WHERE status = 'trashed' AND deleted_at < $1
				 ORDER BY deleted_at LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id, cover_image_asset_id),
			  released AS (UPDATE assets SET expires_at = $2
				WHERE id IN (SELECT cover_image_asset_id FROM gone) RETURNING id)
			SELECT id FROM gone`, s.now().Add(-retention), s.now().Add(unusedFor))
			if err != nil {
				return fmt.Errorf("purge trash: %w", err)
			}
			// Trashed articles are in no list or count: only their own entries go.
			c.Set = change.Set{Articles: ids, CommentsOf: ids}
			return nil
		})
		n += len(ids)
		if err != nil || len(ids) < 100 {
			return n, err
		}
	}
}

// maxRevisions is how many earlier versions of an article are kept.
const maxRevisions = 20

// keepRevision keeps a's text (title, description, body) as an earlier version, in tx,
// before an edit replaces it, and drops the versions beyond the last maxRevisions.
func (s *Service) keepRevision(ctx context.Context, tx *ent.Tx, a *ent.Article) error {
	if err := tx.ArticleRevision.Create().SetArticleID(a.ID).SetTitle(a.Title).SetDescription(a.Description).
		SetBody(a.Body).SetCreatedAt(s.now()).Exec(ctx); err != nil {
		return fmt.Errorf("keep revision: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM article_revisions WHERE article_id = $1 AND id NOT IN (
		SELECT id FROM article_revisions WHERE article_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)`,
		a.ID, maxRevisions); err != nil {
		return fmt.Errorf("drop old revisions: %w", err)
	}
	return nil
}

// RevisionList is a page of an article's earlier versions and their count.
type RevisionList struct {
	Page  paging.Page[*ent.ArticleRevision]
	Count func(context.Context) (int, error)
}

// Revisions lists a's earlier versions, most recent first, for its author; for anyone
// else the list is empty.
func (s *Service) Revisions(ctx context.Context, a *ent.Article, w paging.Window) (RevisionList, error) {
	none := RevisionList{Count: func(context.Context) (int, error) { return 0, nil }}
	// Not an error for anyone else: the list is theirs to see, empty.
	if author := policy.CanEditArticle(viewer(ctx), a) == nil; !author {
		return none, nil
	}
	q := s.db.ArticleRevision.Query().Where(articlerevision.ArticleID(a.ID))
	rows, err := q.Clone().Where(keyset(w, true, articlerevision.FieldCreatedAt, articlerevision.FieldID)).
		Order(order[articlerevision.OrderOption](w, true, articlerevision.FieldCreatedAt, articlerevision.FieldID)...).
		Limit(w.Limit + 1).All(ctx)
	if err != nil {
		return none, err
	}
	return RevisionList{
		Page: paging.Cut(w, rows, func(r *ent.ArticleRevision) paging.Key { return paging.Key{Time: r.CreatedAt, ID: r.ID} }),
		Count: func(ctx context.Context) (int, error) {
			return q.Clone().Count(ctx)
		},
	}, nil
}

// RestoreRevision makes an earlier version, named by its global id, its article's text
// again; the text it replaces is kept as a version in turn.
func (s *Acting) RestoreRevision(ctx context.Context, gid string) (*ent.Article, error) {
	typ, id, ok := globalid.Decode(gid)
	if !ok || typ != globalid.TypeArticleRevision {
		return nil, apperr.BadInput("id", "is not an article revision's id")
	}
	r, err := s.db.ArticleRevision.Query().Where(articlerevision.ID(id)).WithArticle().Only(ctx)
	if err != nil {
		return nil, notFound(err, "revision")
	}
	a := r.Edges.Article
	if !policy.CanSeeArticle(s.viewer, a) {
		return nil, apperr.NotFound("revision")
	}
	if err := policy.CanEditArticle(s.viewer, a); err != nil {
		return nil, err
	}
	return s.UpdateArticle(ctx, UpdateArticleInput{Slug: a.Slug, Title: &r.Title, Description: &r.Description, Body: &r.Body})
}
