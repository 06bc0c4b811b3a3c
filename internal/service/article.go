package service

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/lib/pq"

	"inkwell/ent"
	"inkwell/ent/article"
	"inkwell/ent/notification"
	"inkwell/ent/tag"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/change"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
	"inkwell/internal/markdown"
	"inkwell/internal/policy"
)

// ArticleBySlug finds an article the viewer in ctx may see; nil when there is none.
func (s *Service) ArticleBySlug(ctx context.Context, slug string) (*ent.Article, error) {
	a, err := s.db.Article.Query().Where(article.Slug(slug)).Only(ctx)
	if ent.IsNotFound(err) || (err == nil && !policy.CanFindArticle(viewer(ctx), a)) {
		return nil, nil
	}
	return a, err
}

// CreateArticleInput is a new article.
type CreateArticleInput struct {
	Title, Description, Body string
	Tags                     []string
	ArticleMeta
	// Draft keeps the article unpublished: only its author sees it.
	Draft bool
}

// CreateArticle writes an article by the viewer under a fresh, unique slug, published at
// once unless in.Draft.
func (s *Acting) CreateArticle(ctx context.Context, in CreateArticleInput) (*ent.Article, error) {
	v := s.viewer
	in.Title = strings.TrimSpace(in.Title)
	in.Description = strings.TrimSpace(in.Description)
	bad := apperr.Fields{}
	checkLen(bad, "title", in.Title, 1, maxTitle)
	checkLen(bad, "description", in.Description, 0, maxDescription)
	doc := checkBody(bad, in.Body)
	tags := normTags(bad, in.Tags)
	in.check(bad)
	if err := bad.Err(); err != nil {
		return nil, err
	}
	cover, inline, err := s.chooseImages(ctx, in.CoverImageAssetID, &in.Body)
	if err != nil {
		return nil, err
	}
	base := slugBase(in.Title)
	// Two articles with one title race for the plain slug; the loser retries with a
	// random suffix. A unique violation aborts the transaction, so each try is a new one.
	for attempt := 0; ; attempt++ {
		slug := base
		if attempt > 0 {
			slug = base + "-" + randomSuffix()
		} else if taken, err := s.db.Article.Query().Where(article.Slug(base)).Exist(ctx); err != nil {
			return nil, fmt.Errorf("check slug: %w", err)
		} else if taken {
			continue
		}
		var a *ent.Article
		err := s.write(ctx, func(tx *ent.Tx, c *written) error {
			tagIDs, err := s.linkTags(ctx, tx, tags, !in.Draft)
			if err != nil {
				return err
			}
			// One clock for both stamps: a new article has not been changed, so
			// updatedAt must equal createdAt, not trail it by the microseconds between
			// two calls of the schema's default.
			ts := s.now()
			create := tx.Article.Create()
			if in.Draft {
				create.SetStatus(article.StatusDraft)
			} else {
				create.SetStatus(article.StatusPublished).SetPublishedAt(ts)
			}
			a, err = create.
				SetNillableSubtitle(in.Subtitle).
				SetNillableCanonicalURL(in.CanonicalURL).
				SetNillableSeoTitle(in.SeoTitle).
				SetNillableSeoDescription(in.SeoDescription).
				SetCreatedAt(ts).
				SetUpdatedAt(ts).
				SetSlug(slug).
				SetTitle(in.Title).
				SetDescription(in.Description).
				SetBody(in.Body).
				SetBodyHTML(doc.HTML).
				SetExcerpt(doc.Excerpt).
				SetWordCount(doc.WordCount).
				SetReadingTimeMinutes(doc.ReadingTimeMinutes).
				SetToc(doc.TOC).
				SetRenderVersion(markdown.Version).
				SetAuthorID(v.UserID).
				SetNillableCoverImageAssetID(cover.id()).
				SetSearchTags(strings.Join(tags, " ")).
				AddTagIDs(tagIDs...).
				Save(ctx)
			if err != nil {
				return fmt.Errorf("insert article: %w", err)
			}
			if err := s.swapAsset(ctx, tx, cover.id(), nil); err != nil {
				return err
			}
			if err := useInline(ctx, tx, inline); err != nil {
				return err
			}
			// A draft is in no list, but its slug now names an article (for its author).
			c.Set = change.Set{Articles: []int{a.ID}, ArticleLists: true, TagCounts: !in.Draft}
			if in.Draft {
				return nil
			}
			c.notify(notice{kind: notification.KindPublished, followersOf: v.UserID, actor: v.UserID, article: &a.ID})
			return c.announce(events.ArticleCreated(a.ID, v.UserID))
		})
		switch {
		case err == nil:
			return a, nil
		case uniqueViolation(err, "articles_slug_key") && attempt < 5:
			continue
		default:
			return nil, err
		}
	}
}

func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// linkTags creates missing tags, counts one more article on each when counted (the
// article is published), and returns their ids. names are sorted, so concurrent writers
// lock tag rows in one order.
func (s *Service) linkTags(ctx context.Context, tx *ent.Tx, names []string, counted bool) ([]int, error) {
	if len(names) == 0 {
		return nil, nil
	}
	n := 0
	if counted {
		n = 1
	}
	ids, err := column[int](ctx, tx,
		`INSERT INTO tags (name, articles_count, created_at)
		 SELECT n, $3::int, $2 FROM unnest($1::text[]) AS n
		 ON CONFLICT (name) DO UPDATE SET articles_count = tags.articles_count + $3::int
		 RETURNING id`, pq.Array(names), s.now(), n)
	if err != nil {
		return nil, fmt.Errorf("upsert tags: %w", err)
	}
	return ids, nil
}

// changes reports whether an update to v (nil: none) changes old.
func changes(v *string, old string) bool { return v != nil && *v != old }

// countTags moves each tag's count of published articles by delta.
func countTags(ctx context.Context, tx *ent.Tx, ids []int, delta int) error {
	if len(ids) == 0 || delta == 0 {
		return nil
	}
	if err := tx.Tag.Update().Where(tag.IDIn(ids...)).AddArticlesCount(delta).Exec(ctx); err != nil {
		return fmt.Errorf("count tags: %w", err)
	}
	return nil
}

// countTagsOf moves the counts of a's tags (a locked in tx) by delta.
func countTagsOf(ctx context.Context, tx *ent.Tx, a *ent.Article, delta int) error {
	ids, err := a.QueryTags().IDs(ctx)
	if err != nil {
		return fmt.Errorf("load tags: %w", err)
	}
	return countTags(ctx, tx, ids, delta)
}

// published is 1 for a published article, 0 for another: what it adds to counts.
func published(a *ent.Article) int {
	if a.Status == article.StatusPublished {
		return 1
	}
	return 0
}

// lockOwn is lockArticle for a write by v that only the article's author may make: an
// article v may not see is not found (a draft is as if it did not exist for anyone but
// its author), one v may see but not change is FORBIDDEN.
func lockOwn(ctx context.Context, tx *ent.Tx, v auth.Viewer, slug string) (*ent.Article, error) {
	a, err := lockArticle(ctx, tx, slug)
	switch {
	case err != nil:
		return nil, err
	case !policy.CanSeeArticle(v, a):
		return nil, apperr.NotFound("article")
	}
	return a, policy.CanEditArticle(v, a)
}

// lockArticle loads an article for a write that depends on its current state.
func lockArticle(ctx context.Context, tx *ent.Tx, slug string) (*ent.Article, error) {
	a, err := tx.Article.Query().Where(article.Slug(slug)).ForUpdate().Only(ctx)
	return a, notFound(err, "article")
}

// UpdateArticleInput changes an article; nil fields stay, Tags replaces the whole list.
type UpdateArticleInput struct {
	Slug                     string
	Title, Description, Body *string
	Tags                     []string
	SetTags                  bool
	ArticleMeta
	// ExpectedUpdatedAt, when set, refuses the update (CONFLICT) if the article changed
	// since the client read it then.
	ExpectedUpdatedAt *time.Time
}

// UpdateArticle changes an article of the viewer's. The slug never changes.
func (s *Acting) UpdateArticle(ctx context.Context, in UpdateArticleInput) (*ent.Article, error) {
	v := s.viewer
	bad := apperr.Fields{}
	if in.Title != nil {
		t := strings.TrimSpace(*in.Title)
		in.Title = &t
		checkLen(bad, "title", t, 1, maxTitle)
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		in.Description = &d
		checkLen(bad, "description", d, 0, maxDescription)
	}
	var doc markdown.Doc
	if in.Body != nil {
		doc = checkBody(bad, *in.Body)
	}
	var tags []string
	if in.SetTags {
		tags = normTags(bad, in.Tags)
	}
	in.check(bad)
	if err := bad.Err(); err != nil {
		return nil, err
	}
	cover, inline, err := s.chooseImages(ctx, in.CoverImageAssetID, in.Body)
	if err != nil {
		return nil, err
	}
	var out *ent.Article
	err = s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := lockOwn(ctx, tx, v, in.Slug)
		if err != nil {
			return err
		}
		// Under the row lock: no other write can land between this check and this one.
		if in.ExpectedUpdatedAt != nil && !a.UpdatedAt.Equal(*in.ExpectedUpdatedAt) {
			return apperr.Conflict("the article changed since you read it (updatedAt " +
				a.UpdatedAt.UTC().Format(time.RFC3339Nano) + "): read it again, then edit")
		}
		if changes(in.Title, a.Title) || changes(in.Description, a.Description) || changes(in.Body, a.Body) {
			if err := s.keepRevision(ctx, tx, a); err != nil {
				return err
			}
		}
		upd := tx.Article.UpdateOne(a).
			SetNillableSubtitle(in.Subtitle).
			SetNillableCanonicalURL(in.CanonicalURL).
			SetNillableSeoTitle(in.SeoTitle).
			SetNillableSeoDescription(in.SeoDescription)
		if in.Title != nil {
			upd.SetTitle(*in.Title)
		}
		if in.Description != nil {
			upd.SetDescription(*in.Description)
		}
		if in.Body != nil {
			upd.SetBody(*in.Body).SetBodyHTML(doc.HTML).SetExcerpt(doc.Excerpt).SetWordCount(doc.WordCount).
				SetReadingTimeMinutes(doc.ReadingTimeMinutes).SetToc(doc.TOC).SetRenderVersion(markdown.Version)
		}
		if cover.given {
			upd.ClearCoverImageAssetID().SetNillableCoverImageAssetID(cover.id())
			if err := s.swapAsset(ctx, tx, cover.id(), a.CoverImageAssetID); err != nil {
				return err
			}
		}
		if err := useInline(ctx, tx, inline); err != nil {
			return err
		}
		if in.SetTags {
			old, err := a.QueryTags().IDs(ctx)
			if err != nil {
				return fmt.Errorf("load tags: %w", err)
			}
			if err := countTags(ctx, tx, old, -published(a)); err != nil {
				return err
			}
			ids, err := s.linkTags(ctx, tx, tags, published(a) == 1)
			if err != nil {
				return err
			}
			upd.ClearTags().AddTagIDs(ids...).SetSearchTags(strings.Join(tags, " "))
		}
		out, err = upd.Save(ctx)
		if err != nil {
			return fmt.Errorf("update article: %w", err)
		}
		c.Set = change.Set{Articles: []int{out.ID}, TagCounts: in.SetTags && published(a) == 1}
		return nil
	})
	return out, err
}

// DeleteArticle deletes an article of the viewer's with its comments and favorites, and
// returns its global id.
func (s *Acting) DeleteArticle(ctx context.Context, slug string) (string, error) {
	v := s.viewer
	var id int
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := lockArticle(ctx, tx, slug)
		if err != nil {
			return err
		}
		if !policy.CanFindArticle(v, a) {
			return apperr.NotFound("article")
		}
		if err := policy.CanEditArticle(v, a); err != nil {
			return err
		}
		// Into the trash: off every list, count and subscription as an unpublished
		// article is, with its comments and favorites kept for a restore.
		if err := s.unlist(ctx, tx, c, a); err != nil {
			return err
		}
		now := s.now()
		if err := tx.Article.UpdateOne(a).SetStatus(article.StatusTrashed).
			SetTrashedFrom(article.TrashedFrom(a.Status)).SetDeletedAt(now).SetUpdatedAt(now).Exec(ctx); err != nil {
			return fmt.Errorf("trash article: %w", err)
		}
		id = a.ID
		c.Articles = []int{id}
		return nil
	})
	if err != nil {
		return "", err
	}
	return globalid.Encode(globalid.TypeArticle, id), nil
}

// Favorite adds an article to the viewer's favorites; again is not an error. The count
// on the article moves in the same transaction, so it is exact under concurrency.
func (s *Acting) Favorite(ctx context.Context, slug string) (*ent.Article, error) {
	return s.setFavorite(ctx, slug, true)
}

// Unfavorite removes an article from the viewer's favorites; not there is not an error.
func (s *Acting) Unfavorite(ctx context.Context, slug string) (*ent.Article, error) {
	return s.setFavorite(ctx, slug, false)
}

func (s *Acting) setFavorite(ctx context.Context, slug string, on bool) (*ent.Article, error) {
	v := s.viewer
	var out *ent.Article
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		a, err := tx.Article.Query().Where(article.Slug(slug)).Only(ctx)
		if err != nil {
			return notFound(err, "article")
		}
		if err := policy.CanComment(v, a); err != nil {
			return err
		}
		var res interface{ RowsAffected() (int64, error) }
		delta := 1
		if on {
			res, err = tx.ExecContext(ctx,
				`INSERT INTO favorites (user_id, article_id, created_at) VALUES ($1, $2, $3)
				 ON CONFLICT (user_id, article_id) DO NOTHING`, v.UserID, a.ID, s.now())
		} else {
			delta = -1
			res, err = tx.ExecContext(ctx,
				`DELETE FROM favorites WHERE user_id = $1 AND article_id = $2`, v.UserID, a.ID)
		}
		if err != nil {
			return fmt.Errorf("write favorite: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		// Plain SQL rather than ent's UpdateOne, which would stamp updated_at: a
		// reader's favorite is not a change to the article.
		if n > 0 {
			if _, err := tx.ExecContext(ctx,
				`UPDATE articles SET favorites_count = favorites_count + $1 WHERE id = $2`, delta, a.ID); err != nil {
				return fmt.Errorf("count favorite: %w", err)
			}
		}
		// Read the count again even when nothing changed: a was read before a
		// concurrent click by the same viewer committed, and would show its old count.
		out, err = tx.Article.Get(ctx, a.ID)
		if err != nil {
			return notFound(err, "article")
		}
		if n == 0 {
			return nil
		}
		c.Set = change.Set{Articles: []int{a.ID}, Favorites: []change.Favorite{{User: v.UserID, Article: a.ID}}}
		if on {
			c.notify(notice{kind: notification.KindFavorited, users: []int{a.AuthorID}, actor: v.UserID, article: &a.ID})
		}
		// The count travels with the event: read under this transaction's row lock, it
		// is exactly the count this change made.
		return c.announce(events.FavoriteChanged(a.ID, out.FavoritesCount))
	})
	return out, err
}
