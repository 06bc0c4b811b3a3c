package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"
	"github.com/lib/pq"

	"inkwell/ent"
	"inkwell/ent/notification"
	"inkwell/internal/apperr"
	"inkwell/internal/events"
	"inkwell/internal/globalid"
	"inkwell/internal/paging"
)

// Notifications are written at the end of the write's transaction that causes them, so a
// rolled-back write notifies nobody. Grouping: a notification that someone followed you,
// or favorited or commented on one article of yours, joins the latest notification of
// the same kind (and article) while that one is unread and less than groupWindow old; the
// joined row is marked superseded, so the list of rows not superseded is the list of
// groups, each at its newest event. Replies and publications are never grouped.
const groupWindow = 24 * time.Hour

// notifyLockSpace names the advisory locks of notifications: one per bucket of
// recipients, held to commit, so that one user's notifications commit in id order and a
// live subscription resumes after the last id it sent without missing one.
const (
	notifyLockSpace = 0x1c0de
	notifyBuckets   = 64
	// feedLock is held from a publication's feed_seq to its commit, for the same reason.
	feedLock = 0x1c0df
	// maxListedRecipients: more are not listed in the event (its payload stays small);
	// every notification subscription looks instead.
	maxListedRecipients = 100
)

// notice is a notification a write asks for: to users, or to every follower of
// followersOf (a publication), from actor, about an article or comment.
type notice struct {
	kind        notification.Kind
	users       []int
	followersOf int
	actor       int
	article     *int
	comment     *int
}

// notify adds a notice to the write.
func (w *written) notify(n notice) { w.notices = append(w.notices, n) }

// grouped reports whether notices of kind k group.
func grouped(k notification.Kind) bool {
	return k == notification.KindFollowed || k == notification.KindFavorited || k == notification.KindCommented
}

// numberPublication gives the article a write publishes its place in the feed's order,
// last in the transaction, so that the lock is held only for the commit.
func numberPublication(ctx context.Context, tx *ent.Tx, w *written) error {
	if w.event == nil || w.event.Kind != events.KindArticleCreated {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, feedLock); err != nil {
		return fmt.Errorf("lock feed order: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE articles SET feed_seq =
		(SELECT COALESCE(max(feed_seq), 0) + 1 FROM articles WHERE feed_seq IS NOT NULL) WHERE id = $1`,
		w.event.ArticleID); err != nil {
		return fmt.Errorf("number publication: %w", err)
	}
	return nil
}

// recipients settles who each of w's notices goes to (never the actor themself) and
// returns them all, sorted, once each.
func recipients(ctx context.Context, tx *ent.Tx, w *written) ([]int, error) {
	var all []int
	for i := range w.notices {
		n := &w.notices[i]
		if n.followersOf != 0 {
			var err error
			if n.users, err = column[int](ctx, tx, `SELECT follower_id FROM follows WHERE followee_id = $1`, n.followersOf); err != nil {
				return nil, fmt.Errorf("followers to notify: %w", err)
			}
		}
		n.users = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(n.users))), func(u int) bool { return u == n.actor })
		all = append(all, n.users...)
	}
	return slices.Compact(slices.Sorted(slices.Values(all))), nil
}

// listed is who an event names as notified: nil and true for too many to list.
func listed(all []int) ([]int, bool) {
	if len(all) > maxListedRecipients {
		return nil, true
	}
	return all, false
}

// publish queues e on tx (and writes it to the event log) and, before anything of the
// recipients' is written, takes the advisory locks of their buckets, in one statement:
// NOTIFY is sent at commit wherever in the transaction it is queued, so the event rides
// along with the locks.
func publish(ctx context.Context, tx *ent.Tx, all []int, e events.Event) error {
	if len(all) == 0 {
		return events.Publish(ctx, tx, e)
	}
	buckets := make([]int, 0, len(all))
	for _, u := range all {
		buckets = append(buckets, u%notifyBuckets)
	}
	// Buckets in one order in every transaction, so two cannot wait on each other.
	if err := events.PublishWith(ctx, tx, e, `(SELECT count(*) FROM (
		SELECT pg_advisory_xact_lock($1, b) FROM (SELECT DISTINCT b FROM unnest($2::int[]) b ORDER BY b OFFSET 0) s) l) locked`,
		notifyLockSpace, pq.Array(buckets)); err != nil {
		return fmt.Errorf("lock notifications: %w", err)
	}
	return nil
}

// writeNotices writes w's notices, to the recipients recipients settled, under the
// locks publish took.
func (s *Service) writeNotices(ctx context.Context, tx *ent.Tx, w *written) error {
	at := s.now()
	for _, n := range w.notices {
		if len(n.users) == 0 {
			continue
		}
		if !grouped(n.kind) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (user_id, kind, actor_id, article_id, comment_id, created_at)
				SELECT u, $2::varchar, $3::bigint, $4::bigint, $5::bigint, $6::timestamptz FROM unnest($1::bigint[]) u`,
				pq.Array(n.users), n.kind, n.actor, n.article, n.comment, at); err != nil {
				return fmt.Errorf("notify: %w", err)
			}
			continue
		}
		for _, u := range n.users {
			if err := s.notifyGrouped(ctx, tx, u, n, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// notifyGrouped writes n for user u, in the group of u's latest unread notification of
// its kind and article when there is one young enough. One statement: the latest of the
// group stops being listed and gives the new row its group. The article is compared with
// = or IS NULL (not IS NOT DISTINCT FROM), so the lookup is a probe of
// notification_open_groups rather than a scan of all the user's open groups.
func (s *Service) notifyGrouped(ctx context.Context, tx *ent.Tx, u int, n notice, at time.Time) error {
	sameArticle := `article_id = $3`
	if n.article == nil {
		sameArticle = `article_id IS NULL AND $3::bigint IS NULL`
	}
	if _, err := tx.ExecContext(ctx, `WITH joined AS (
		UPDATE notifications SET superseded = true WHERE id = (
			SELECT id FROM notifications
			WHERE user_id = $1 AND kind = $2 AND `+sameArticle+`
			  AND NOT superseded AND read_at IS NULL AND created_at > $4
			ORDER BY id DESC LIMIT 1)
		RETURNING COALESCE(group_id, id) AS g)
		INSERT INTO notifications (user_id, kind, actor_id, article_id, comment_id, group_id, created_at)
		VALUES ($1, $2, $5, $3, $6, (SELECT g FROM joined), $7)`,
		u, n.kind, n.article, at.Add(-groupWindow), n.actor, n.comment, at); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// visible is the condition that a notification (aliased n) is about nothing hidden: no
// draft, scheduled or trashed article, and so no comment on one.
// A scalar subquery, not EXISTS: PostgreSQL may turn EXISTS into a hash of every
// published article's id (20,000 rows at size M for one user's page), where this is one
// primary-key probe per notification read.
const visible = `(n.article_id IS NULL OR (SELECT a.status FROM articles a WHERE a.id = n.article_id) = 'published')`

// NotificationList is a page of the viewer's notifications (groups), newest first.
type NotificationList struct {
	Page  paging.Page[*ent.Notification]
	Count func(context.Context) (int, error)
}

// Notifications lists the viewer's notifications, one per group, newest first.
func (s *Acting) Notifications(ctx context.Context, w paging.Window) (NotificationList, error) {
	uid := s.viewer.UserID
	const from = ` FROM notifications n WHERE n.user_id = $1 AND NOT n.superseded AND ` + visible
	q := s.db.Notification.Query().Where(notification.UserID(uid), notification.Superseded(false),
		func(sel *sql.Selector) {
			sel.Where(sql.P(func(b *sql.Builder) {
				b.WriteString(`(article_id IS NULL OR (SELECT a.status FROM articles a WHERE a.id = ` + sel.C(notification.FieldArticleID) +
					`) = 'published')`)
			}))
		})
	if w.After != nil {
		q.Where(notification.IDLT(w.After.ID))
	}
	rows, err := q.Order(ent.Desc(notification.FieldID)).Limit(w.Limit + 1).Offset(w.Offset).All(ctx)
	if err != nil {
		return NotificationList{}, fmt.Errorf("notifications: %w", err)
	}
	return NotificationList{
		Page: paging.Cut(w, rows, notificationKey),
		Count: func(ctx context.Context) (int, error) {
			return count(ctx, s.db, `SELECT count(*)`+from, uid)
		},
	}, nil
}

func notificationKey(n *ent.Notification) paging.Key { return paging.Key{Time: n.CreatedAt, ID: n.ID} }

// notificationsByID reads rows in the order of ids.
func (s *Service) notificationsByID(ctx context.Context, ids []int) ([]*ent.Notification, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.db.Notification.Query().Where(notification.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	byID := make(map[int]*ent.Notification, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]*ent.Notification, 0, len(ids))
	for _, id := range ids {
		if r := byID[id]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// UnreadNotifications counts the viewer's unread notifications (groups).
func (s *Acting) UnreadNotifications(ctx context.Context) (int, error) {
	return count(ctx, s.db, `SELECT count(*) FROM notifications n
		WHERE n.user_id = $1 AND NOT n.superseded AND n.read_at IS NULL AND `+visible, s.viewer.UserID)
}

// MarkNotificationsRead marks the viewer's notifications up to and including the one
// with global id upTo read; all of them when upTo is nil. It returns how many remain
// unread. A notification of someone else's is NOT_FOUND, and nothing is marked.
func (s *Acting) MarkNotificationsRead(ctx context.Context, upTo *string) (int, error) {
	uid := s.viewer.UserID
	limit := int64(1<<63 - 1)
	if upTo != nil {
		typ, id, ok := globalid.Decode(*upTo)
		if !ok || typ != globalid.TypeNotification {
			return 0, apperr.BadInput("upTo", "is not a notification id")
		}
		mine, err := s.db.Notification.Query().Where(notification.ID(id), notification.UserID(uid)).Exist(ctx)
		if err != nil {
			return 0, fmt.Errorf("find notification: %w", err)
		}
		if !mine {
			return 0, apperr.NotFound("notification")
		}
		limit = int64(id)
	}
	err := s.write(ctx, func(tx *ent.Tx, _ *written) error {
		_, err := tx.ExecContext(ctx, `UPDATE notifications SET read_at = $3
			WHERE user_id = $1 AND id <= $2 AND read_at IS NULL`, uid, limit, s.now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark notifications read: %w", err)
	}
	return s.UnreadNotifications(ctx)
}

// Live streams (notificationAdded, feedArticleAdded) resume from a cursor: the id of
// the viewer's last notification sent, or the feed_seq of the last publication. Each
// pull first reads the newest cursor committed, then the rows up to it: rows commit in
// cursor order (the locks above), so everything up to it is visible, and whatever
// commits later is past it. A pull that finds nothing for the viewer still moves the
// cursor to the newest, so the next one does not read the same rows again.

// NotificationsAfter returns the viewer's notifications (every event, grouped or not)
// after cursor after, oldest first, at most n, and the cursor to continue from.
func (s *Acting) NotificationsAfter(ctx context.Context, after, n int) ([]*ent.Notification, int, error) {
	uid := s.viewer.UserID
	newest, err := s.LatestNotification(ctx)
	if err != nil || newest <= after {
		return nil, after, err
	}
	ids, err := column[int](ctx, s.db, `SELECT n.id FROM notifications n
		WHERE n.user_id = $1 AND n.id > $2 AND n.id <= $3 AND `+visible+`
		ORDER BY n.id LIMIT $4`, uid, after, newest, n)
	if err != nil {
		return nil, after, fmt.Errorf("notifications since: %w", err)
	}
	rows, err := s.notificationsByID(ctx, ids)
	if err != nil {
		return nil, after, err
	}
	if len(ids) == n {
		return rows, ids[n-1], nil
	}
	return rows, newest, nil
}

// LatestNotification is the id of the viewer's latest notification, 0 for none.
func (s *Acting) LatestNotification(ctx context.Context) (int, error) {
	return count(ctx, s.db, `SELECT COALESCE(max(id), 0) FROM notifications WHERE user_id = $1`, s.viewer.UserID)
}

// FeedAfter returns the ids of the articles that joined the viewer's feed after cursor
// after (a feed_seq), in publication order, at most n, and the cursor to continue from.
func (s *Acting) FeedAfter(ctx context.Context, after, n int) ([]int, int, error) {
	newest, err := s.FeedCursor(ctx, nil)
	if err != nil || newest <= after {
		return nil, after, err
	}
	uid := s.viewer.UserID
	rows, err := s.db.QueryContext(ctx, `SELECT a.id, a.feed_seq FROM articles a
		WHERE a.feed_seq > $2 AND a.feed_seq <= $3 AND a.status = 'published'
		  AND (a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)
		    OR a.id IN (SELECT t.article_id FROM article_tags t
		                WHERE t.tag_id IN (SELECT tag_id FROM tag_follows WHERE user_id = $1)))
		ORDER BY a.feed_seq LIMIT $4`, uid, after, newest, n)
	if err != nil {
		return nil, after, fmt.Errorf("feed since: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var ids []int
	last := after
	for rows.Next() {
		var id int
		if err := rows.Scan(&id, &last); err != nil {
			return nil, after, fmt.Errorf("feed since: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("feed since: %w", err)
	}
	if len(ids) == n {
		return ids, last, nil
	}
	return ids, newest, nil
}

// FeedCursor is the feed cursor of the article with id article (BAD_USER_INPUT on
// "after" when it was never published), or the newest when article is nil.
func (s *Service) FeedCursor(ctx context.Context, article *int) (int, error) {
	if article == nil {
		return count(ctx, s.db, `SELECT COALESCE(max(feed_seq), 0) FROM articles WHERE feed_seq IS NOT NULL`)
	}
	seq, err := column[int](ctx, s.db, `SELECT feed_seq FROM articles WHERE id = $1 AND feed_seq IS NOT NULL`, *article)
	if err != nil {
		return 0, fmt.Errorf("feed cursor: %w", err)
	}
	if len(seq) == 0 {
		return 0, apperr.BadInput("after", "names no published article")
	}
	return seq[0], nil
}
