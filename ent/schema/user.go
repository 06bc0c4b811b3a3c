package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// User is an author and reader: the account that signs in.
type User struct {
	ent.Schema
}

// Mixin of the User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{TimeMixin{}}
}

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("username").MaxLen(32).NotEmpty(),
		// username_key is the lower-cased username; its unique index makes "Alice" and
		// "alice" the same name without an expression index that Atlas cannot diff.
		field.String("username_key").MaxLen(32).NotEmpty().Unique(),
		// username_skeleton is the name as it looks (the lower-cased Unicode UTS #39
		// skeleton: "0" is "o", "1" and "I" are "l", "m" is "rn"); its unique index refuses a
		// name that passes for another ("adrnin" for "admin"). NULL only for names taken
		// before it existed that looked like an older one.
		field.String("username_skeleton").MaxLen(128).Optional().Nillable().Unique(),
		// email is stored lower-cased, so the unique index is case-insensitive. It is
		// NULL (read as "") for an account made by a provider sign-in that gave no
		// verified address: an unverified one is never stored, so it cannot block or
		// take over the real owner's account.
		field.String("email").MaxLen(254).Optional().Unique(),
		// email_verified says the owner proved the address is theirs (a provider that
		// verified it made the account). Only then may a provider sign-in with the same
		// address join this account: an address anyone can type in at sign-up must
		// never let its real owner's provider account land in a squatter's account.
		field.Bool("email_verified").Default(false),
		// email_token_hash is the SHA-256 of the one outstanding verification link's
		// token, until it is used or a newer one replaces it; it expires at
		// email_token_expires_at.
		field.Bytes("email_token_hash").Optional().Nillable().Sensitive(),
		field.Time("email_token_expires_at").Optional().Nillable(),
		// pending_email is an address the user asked to change to. It replaces email
		// only when the link mailed to it is opened (email_token_hash), so a stolen
		// session cannot move the account to the thief's address.
		field.String("pending_email").MaxLen(254).Optional().Nillable(),
		// password_hash is "" for accounts that sign in only through a provider.
		field.String("password_hash").Sensitive().Default(""),
		field.String("bio").MaxRuneLen(2000).Default(""),
		field.String("image").MaxLen(2048).Default(""),
		// The uploaded avatar that image shows, if it is one (internal/storage).
		field.Int("image_asset_id").Optional().Nillable(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("articles", Article.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("comments", Comment.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("favorite_articles", Article.Type).
			Through("favorites", Favorite.Type),
		edge.To("refresh_tokens", RefreshToken.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("identities", Identity.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("login_codes", LoginCode.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("assets", Asset.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.To("bookmarks", Bookmark.Type).Annotations(entsql.OnDelete(entsql.Cascade)),
		edge.From("image_asset", Asset.Type).Ref("avatar_of").Field("image_asset_id").Unique(),
	}
}

// Indexes of the User.
func (User) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at"),
		// A verification link finds its account by the token's hash.
		index.Fields("email_token_hash").Unique(),
		// For deleting an expired asset (SET NULL, and the check that nothing uses it).
		index.Fields("image_asset_id").Annotations(entsql.IndexWhere("(image_asset_id IS NOT NULL)")),
	}
}

// Policy of the User: who may write it (internal/policy).
func (User) Policy() ent.Policy { return policy.UserWrites() }
