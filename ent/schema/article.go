package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/markdown"
	"inkwell/internal/policy"
)

// Article is a piece of markdown: a draft its author alone sees, scheduled, or published.
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
		field.String("subtitle").MaxRuneLen(255).Default(""),
		field.String("description").MaxRuneLen(1000).Default(""),
		// Empty when the article was first published here, and the SEO texts when the
		// article's own title and excerpt are to be used.
		field.String("canonical_url").MaxLen(2048).Default(""),
		field.String("seo_title").MaxRuneLen(120).Default(""),
		field.String("seo_description").MaxRuneLen(320).Default(""),
		field.Text("body"),
		field.Int("author_id"),
		// favorites_count is kept in step with the favorites table in the same
		// transaction, so lists read it without a GROUP BY per page.
		field.Int("favorites_count").Default(0).NonNegative(),
		// comments_count (comments and replies, placeholders left out) and trending_score
		// are kept by triggers (the *_sort_orders migration). trending_score is
		// log10(max(1, favorites + 2·comments)) + published_at's Unix seconds / 45000: one
		// order of magnitude of engagement is worth 12.5 hours of age. The sort orders
		// read their copies in article_ranks, which is indexed; these are not, so that
		// changing them keeps the row update HOT.
		field.Int("comments_count").Default(0).NonNegative(),
		field.Float("trending_score").Default(0),
		// The read model: what every read of the body would otherwise compute, written
		// with the body (internal/markdown.Render), so no read renders Markdown.
		// render_version says which renderer wrote them; a newer one re-renders older rows
		// when migrations run (internal/dbmigrate).
		field.Text("body_html").Default(""),
		field.String("excerpt").Default(""),
		field.Int("word_count").Default(0).NonNegative(),
		field.Int("reading_time_minutes").Default(1).Positive(),
		// A TOC writes itself as JSON text (lib/pq would send ent's JSON bytes in
		// jsonb's binary format, without its version byte). The SQL default fills the
		// rows that exist when the column is added; dbmigrate.RenderArticles then
		// renders their read model.
		field.Other("toc", markdown.TOC{}).Default(markdown.TOC{}).
			SchemaType(map[string]string{dialect.Postgres: "jsonb"}).
			Annotations(entsql.DefaultExpr("'[]'::jsonb")),
		field.Int("render_version").Default(0).NonNegative(),
		// Only published articles exist for anyone but their author: lists, feeds,
		// counts and lookups read status. published_at orders the lists; publish_at is
		// when a scheduled article is to be published.
		field.Enum("status").Values("draft", "scheduled", "published", "trashed").Default("published"),
		field.Time("published_at").Optional().Nillable(),
		// feed_seq numbers publications in commit order (each publication takes the next
		// under one lock held to commit), so a live feed resumes after the last it sent.
		field.Int64("feed_seq").Optional().Nillable(),
		field.Time("publish_at").Optional().Nillable(),
		// A deleted article is trashed: deleted_at says when, trashed_from what status
		// restoring it gives back. It is purged after the retention (internal/service).
		field.Time("deleted_at").Optional().Nillable(),
		field.Enum("trashed_from").Values("draft", "scheduled", "published").Optional().Nillable(),
		field.Int("cover_image_asset_id").Optional().Nillable(),
		// The article's tag names, space-separated, kept with its tags for the full-text
		// search column (search_vector, made by a migration: ent has no generated columns).
		field.Text("search_tags").Default(""),
	}
}

// Edges of the Article.
func (Article) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("author", User.Type).Ref("articles").Field("author_id").Unique().Required(),
		edge.To("tags", Tag.Type).Through("article_tags", ArticleTag.Type),
		edge.To("comments", Comment.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("revisions", ArticleRevision.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("bookmarks", Bookmark.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.From("cover_image", Asset.Type).Ref("cover_of").Field("cover_image_asset_id").Unique(),
		edge.From("favorited_by", User.Type).Ref("favorite_articles").
			Through("favorites", Favorite.Type),
	}
}

// Indexes of the Article: newest-first lists of published articles, globally and per
// author; an author's drafts (and trash), last edited first; what is due to be published;
// what is due to be purged.
func (Article) Indexes() []ent.Index {
	return []ent.Index{
		// The conditions as PostgreSQL prints them back, so that the migrated database
		// compares equal with this schema.
		index.Fields("published_at", "id").Annotations(entsql.IndexWhere(isPublished)),
		index.Fields("author_id", "published_at", "id").Annotations(entsql.IndexWhere(isPublished)),
		index.Fields("author_id", "updated_at", "id").Annotations(entsql.IndexWhere("((status)::text <> 'published'::text)")),
		index.Fields("feed_seq").Annotations(entsql.IndexWhere("(feed_seq IS NOT NULL)")),
		index.Fields("publish_at").Annotations(entsql.IndexWhere("((status)::text = 'scheduled'::text)")),
		index.Fields("deleted_at").Annotations(entsql.IndexWhere("((status)::text = 'trashed'::text)")),
		// For deleting an expired asset (SET NULL, and the check that nothing uses it).
		index.Fields("cover_image_asset_id").Annotations(entsql.IndexWhere("(cover_image_asset_id IS NOT NULL)")),
	}
}

const isPublished = "((status)::text = 'published'::text)"

// Policy of the Article: who may write it (internal/policy).
func (Article) Policy() ent.Policy { return policy.ArticleWrites() }
