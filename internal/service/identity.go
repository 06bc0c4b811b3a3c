package service

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"inkwell/ent"
	"inkwell/ent/identity"
	"inkwell/ent/user"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/policy"
)

// LoginCodeTTL is how long a login code from a provider sign-in may be traded.
const LoginCodeTTL = time.Minute

// ExternalIdentity is an account at a sign-in provider, as the provider vouched for it.
type ExternalIdentity struct {
	Provider, Subject string
	Email             string // lower-cased; "" when none
	EmailVerified     bool
	Login             string // username hint
}

// LoginCode signs an external identity in and returns a one-time login code for it.
// The identity's user is found by (provider, subject); failing that, an email that both
// the provider and the account have verified links it to that account; failing that, a
// new account is made. An email that matches an account but is unverified on either
// side is refused: it must never take one over, nor hand one to a squatter.
//
// The code can be traded only with the PKCE verifier of challenge (ExchangeLoginCode).
func (s *Service) LoginCode(ctx context.Context, id ExternalIdentity, challenge string) (string, error) {
	if challenge == "" {
		return "", errors.New("login code: no code challenge")
	}
	id.Email = normEmail(id.Email)
	// A login code is the same kind of opaque, hashed-at-rest secret as a refresh token.
	code, hash, err := auth.NewRefreshToken()
	if err != nil {
		return "", err
	}
	// Two callbacks for one new identity, or two new users wanting one name, race on a
	// unique index; the loser's second try finds the winner's rows. A new user with a
	// verified email meets the winner (or a concurrent sign-up) on users.email first, and
	// its second try links to that account.
	for attempt := 0; ; attempt++ {
		// Before anyone is signed in: a provider-made account is written as the system.
		err = s.inTx(ctx, func(tx *ent.Tx) error {
			ctx := policy.System(ctx)
			uid, err := s.userForIdentity(ctx, tx, id)
			if err != nil {
				return err
			}
			t := s.now()
			return tx.LoginCode.Create().SetCodeHash(hash).SetUserID(uid).SetCodeChallenge(challenge).
				SetCreatedAt(t).SetExpiresAt(t.Add(LoginCodeTTL)).Exec(ctx)
		})
		retry := uniqueViolation(err, "identity_provider_subject") || uniqueViolation(err, "users_username_key_key") ||
			uniqueViolation(err, "users_username_skeleton_key") ||
			uniqueViolation(err, "users_email_key")
		if !retry || attempt == 2 {
			break
		}
	}
	if err != nil {
		return "", err
	}
	return code, nil
}

func (s *Service) userForIdentity(ctx context.Context, tx *ent.Tx, id ExternalIdentity) (int, error) {
	known, err := tx.Identity.Query().
		Where(identity.Provider(id.Provider), identity.Subject(id.Subject)).
		Only(ctx)
	switch {
	case err == nil:
		if id.Email != "" && id.Email != known.Email {
			if err := tx.Identity.UpdateOne(known).SetEmail(id.Email).Exec(ctx); err != nil {
				return 0, fmt.Errorf("update identity email: %w", err)
			}
		}
		return known.UserID, nil
	case !ent.IsNotFound(err):
		return 0, fmt.Errorf("find identity: %w", err)
	}

	var owner *ent.User
	if id.Email != "" {
		owner, err = tx.User.Query().Where(user.Email(id.Email)).Only(ctx)
		if err != nil && !ent.IsNotFound(err) {
			return 0, fmt.Errorf("find user by email: %w", err)
		}
	}
	switch {
	case owner != nil && !id.EmailVerified:
		return 0, apperr.Conflict("an account with this email already exists, and " + id.Provider +
			" has not verified the address: sign in with your password instead")
	case owner != nil && !owner.EmailVerified:
		// Whoever signed up with this address never proved it theirs: it may be a squatter
		// waiting for the real owner's provider account. The owner signs in with the
		// password, verifies the address, or links the provider while signed in.
		return 0, apperr.Conflict("an account with this email already exists and its address is not verified: " +
			"sign in with your password and verify the address, or link " + id.Provider + " from your account")
	}
	if owner == nil {
		if owner, err = s.newProviderUser(ctx, tx, id); err != nil {
			return 0, err
		}
	}
	err = tx.Identity.Create().
		SetProvider(id.Provider).SetSubject(id.Subject).SetUserID(owner.ID).SetEmail(id.Email).
		Exec(ctx)
	if uniqueViolation(err, "identity_user_id_provider") {
		return 0, apperr.Conflict("this account is already linked to another " + id.Provider + " account")
	}
	if err != nil {
		return 0, fmt.Errorf("link identity: %w", err)
	}
	return owner.ID, nil
}

var notUsernameRE = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// newProviderUser makes an account with no password under the first free username
// derived from the provider's login, and the email only when the provider verified it.
func (s *Service) newProviderUser(ctx context.Context, tx *ent.Tx, id ExternalIdentity) (*ent.User, error) {
	base := strings.Trim(notUsernameRE.ReplaceAllString(id.Login, "-"), "-")
	if len(base) > maxUsername-5 {
		base = base[:maxUsername-5]
	}
	if base == "" {
		base = "user"
	}
	candidates := []string{base}
	for i := 2; i <= 9; i++ {
		candidates = append(candidates, base+"-"+strconv.Itoa(i))
	}
	keys := make([]string, len(candidates))
	skeletons := make([]string, len(candidates))
	for i, c := range candidates {
		keys[i], skeletons[i] = strings.ToLower(c), UsernameSkeleton(c)
	}
	taken, err := tx.User.Query().Where(user.Or(user.UsernameKeyIn(keys...), user.UsernameSkeletonIn(skeletons...))).
		Select(user.FieldUsernameKey, user.FieldUsernameSkeleton).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("look up free usernames: %w", err)
	}
	isTaken := make(map[string]bool, 2*len(taken))
	for _, u := range taken {
		isTaken[u.UsernameKey] = true
		if u.UsernameSkeleton != nil {
			isTaken["skeleton:"+*u.UsernameSkeleton] = true
		}
	}
	name := base + "-" + randomSuffix()[:4]
	for i, c := range candidates {
		if !isTaken[keys[i]] && !isTaken["skeleton:"+skeletons[i]] {
			name = c
			break
		}
	}
	create := tx.User.Create().SetUsername(name).SetUsernameKey(strings.ToLower(name)).SetUsernameSkeleton(UsernameSkeleton(name))
	if id.EmailVerified && id.Email != "" {
		create.SetEmail(id.Email).SetEmailVerified(true)
	}
	u, err := create.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// ExchangeLoginCode trades a login code, once and within LoginCodeTTL, for a session. The
// caller must hold the PKCE verifier of the challenge the sign-in started with: a code
// taken from another browser's redirect is useless. Any attempt spends the code, so a
// verifier cannot be guessed.
func (s *Service) ExchangeLoginCode(ctx context.Context, code, verifier string) (*Session, error) {
	var sess *Session
	errBadCode := apperr.Unauthenticated("invalid or expired login code")
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		var uid int
		var challenge sql.NullString
		found, err := spendRow(ctx, tx,
			`UPDATE login_codes SET used_at = $2
			  WHERE code_hash = $1 AND purpose = 'login' AND used_at IS NULL AND expires_at > $2
			 RETURNING user_id, code_challenge`, []any{auth.HashRefreshToken(code), s.now()}, &uid, &challenge)
		if err != nil {
			return fmt.Errorf("spend login code: %w", err)
		}
		if !found {
			return errBadCode
		}
		sum := sha256.Sum256([]byte(verifier))
		got := base64.RawURLEncoding.EncodeToString(sum[:])
		if !challenge.Valid || subtle.ConstantTimeCompare([]byte(got), []byte(challenge.String)) != 1 {
			// Kept spent: the transaction commits, and the code is refused.
			return nil
		}
		u, err := tx.User.Get(ctx, uid)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		sess, err = s.startSession(ctx, tx, u, newSessionID())
		return err
	})
	if err == nil && sess == nil {
		return nil, apperr.Unauthenticated("the code verifier does not match the sign-in's code challenge")
	}
	return sess, err
}

// Identities lists the provider accounts linked to a user, oldest first.
func (s *Service) Identities(ctx context.Context, userID int) ([]*ent.Identity, error) {
	return s.db.Identity.Query().Where(identity.UserID(userID)).
		Order(identity.ByCreatedAt(), identity.ByID()).All(ctx)
}

// UnlinkIdentity removes the viewer's link to provider, unless that would leave the
// account with no way to sign in (no password and no other provider).
func (s *Acting) UnlinkIdentity(ctx context.Context, provider string) (*ent.User, error) {
	v := s.viewer
	var out *ent.User
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		// Lock the user so two concurrent unlinks cannot each leave the other's last way in.
		u, err := tx.User.Query().Where(user.ID(v.UserID)).ForUpdate().Only(ctx)
		if err != nil {
			return notFound(err, "user")
		}
		ids, err := tx.Identity.Query().Where(identity.UserID(u.ID)).All(ctx)
		if err != nil {
			return fmt.Errorf("load identities: %w", err)
		}
		var target *ent.Identity
		for _, i := range ids {
			if i.Provider == provider {
				target = i
			}
		}
		if target == nil {
			return apperr.NotFound("linked " + provider + " account")
		}
		if u.PasswordHash == "" && len(ids) == 1 {
			return apperr.Conflict("this is the account's only way to sign in: set a password or link another provider first")
		}
		if err := tx.Identity.DeleteOne(target).Exec(ctx); err != nil {
			return fmt.Errorf("unlink identity: %w", err)
		}
		out = u
		return nil
	})
	return out, err
}
