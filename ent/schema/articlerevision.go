package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// ArticleRevision is an earlier version of an article's text, kept when an edit replaced
// it: the last 20 per article, for its author to look back at and restore.
type ArticleRevision struct {
	ent.Schema
}

// Fields of the ArticleRevision.
func (ArticleRevision) Fields() []ent.Field {
	return []ent.Field{
		field.Int("article_id"),
		field.String("title").MaxRuneLen(255).NotEmpty(),
		field.String("description").MaxRuneLen(1000).Default(""),
		field.Text("body"),
		// When this version stopped being the article's: the edit that replaced it.
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Edges of the ArticleRevision.
func (ArticleRevision) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("article", Article.Type).Ref("revisions").Field("article_id").Unique().Required(),
	}
}

// Indexes of the ArticleRevision: newest first per article.
func (ArticleRevision) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("article_id", "created_at", "id"),
	}
}

// Policy of the ArticleRevision: who may write it (internal/policy).
func (ArticleRevision) Policy() ent.Policy { return policy.RevisionWrites() }
