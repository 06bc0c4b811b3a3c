package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"inkwell/ent"
	"inkwell/ent/tag"
	"inkwell/ent/tagfollow"
	"inkwell/internal/apperr"
	"inkwell/internal/cache"
	"inkwell/internal/change"
	"inkwell/internal/paging"
)

// tagName normalises a tag's name as articles' tags are: lower case, spaces read as "-".
func tagName(name string) string {
	return strings.Join(strings.Fields(strings.ToLower(name)), "-")
}

// TagList is a page of tags, most used first, and a way to count them all.
type TagList struct {
	Tags        []*ent.Tag
	Cursors     []string
	HasNextPage bool
	Count       func(context.Context) (int, error)
}

// Tags lists the tags in use, most used first, ties by name, after w's cursor.
func (s *Service) Tags(ctx context.Context, first *int, after *string) (TagList, error) {
	w, err := paging.First(first, nil)
	if err != nil {
		return TagList{}, err
	}
	q := s.db.Tag.Query().Where(tag.ArticlesCountGT(0))
	count := func(ctx context.Context) (int, error) { return q.Clone().Count(cache.Covered(ctx)) }
	page := q.Clone()
	if after != nil {
		k, err := decodeTagCursor(*after)
		if err != nil {
			return TagList{}, apperr.BadInput("after", "is not a valid cursor")
		}
		// Most used first, then by name: (count, name) after k in that mixed order.
		page.Where(tag.Or(tag.ArticlesCountLT(k.count), tag.And(tag.ArticlesCount(k.count), tag.NameGT(k.name))))
	}
	cache.Note(ctx, cache.TagCounts, 0)
	tags, err := page.Order(ent.Desc(tag.FieldArticlesCount), ent.Asc(tag.FieldName)).
		Limit(w.Limit + 1).All(cache.Covered(ctx))
	if err != nil {
		return TagList{}, fmt.Errorf("tags: %w", err)
	}
	l := TagList{Count: count}
	if len(tags) > w.Limit {
		tags, l.HasNextPage = tags[:w.Limit], true
	}
	l.Tags = tags
	for _, t := range tags {
		l.Cursors = append(l.Cursors, encodeTagCursor(tagKey{count: t.ArticlesCount, name: t.Name}))
	}
	return l, nil
}

// tagKey is a tag's place in the list of tags.
type tagKey struct {
	count int
	name  string
}

const tagCursorPrefix = "tag1:"

func encodeTagCursor(k tagKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tagCursorPrefix + strconv.Itoa(k.count) + ":" + k.name))
}

func decodeTagCursor(c string) (tagKey, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return tagKey{}, err
	}
	rest, ok := strings.CutPrefix(string(raw), tagCursorPrefix)
	n, name, ok2 := strings.Cut(rest, ":")
	count, err := strconv.Atoi(n)
	if !ok || !ok2 || err != nil || count < 0 || name == "" || len(name) > 32 {
		return tagKey{}, fmt.Errorf("malformed tag cursor")
	}
	return tagKey{count: count, name: name}, nil
}

// TagByName is the tag named name (normalised as tags are), nil when no published article
// carries it.
func (s *Service) TagByName(ctx context.Context, name string) (*ent.Tag, error) {
	t, err := s.db.Tag.Query().Where(tag.Name(tagName(name)), tag.ArticlesCountGT(0)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return t, err
}

// FollowTag makes the viewer follow the tag (on), or stop following it; again is not an
// error. Following needs a tag that a published article carries; stopping does not, so a
// tag whose last article went can still be left.
func (s *Acting) FollowTag(ctx context.Context, name string, on bool) (*ent.Tag, error) {
	v := s.viewer
	var out *ent.Tag
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		// The row is locked so that followers_count moves with the follow rows.
		t, err := tx.Tag.Query().Where(tag.Name(tagName(name))).ForUpdate().Only(ctx)
		if ent.IsNotFound(err) {
			return apperr.NotFound("tag")
		}
		if err != nil {
			return fmt.Errorf("find tag: %w", err)
		}
		var res interface{ RowsAffected() (int64, error) }
		if on {
			if t.ArticlesCount == 0 {
				return apperr.NotFound("tag")
			}
			res, err = tx.ExecContext(ctx, `INSERT INTO tag_follows (user_id, tag_id, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (user_id, tag_id) DO NOTHING`, v.UserID, t.ID, s.now())
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM tag_follows WHERE user_id = $1 AND tag_id = $2`, v.UserID, t.ID)
		}
		if err != nil {
			return fmt.Errorf("write tag follow: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("write tag follow: %w", err)
		}
		if n == 0 {
			if !on {
				following, err := tx.TagFollow.Query().Where(tagfollow.UserID(v.UserID), tagfollow.TagID(t.ID)).Exist(ctx)
				if err != nil {
					return fmt.Errorf("find tag follow: %w", err)
				}
				if !following && t.ArticlesCount == 0 {
					// As if the tag did not exist, for a tag only drafts carry.
					return apperr.NotFound("tag")
				}
			}
			out = t
			return nil
		}
		delta := 1
		if !on {
			delta = -1
		}
		if out, err = tx.Tag.UpdateOne(t).AddFollowersCount(delta).Save(ctx); err != nil {
			return fmt.Errorf("count tag followers: %w", err)
		}
		c.Set = change.Set{TagCounts: true, TagFollows: []change.TagFollow{{User: v.UserID, Tag: t.ID}}}
		return nil
	})
	return out, err
}

// TagsByID reads tags by id, in no order.
func (s *Service) TagsByID(ctx context.Context, ids []int) ([]*ent.Tag, error) {
	return s.db.Tag.Query().Where(tag.IDIn(ids...)).All(ctx)
}
