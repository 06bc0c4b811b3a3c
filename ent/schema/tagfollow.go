package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// TagFollow says that a user reads what is filed under a tag: its articles join the
// user's home feed.
type TagFollow struct {
	ent.Schema
}

// Fields of the TagFollow.
func (TagFollow) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Int("tag_id").Immutable(),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the TagFollow.
func (TagFollow) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Unique().Required().Immutable().Field("user_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("tag", Tag.Type).Unique().Required().Immutable().Field("tag_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the TagFollow: one per (user, tag), which is also the feed's lookup of a
// user's tags; by tag for the cascade when a tag goes.
func (TagFollow) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "tag_id").Unique(),
		index.Fields("tag_id"),
	}
}
