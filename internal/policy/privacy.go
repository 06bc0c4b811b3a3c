package policy

import (
	"context"

	entgo "entgo.io/ent"

	"inkwell/ent"
	"inkwell/ent/privacy"
	"inkwell/internal/auth"
)

// The rules below are ent's privacy policies for writes (ent/schema's Policy methods):
// a backstop under the service's own checks, failing closed. ent evaluates them on every
// mutation of the rows they guard, and a write that no rule allows is refused with
// privacy.Deny, which the API reports as FORBIDDEN. Reads are not restricted: what is
// private in a row is decided when it is shown (CanSeeEmail).

// System returns ctx under which ent allows every write: for work done for no viewer
// (sign-up and provider sign-in before anyone is signed in, migrations, seeding, scheduled
// jobs). Every use is a place to review; grep for policy.System.
func System(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

func viewerID(ctx context.Context) int { return auth.ViewerFrom(ctx).UserID }

var errAnonymous = privacy.Denyf("ent/privacy: writes need a signed-in viewer")

// ArticleWrites: an article is created, changed and deleted by its author only.
func ArticleWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.ArticleMutationRuleFunc(func(ctx context.Context, m *ent.ArticleMutation) error {
			return byAuthor(ctx, "an article", m.Op(), m.AuthorID, m.OldAuthorID, func(ctx context.Context) (int, error) {
				id, _ := m.ID()
				a, err := m.Client().Article.Get(ctx, id)
				if err != nil {
					return 0, err
				}
				return a.AuthorID, nil
			})
		}),
	}}
}

// CommentWrites: a comment is written and deleted by its author only.
func CommentWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.CommentMutationRuleFunc(func(ctx context.Context, m *ent.CommentMutation) error {
			return byAuthor(ctx, "a comment", m.Op(), m.AuthorID, m.OldAuthorID, func(ctx context.Context) (int, error) {
				id, _ := m.ID()
				c, err := m.Client().Comment.Get(ctx, id)
				if err != nil {
					return 0, err
				}
				return c.AuthorID, nil
			})
		}),
	}}
}

// RevisionWrites: an article's earlier versions are kept and dropped by edits of its
// author, and only those.
func RevisionWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.ArticleRevisionMutationRuleFunc(func(ctx context.Context, m *ent.ArticleRevisionMutation) error {
			authorOf := func(ctx context.Context, articleID int) (int, error) {
				a, err := m.Client().Article.Get(ctx, articleID)
				if err != nil {
					return 0, err
				}
				return a.AuthorID, nil
			}
			return byAuthor(ctx, "an article's revision", m.Op(), func() (int, bool) {
				id, ok := m.ArticleID()
				if !ok {
					return 0, false
				}
				author, err := authorOf(ctx, id)
				return author, err == nil
			}, func(context.Context) (int, error) { return 0, nil }, // never changed, only kept and dropped
				func(ctx context.Context) (int, error) {
					id, _ := m.ID()
					r, err := m.Client().ArticleRevision.Get(ctx, id)
					if err != nil {
						return 0, err
					}
					return authorOf(ctx, r.ArticleID)
				})
		}),
	}}
}

// byAuthor allows a write of a row (what) when the viewer is its author: the author it is
// created with (created), had before an update (old), or has when deleted (current). Any
// other write, and one whose author cannot be read, is denied.
func byAuthor(ctx context.Context, what string, op ent.Op, created func() (int, bool),
	old, current func(context.Context) (int, error),
) error {
	v := viewerID(ctx)
	if v == 0 {
		return errAnonymous
	}
	var author int
	switch op {
	case ent.OpCreate:
		author, _ = created()
	case ent.OpUpdateOne:
		author, _ = old(ctx)
	case ent.OpDeleteOne:
		author, _ = current(ctx)
	}
	if author != 0 && author == v {
		return privacy.Allow
	}
	return privacy.Denyf("ent/privacy: %s of %s by someone other than its author", op, what)
}

// UserWrites: a user's row is changed by that user only; new users come from sign-up and
// provider sign-ins, which run as System.
func UserWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.UserMutationRuleFunc(func(ctx context.Context, m *ent.UserMutation) error {
			v := viewerID(ctx)
			if id, ok := m.ID(); ok && v != 0 && id == v && m.Op() == ent.OpUpdateOne {
				return privacy.Allow
			}
			return privacy.Denyf("ent/privacy: %s of a user by someone else", m.Op())
		}),
	}}
}

// FavoriteWrites: a favorite is made by its user only; undoing one, and any bulk change,
// is for System.
func FavoriteWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.FavoriteMutationRuleFunc(func(ctx context.Context, m *ent.FavoriteMutation) error {
			if u, ok := m.UserID(); ok && m.Op() == ent.OpCreate && u == viewerID(ctx) && u != 0 {
				return privacy.Allow
			}
			return privacy.Denyf("ent/privacy: %s of a favorite by someone else", m.Op())
		}),
	}}
}

// FollowWrites: a follow is made by its follower only; undoing one, and any bulk change,
// is for System.
func FollowWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.FollowMutationRuleFunc(func(ctx context.Context, m *ent.FollowMutation) error {
			if u, ok := m.FollowerID(); ok && m.Op() == ent.OpCreate && u == viewerID(ctx) && u != 0 {
				return privacy.Allow
			}
			return privacy.Denyf("ent/privacy: %s of a follow by someone else", m.Op())
		}),
	}}
}

// TagWrites: tags and an article's tags change with an author's article, so any signed-in
// viewer's write may touch them (the article's own rule decides whose article).
func TagWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{
		privacy.ContextQueryMutationRule(func(ctx context.Context) error {
			if viewerID(ctx) == 0 {
				return errAnonymous
			}
			return privacy.Allow
		}),
	}}
}

// CredentialWrites: refresh tokens, login codes and linked identities are written by the
// account flows, which run before anyone is signed in and are authorized by the credential
// they are handed (a password, a refresh token, a provider's verified identity), never
// by a viewer.
func CredentialWrites() entgo.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{privacy.AlwaysAllowRule()}}
}
