package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Asset is an image a user uploaded: requested (pending), then verified and cleaned
// (ready) or refused (rejected). Its bytes live in internal/storage under its token.
type Asset struct {
	ent.Schema
}

// Mixin of the Asset.
func (Asset) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the Asset.
func (Asset) Fields() []ent.Field {
	return []ent.Field{
		field.Int("owner_id").Immutable(),
		field.Enum("purpose").Values("avatar", "cover", "inline").Immutable(),
		field.Enum("state").Values("pending", "ready", "rejected").Default("pending"),
		// The random part of its storage keys and of its URL.
		field.String("token").MaxLen(64).NotEmpty().Unique().Immutable(),
		// Where clients read it: the server's assets URL and the token, fixed when it is
		// requested, as a user's image URL is.
		field.String("url").MaxLen(2048).Immutable(),
		// As declared while pending; as verified once ready.
		field.String("content_type").MaxLen(64),
		field.Int64("byte_size").NonNegative(),
		field.Int("width").Optional().Nillable(),
		field.Int("height").Optional().Nillable(),
		field.String("alt").MaxRuneLen(500).Default(""),
		// An asset nothing uses is deleted, with its bytes, once this time has passed; null
		// while something (an avatar, a cover, an article's body) uses it.
		field.Time("expires_at").Optional().Nillable(),
	}
}

// Edges of the Asset: whose it is, and who shows it.
func (Asset) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", User.Type).Ref("assets").Field("owner_id").Unique().Required().Immutable(),
		edge.To("avatar_of", User.Type).Annotations(entsql.OnDelete(entsql.SetNull)),
		edge.To("cover_of", Article.Type).Annotations(entsql.OnDelete(entsql.SetNull)),
	}
}

// Indexes of the Asset: what is due to expire, and an owner's uploads.
func (Asset) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("expires_at").Annotations(entsql.IndexWhere("(expires_at IS NOT NULL)")),
		index.Fields("owner_id", "created_at"),
	}
}
