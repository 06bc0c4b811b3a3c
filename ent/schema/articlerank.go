package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ArticleRank holds a published article's sort keys for the sort orders, kept by a
// trigger on articles (the *_article_ranks migration). They live in a narrow table of
// their own so that a favorite or a comment, which changes the article's counters,
// updates no index of the wide articles table: its row update stays a HOT update.
type ArticleRank struct {
	ent.Schema
}

// Fields of the ArticleRank.
func (ArticleRank) Fields() []ent.Field {
	return []ent.Field{
		field.Int("article_id").Unique().Immutable(),
		field.Time("published_at"),
		field.Int("favorites_count"),
		field.Int("comments_count"),
		field.Float("trending_score"),
	}
}

// Edges of the ArticleRank.
func (ArticleRank) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("article", Article.Type).Unique().Required().Immutable().Field("article_id").
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of the ArticleRank: one per sort order, each order's first page a scan of it.
func (ArticleRank) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("article_id").Unique(),
		index.Fields("favorites_count", "published_at", "article_id"),
		index.Fields("comments_count", "published_at", "article_id"),
		index.Fields("trending_score", "published_at", "article_id"),
	}
}
