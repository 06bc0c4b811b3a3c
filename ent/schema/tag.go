package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// Tag is a normalised topic name shared by articles.
type Tag struct {
	ent.Schema
}

// Fields of the Tag.
func (Tag) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").MaxLen(32).NotEmpty().Unique().Immutable(),
		// articles_count is maintained by the writes that link and unlink articles,
		// so "most used tags" is one index scan.
		field.Int("articles_count").Default(0).NonNegative(),
		// followers_count is maintained by followTag and unfollowTag, like articles_count.
		field.Int("followers_count").Default(0).NonNegative(),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the Tag.
func (Tag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("articles", Article.Type).Ref("tags"),
	}
}

// Indexes of the Tag: the popular-tags list.
func (Tag) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("articles_count", "name"),
	}
}

// Policy of the Tag: who may write it (internal/policy).
func (Tag) Policy() ent.Policy { return policy.TagWrites() }
