package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// RefreshToken is one link in a session's chain of refresh tokens. Only a hash of the
// token is stored; every use rotates it, and reuse of a spent token revokes the chain.
type RefreshToken struct {
	ent.Schema
}

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("token_hash").Unique().Immutable().Sensitive(),
		// session_id is shared by every token rotated from one sign-in.
		field.String("session_id").MaxLen(64).Immutable(),
		field.Int("user_id").Immutable(),
		field.Time("created_at").Default(now).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("refresh_tokens").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("session_id"),
		index.Fields("user_id"),
	}
}

// Policy of the RefreshToken: who may write it (internal/policy).
func (RefreshToken) Policy() ent.Policy { return policy.CredentialWrites() }
