package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// Comment is a reader's reply under an article.
type Comment struct {
	ent.Schema
}

// Mixin of the Comment.
func (Comment) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Comment.
func (Comment) Fields() []ent.Field {
	return []ent.Field{
		field.Text("body"),
		field.Int("article_id"),
		field.Int("author_id"),
	}
}

// Edges of the Comment.
func (Comment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("article", Article.Type).Ref("comments").Field("article_id").Unique().Required(),
		edge.From("author", User.Type).Ref("comments").Field("author_id").Unique().Required(),
	}
}

// Indexes of the Comment: oldest-first per article, and by author.
func (Comment) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("article_id", "created_at", "id"),
		index.Fields("author_id"),
	}
}

// Policy of the Comment: who may write it (internal/policy).
func (Comment) Policy() ent.Policy { return policy.CommentWrites() }
