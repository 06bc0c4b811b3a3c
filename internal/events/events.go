// Package events carries change events from the writes that cause them to the GraphQL
// subscriptions that want them, across every server instance, through PostgreSQL
// LISTEN/NOTIFY and nothing else.
//
// A write publishes its event with Publish inside its own transaction, so PostgreSQL
// delivers it when (and only if) the transaction commits, in commit order. Each server
// instance runs one Hub: a single listening connection that fans every event out to the
// instance's subscribers. Events carry ids, never bodies: a subscriber loads what it
// shows, for its own viewer, when the event arrives.
//
// Every event is also written to the event log (the event_log table) by the statement that
// queues its NOTIFY, and the NOTIFY carries the event's id in the log. An instance whose
// listening connection was lost (a database failover, a network cut) reads the events
// committed meanwhile from the log when it listens again and delivers those it had not,
// in id order, before the live ones; it tells the two apart by id. The log keeps events
// for Retention. A subscriber that falls too far behind is still dropped.
package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"inkwell/internal/change"
)

// Channel is the NOTIFY channel every event travels on.
const Channel = "inkwell_events"

// maxPayload keeps well under NOTIFY's 8000-byte payload limit, with room for the log id
// added to it; most events are a few dozen bytes, the largest a change set naming ended
// sessions (service.maxListedSessions). A larger event is refused, so its write fails.
const maxPayload = 4000

// Retention is how long the event log keeps an event (Prune). A hub replays from the last
// moment it knew its connection alive, less replayMargin; its connection is checked every
// 30 s (Config.Ping) and re-established within about 2 s of the database's return
// (Config.MaxReconnect), and a failover takes 10 to 30 s (deploy/scale.md), so an
// instance back within a minute or
// two needs about two minutes of log. Ten minutes leaves room for a longer outage (a
// database down that long has committed few events meanwhile) at a small cost: rows are
// about a hundred bytes, some tens of thousands at a few hundred writes a second.
const Retention = 10 * time.Minute

// Kind says what happened.
type Kind string

// The kinds of events.
const (
	KindCommentAdded    Kind = "comment_added"
	KindFavoriteChanged Kind = "favorite_changed"
	KindArticleCreated  Kind = "article_created"
	KindArticleDeleted  Kind = "article_deleted"
	// KindChanged tells every instance what a write changed, for its cache
	// (Config.OnChange); no subscription hears it.
	KindChanged Kind = "changed"
)

// Event is one committed change, as it travels in a NOTIFY payload. Short JSON names keep
// the payload small.
type Event struct {
	// ID is the event's id in the event log, set on an event received from the hub;
	// Encode leaves it out, the publishing statement puts it in. Ids grow in the order
	// events are written, not quite the order they commit.
	ID   int64 `json:"i,omitempty"`
	Kind Kind  `json:"k"`
	// Pos is a mark's log position (KindMark).
	Pos       uint64 `json:"p,omitempty"`
	ArticleID int    `json:"a,omitempty"`
	CommentID int    `json:"c,omitempty"`
	// AuthorID is the author of a new article.
	AuthorID int `json:"u,omitempty"`
	// FavoritesCount is the article's count right after a favorite or unfavorite.
	FavoritesCount int `json:"n,omitempty"`
	// Notified are the users the write notified (internal/service/notify.go), so that
	// their notificationAdded subscriptions read the new rows; NotifiedAll when they
	// were too many to list, and every such subscription looks.
	Notified    []int `json:"N,omitempty"`
	NotifiedAll bool  `json:"A,omitempty"`
	// Changed is what a write changed: the whole of a KindChanged event, and carried by a
	// write's event for subscribers too, so that one NOTIFY tells both.
	Changed *change.Set `json:"x,omitempty"`
	// Delivery is this instance's receipt of the event, the same for every subscriber
	// it reaches; nil on an event not received from the hub.
	Delivery *Delivery `json:"-"`
}

// Delivery is one received event, shared by all its subscribers, so that what they all
// read is loaded once however many they are (Once).
type Delivery struct {
	once sync.Once
	v    any
}

// Once returns what the first call's f returned; later and concurrent calls wait for it
// and get the same. On a nil Delivery every call runs f.
func (d *Delivery) Once(f func() any) any {
	if d == nil {
		return f()
	}
	d.once.Do(func() { d.v = f() })
	return d.v
}

// Changed is the event that tells every instance what a write changed.
func Changed(s change.Set) Event { return Event{Kind: KindChanged, Changed: &s} }

// CommentAdded is the event of a new comment on an article.
func CommentAdded(articleID, commentID int) Event {
	return Event{Kind: KindCommentAdded, ArticleID: articleID, CommentID: commentID}
}

// FavoriteChanged is the event of an article's favorites count changing to count.
func FavoriteChanged(articleID, count int) Event {
	return Event{Kind: KindFavoriteChanged, ArticleID: articleID, FavoritesCount: count}
}

// ArticleCreated is the event of a new article by authorID.
func ArticleCreated(articleID, authorID int) Event {
	return Event{Kind: KindArticleCreated, ArticleID: articleID, AuthorID: authorID}
}

// ArticleDeleted is the event of an article's deletion; it ends the subscriptions to it.
func ArticleDeleted(articleID int) Event {
	return Event{Kind: KindArticleDeleted, ArticleID: articleID}
}

// Topic is what a subscriber listens to. Compare topics with ==.
type Topic struct {
	name string
	id   int
}

func (t Topic) String() string {
	if t.id == 0 {
		return t.name
	}
	return t.name + ":" + strconv.Itoa(t.id)
}

// Notifications is the topic of every write that notified someone (Event.Notified).
var Notifications = Topic{name: "notifications"}

// Notifies reports whether e notified the user.
func (e Event) Notifies(user int) bool {
	return e.NotifiedAll || slices.Contains(e.Notified, user)
}

// NewArticles is the topic of every new article.
var NewArticles = Topic{name: "articles"}

// CommentsOn is the topic of new comments on an article, and of its deletion.
func CommentsOn(articleID int) Topic { return Topic{name: "comments", id: articleID} }

// FavoritesOf is the topic of an article's favorites count, and of its deletion.
func FavoritesOf(articleID int) Topic { return Topic{name: "favorites", id: articleID} }

// topics lists the topics e is delivered on.
func (e Event) topics() []Topic {
	var out []Topic
	if e.NotifiedAll || len(e.Notified) > 0 {
		out = append(out, Notifications)
	}
	return append(out, e.kindTopics()...)
}

func (e Event) kindTopics() []Topic {
	switch e.Kind {
	case KindCommentAdded:
		return []Topic{CommentsOn(e.ArticleID)}
	case KindFavoriteChanged:
		return []Topic{FavoritesOf(e.ArticleID)}
	case KindArticleCreated:
		return []Topic{NewArticles}
	case KindArticleDeleted:
		return []Topic{CommentsOn(e.ArticleID), FavoritesOf(e.ArticleID)}
	}
	return nil
}

// Execer runs a statement; *ent.Tx and *sql.Tx are Execers.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Publish queues e on tx and writes it to the event log, in one statement. PostgreSQL
// delivers it to every listening instance when tx commits, and drops it (and its log row)
// when tx rolls back, so subscribers never hear of a write that did not happen. Call it
// with the transaction that makes the change.
func Publish(ctx context.Context, tx Execer, e Event) error {
	return PublishWith(ctx, tx, e, "")
}

// PublishWith is Publish for a writer that has more to do in the same statement: from,
// when not empty, is a FROM item (a parenthesised query and its alias) that yields one
// row, with parameters $1… bound to args; the statement's own parameters follow them.
func PublishWith(ctx context.Context, tx Execer, e Event, from string, args ...any) error {
	e.ID = 0
	payload, err := Encode(e)
	if err != nil {
		return err
	}
	channel, text := len(args)+1, len(args)+2
	// The id goes first in the JSON object: a receiver that does not know the field (an
	// older instance during a rolling deploy) ignores it. Encode's output always starts
	// with "{" and has at least the kind, so cutting the "{" off leaves members.
	q := fmt.Sprintf(`WITH logged AS (INSERT INTO event_log (created_at, payload) VALUES (clock_timestamp(), $%[2]d) RETURNING id)
		SELECT pg_notify($%[1]d, '{"i":' || logged.id || ',' || substr($%[2]d, 2)) FROM logged`, channel, text)
	if from != "" {
		q += ", " + from
	}
	// A new slice: appending to args could write into the caller's array.
	if _, err := tx.ExecContext(ctx, q, slices.Concat(args, []any{Channel, payload})...); err != nil {
		return fmt.Errorf("notify %s: %w", e.Kind, err)
	}
	return nil
}

// Encode is e as it is logged, without its id.
func Encode(e Event) (string, error) {
	payload, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode event: %w", err)
	}
	if len(payload) > maxPayload {
		return "", fmt.Errorf("event payload is %d bytes, more than %d", len(payload), maxPayload)
	}
	return string(payload), nil
}

// pruneLock is the advisory lock one pruning holds, so that instances pruning at the
// same moment do not all scan and delete the same rows: the others skip their turn.
const pruneLock = 0x1c0e0

// Prune deletes the events logged more than olderThan ago (by the database's clock) and
// returns how many. Any number of instances may call it: while one prunes, the others
// delete nothing.
func Prune(ctx context.Context, db Execer, olderThan time.Duration) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM event_log
		WHERE created_at < clock_timestamp() - make_interval(secs => $1)
		  AND (SELECT pg_try_advisory_xact_lock($2))`, olderThan.Seconds(), pruneLock)
	if err != nil {
		return 0, fmt.Errorf("prune event log: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune event log: %w", err)
	}
	return n, nil
}
