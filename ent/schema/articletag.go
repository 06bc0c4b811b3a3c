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

// ArticleTag links an article to a tag. It is an edge schema only so that the link table
// can carry the (tag_id, article_id) index that "articles with tag X" reads.
type ArticleTag struct {
	ent.Schema
}

// Annotations of the ArticleTag: one row per (article, tag).
func (ArticleTag) Annotations() []schema.Annotation {
	return []schema.Annotation{
		field.ID("article_id", "tag_id"),
	}
}

// Fields of the ArticleTag.
func (ArticleTag) Fields() []ent.Field {
	return []ent.Field{
		field.Int("article_id"),
		field.Int("tag_id"),
		// published_at is the article's while it is published, null otherwise; kept by
		// triggers (the *_tag_pages migration), so a tag's page is read from one index.
		field.Time("published_at").Optional().Nillable(),
	}
}

// Edges of the ArticleTag.
func (ArticleTag) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("article", Article.Type).Unique().Required().Field("article_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("tag", Tag.Type).Unique().Required().Field("tag_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the ArticleTag: articles by tag, and a tag's published articles newest first.
func (ArticleTag) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("tag_id", "article_id"),
		index.Fields("tag_id", "published_at", "article_id").Annotations(entsql.IndexWhere("(published_at IS NOT NULL)")),
	}
}

// Policy of the ArticleTag: who may write it (internal/policy).
func (ArticleTag) Policy() ent.Policy { return policy.TagWrites() }
