package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"inkwell/internal/policy"
)

// Identity links an account at an external sign-in provider (GitHub, Google, an OpenID
// Connect issuer) to a user.
type Identity struct {
	ent.Schema
}

// Fields of the Identity.
func (Identity) Fields() []ent.Field {
	return []ent.Field{
		field.String("provider").MaxLen(32).NotEmpty().Immutable(),
		// subject is the provider's stable id for the account; emails and logins change.
		field.String("subject").NotEmpty().Immutable(),
		field.Int("user_id").Immutable(),
		// email is what the provider reported at the last sign-in, for the user's eyes.
		field.String("email").Default(""),
		field.Time("created_at").Default(now).Immutable(),
	}
}

// Edges of the Identity.
func (Identity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("identities").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Identity: one user per provider account, one account per provider and
// user (so unlinking by provider name is unambiguous).
func (Identity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("provider", "subject").Unique(),
		index.Fields("user_id", "provider").Unique(),
	}
}

// LoginCode is the one-time code that a finished provider sign-in hands the browser,
// traded once, within a minute, for tokens; or (purpose "link") the ticket with which a
// signed-in user starts linking a provider account, which can never be traded for
// tokens. Only its hash is stored.
type LoginCode struct {
	ent.Schema
}

// Fields of the LoginCode.
func (LoginCode) Fields() []ent.Field {
	return []ent.Field{
		field.Bytes("code_hash").Unique().Immutable().Sensitive(),
		field.Enum("purpose").Values("login", "link").Default("login").Immutable(),
		field.Int("user_id").Immutable(),
		field.Time("created_at").Default(now).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
		// code_challenge is the S256 PKCE challenge the client sent when it started the
		// sign-in: only the holder of its verifier may trade the code, so a code an
		// attacker obtained cannot sign a victim's browser into the attacker's account.
		field.String("code_challenge").MaxLen(64).Optional().Nillable().Immutable(),
	}
}

// Edges of the LoginCode.
func (LoginCode) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("login_codes").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the LoginCode: expired codes are swept by time.
func (LoginCode) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("expires_at"),
	}
}

// Policy of the Identity: who may write it (internal/policy).
func (Identity) Policy() ent.Policy { return policy.CredentialWrites() }

// Policy of the LoginCode: who may write it (internal/policy).
func (LoginCode) Policy() ent.Policy { return policy.CredentialWrites() }
