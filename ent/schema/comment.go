package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// Comment is a reader's reply under an article, or a reply to another comment: threads
// are two replies deep (depth 0 answers the article, 1 a comment, 2 a reply).
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
		field.Int("parent_id").Optional().Nillable().Immutable().
			Comment("the comment this one replies to; null for a comment on the article"),
		field.Int8("depth").Default(0).Immutable().
			Comment("how many replies deep: 0 on the article, 1 a reply, 2 a reply to a reply"),
		field.Bool("deleted").Default(false).
			Comment("deleted while it had replies: a placeholder keeping its thread whole, body emptied"),
	}
}

// Edges of the Comment.
func (Comment) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("article", Article.Type).Ref("comments").Field("article_id").Unique().Required(),
		edge.From("author", User.Type).Ref("comments").Field("author_id").Unique().Required(),
		edge.To("replies", Comment.Type).Annotations(entsql.OnDelete(entsql.Cascade)).
			From("parent").Field("parent_id").Unique().Immutable(),
	}
}

// Indexes of the Comment: an article's comments oldest first, a comment's replies oldest
// first, and by author.
func (Comment) Indexes() []ent.Index {
	return []ent.Index{
		// Whole, not just the threads' first comments: every reader of an article's
		// comments oldest first has it (the list filters replies out, which are few).
		index.Fields("article_id", "created_at", "id"),
		index.Fields("parent_id", "created_at", "id").Annotations(entsql.IndexWhere("(parent_id IS NOT NULL)")),
		index.Fields("author_id"),
	}
}

// Policy of the Comment: who may write it (internal/policy).
func (Comment) Policy() ent.Policy { return policy.CommentWrites() }
