package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// Follow says that follower reads what followee writes.
type Follow struct {
	ent.Schema
}

// Annotations of the Follow: nobody follows themselves.
func (Follow) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Checks(map[string]string{
			"follows_no_self_follow": "follower_id <> followee_id",
		}),
	}
}

// Fields of the Follow.
func (Follow) Fields() []ent.Field {
	return []ent.Field{
		field.Int("follower_id"),
		field.Int("followee_id"),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the Follow.
func (Follow) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("follower", User.Type).Unique().Required().Field("follower_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("followee", User.Type).Unique().Required().Field("followee_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Follow: one row per pair; both directions newest first.
func (Follow) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("follower_id", "followee_id").Unique(),
		index.Fields("followee_id", "created_at"),
		index.Fields("follower_id", "created_at"),
	}
}

// Policy of the Follow: who may write it (internal/policy).
func (Follow) Policy() ent.Policy { return policy.FollowWrites() }
