package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Article is a published piece of markdown.
type Article struct {
	ent.Schema
}

// Mixin of the Article.
func (Article) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Article.
func (Article) Fields() []ent.Field {
	return []ent.Field{
		// The slug is fixed at creation so shared links keep working after a rename.
		field.String("slug").MaxLen(255).NotEmpty().Unique().Immutable(),
		field.String("title").MaxRuneLen(255).NotEmpty(),
		field.String("description").MaxRuneLen(1000).Default(""),
		field.Text("body"),
		field.Int("author_id"),
		// favorites_count is kept in step with the favorites table in the same
		// transaction, so lists read it without a GROUP BY per page.
		field.Int("favorites_count").Default(0).NonNegative(),
	}
}

// Edges of the Article.
func (Article) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("author", User.Type).Ref("articles").Field("author_id").Unique().Required(),
		edge.To("tags", Tag.Type).Through("article_tags", ArticleTag.Type),
		edge.To("comments", Comment.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.From("favorited_by", User.Type).Ref("favorite_articles").
			Through("favorites", Favorite.Type),
	}
}

// Indexes of the Article: newest-first lists, globally and per author.
func (Article) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at", "id"),
		index.Fields("author_id", "created_at", "id"),
	}
}
