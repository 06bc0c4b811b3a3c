package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Bookmark records that a user saved an article to read later. Unlike a favorite it is
// private: nobody else sees it, and it counts nowhere.
type Bookmark struct {
	ent.Schema
}

// Fields of the Bookmark.
func (Bookmark) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Int("article_id").Immutable(),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the Bookmark.
func (Bookmark) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("bookmarks").Field("user_id").Unique().Required().Immutable(),
		edge.From("article", Article.Type).Ref("bookmarks").Field("article_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Bookmark: one per (user, article); a user's, newest first.
func (Bookmark) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "article_id").Unique(),
		index.Fields("user_id", "created_at", "id"),
		// For the cascade when an article is purged.
		index.Fields("article_id"),
	}
}
