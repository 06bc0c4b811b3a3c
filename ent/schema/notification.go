package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Notification is one event that concerns a user: someone followed them, favorited or
// commented on their article, replied to their comment, or a followed author published.
// Events of a kind about one thing group while unread (see internal/service/notify.go):
// a row that joins a group supersedes the group's previous latest row, so a list of the
// rows not superseded is a list of groups, each at its latest event.
type Notification struct {
	ent.Schema
}

// Fields of the Notification.
func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Enum("kind").Values("followed", "favorited", "commented", "replied", "published").Immutable(),
		field.Int("actor_id").Immutable(),
		field.Int("article_id").Optional().Nillable().Immutable(),
		field.Int("comment_id").Optional().Nillable(),
		// group_id is the id of the group's first row; null on that first row.
		field.Int("group_id").Optional().Nillable().Immutable(),
		field.Bool("superseded").Default(false),
		field.Time("read_at").Optional().Nillable(),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the Notification: it goes with its recipient, actor or article.
func (Notification) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Unique().Required().Immutable().Field("user_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("actor", User.Type).Unique().Required().Immutable().Field("actor_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("article", Article.Type).Unique().Immutable().Field("article_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		// A deleted comment leaves its notification (the group's latest, perhaps) in place,
		// without the comment.
		edge.To("comment", Comment.Type).Unique().Field("comment_id").
			Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the Notification: a user's list (groups) and replay (every row) newest
// first, the open groups (which also answer the unread count, article included, from the
// index alone), a group's rows, and the cascades. Every index costs each new notification
// an insert, so there is no other one for the unread count.
func (Notification) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "id"),
		index.Fields("user_id", "id").StorageKey("notification_heads").Annotations(entsql.IndexWhere("(NOT superseded)")),
		// The group a new event joins: found among the recipient's unread groups of its
		// kind and article, not by reading back through all their notifications.
		index.Fields("user_id", "kind", "article_id").StorageKey("notification_open_groups").
			Annotations(entsql.IndexWhere("((NOT superseded) AND (read_at IS NULL))")),
		index.Fields("group_id").Annotations(entsql.IndexWhere("(group_id IS NOT NULL)")),
		index.Fields("actor_id"),
		index.Fields("article_id").Annotations(entsql.IndexWhere("(article_id IS NOT NULL)")),
		index.Fields("comment_id").Annotations(entsql.IndexWhere("(comment_id IS NOT NULL)")),
	}
}
