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

// Favorite records that a user favorited an article.
type Favorite struct {
	ent.Schema
}

// Annotations of the Favorite: one row per (user, article).
func (Favorite) Annotations() []schema.Annotation {
	return []schema.Annotation{
		field.ID("user_id", "article_id"),
	}
}

// Fields of the Favorite.
func (Favorite) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id"),
		field.Int("article_id"),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the Favorite.
func (Favorite) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Unique().Required().Field("user_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("article", Article.Type).Unique().Required().Field("article_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the Favorite: "who favorited this article".
func (Favorite) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("article_id", "user_id"),
	}
}

// Policy of the Favorite: who may write it (internal/policy).
func (Favorite) Policy() ent.Policy { return policy.FavoriteWrites() }
