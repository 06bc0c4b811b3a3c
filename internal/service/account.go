package service

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"inkwell/ent"
	"inkwell/ent/asset"
	"inkwell/ent/predicate"
	"inkwell/ent/refreshtoken"
	"inkwell/ent/user"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/change"
	"inkwell/internal/policy"
	"inkwell/internal/ratelimit"
)

// Session is what a sign-in hands the client.
type Session struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	User         *ent.User
}

// SignUpInput is a new account's details.
type SignUpInput struct {
	Username, Email, Password string
}

// SignUp creates an account and signs it in.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (*Session, error) {
	in.Username = normUsername(in.Username)
	in.Email = normEmail(in.Email)
	// Counted before anything is checked: "is already taken" tells whether an email
	// has an account, so sign-up attempts are budgeted like sign-ins.
	if err := s.limits.Check(ctx, ratelimit.SignUp, in.Email); err != nil {
		return nil, err
	}
	bad := apperr.Fields{}
	checkUsername(bad, in.Username)
	checkEmail(bad, in.Email)
	checkPassword(bad, in.Password)
	if err := bad.Err(); err != nil {
		return nil, err
	}
	if err := s.checkTaken(ctx, 0, in.Username, in.Email); err != nil {
		return nil, err
	}
	// Hash outside the transaction: it is the slow part and needs no database.
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	var sess *Session
	var token string
	// No one is signed in yet: the new account's rows are written as the system.
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		ctx := policy.System(ctx)
		u, err := tx.User.Create().
			SetUsername(in.Username).
			SetUsernameKey(strings.ToLower(in.Username)).
			SetUsernameSkeleton(UsernameSkeleton(in.Username)).
			SetEmail(in.Email).
			SetPasswordHash(hash).
			Save(ctx)
		if err != nil {
			return takenError(err)
		}
		if token, err = s.issueEmailToken(ctx, tx, u.ID); err != nil {
			return err
		}
		sess, err = s.startSession(ctx, tx, u, newSessionID())
		return err
	})
	if err != nil {
		return nil, err
	}
	s.mailVerification(in.Email, token)
	return sess, nil
}

// checkTaken reports every one of username and email that belongs to a user other than
// self (0 for none), so one answer names all the clashes.
func (s *Service) checkTaken(ctx context.Context, self int, username, email string) error {
	var clash []predicate.User
	if username != "" {
		clash = append(clash, user.UsernameKey(strings.ToLower(username)), user.UsernameSkeleton(UsernameSkeleton(username)))
	}
	if email != "" {
		clash = append(clash, user.Email(email))
	}
	if len(clash) == 0 {
		return nil
	}
	clashes, err := s.db.User.Query().Where(user.IDNEQ(self), user.Or(clash...)).
		Select(user.FieldUsernameKey, user.FieldUsernameSkeleton, user.FieldEmail).All(ctx)
	if err != nil {
		return fmt.Errorf("look up taken names: %w", err)
	}
	bad := apperr.Fields{}
	for _, c := range clashes {
		switch {
		case username == "":
		case c.UsernameKey == strings.ToLower(username):
			bad.Add("username", "is already taken")
		case c.UsernameSkeleton != nil && *c.UsernameSkeleton == UsernameSkeleton(username):
			bad.Add("username", errLooksTaken)
		}
		if email != "" && c.Email == email {
			bad.Add("email", "is already taken")
		}
	}
	return bad.Err()
}

// errLooksTaken refuses a name that passes for a taken one ("adrnin" for "admin").
const errLooksTaken = "looks too much like a taken username"

// takenError turns a unique violation that lost a race with another sign-up into the
// same answer checkTaken gives.
func takenError(err error) error {
	switch {
	case uniqueViolation(err, "users_username_key_key"):
		return apperr.BadInput("username", "is already taken")
	case uniqueViolation(err, "users_username_skeleton_key"):
		return apperr.BadInput("username", errLooksTaken)
	case uniqueViolation(err, "users_email_key"):
		return apperr.BadInput("email", "is already taken")
	}
	return err
}

var errBadCredentials = apperr.Unauthenticated("email or password is wrong")

// spendSignInBudget counts one attempt at account's password: refused per address, and
// per account only as seen from this address, so a stranger's failures elsewhere never
// lock the owner out; across all addresses, an account's attempts past a high ceiling are
// only slowed down.
func (s *Service) spendSignInBudget(ctx context.Context, account string) error {
	if err := s.limits.CheckAddress(ctx, ratelimit.SignIn); err != nil {
		return err
	}
	if err := s.limits.CheckAccount(ctx, ratelimit.SignIn, ratelimit.AccountAt(ctx, account)); err != nil {
		return err
	}
	s.limits.Slow(ctx, ratelimit.SignInCeiling, account)
	return nil
}

// SignIn checks an email and password and starts a session.
func (s *Service) SignIn(ctx context.Context, email, password string) (*Session, error) {
	email = normEmail(email)
	if err := s.spendSignInBudget(ctx, email); err != nil {
		return nil, err
	}
	// PostgreSQL refuses to compare text holding a NUL or invalid UTF-8; no stored address
	// has either, so such an email is unknown, not a database error.
	if strings.ContainsRune(email, 0) || !utf8.ValidString(email) {
		auth.DummyCheck(password)
		return nil, errBadCredentials
	}
	u, err := s.db.User.Query().Where(user.Email(email)).Only(ctx)
	if ent.IsNotFound(err) {
		// Spend the same time as a real check so timing does not tell which emails exist.
		auth.DummyCheck(password)
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if !auth.CheckPassword(u.PasswordHash, password) {
		return nil, errBadCredentials
	}
	var sess *Session
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		sess, err = s.startSession(ctx, tx, u, newSessionID())
		return err
	})
	return sess, err
}

// UpdateViewerInput changes the viewer's account; nil fields stay as they are.
type UpdateViewerInput struct {
	Email, Username, Password, Bio, Image *string
	// ImageAssetID is an AVATAR upload to show as the image ("" for none), instead of
	// an Image URL.
	ImageAssetID *string
	// CurrentPassword proves that the caller is the owner, not someone holding a stolen
	// access token: Email and Password need it (see reauthenticate).
	CurrentPassword *string
}

// FreshSignIn is how recently an account without a password must have signed in (this
// session) to change its email or set a password.
const FreshSignIn = 10 * time.Minute

// UpdateViewer changes the signed-in user's account. A new email is only pending until
// verified; a new password ends every other session of the user. Both need the current
// password, and the account's address is told of them.
func (s *Acting) UpdateViewer(ctx context.Context, in UpdateViewerInput) (*ent.User, error) {
	v := s.viewer
	cur, err := s.db.User.Get(ctx, v.UserID)
	if err != nil {
		return nil, notFound(err, "user")
	}
	bad := apperr.Fields{}
	var username, email string
	if in.Username != nil {
		username = normUsername(*in.Username)
		checkUsername(bad, username)
	}
	if in.Email != nil {
		email = normEmail(*in.Email)
		checkEmail(bad, email)
		if email == cur.Email {
			email = "" // no change, nothing to prove
		}
	}
	if in.Password != nil {
		checkPassword(bad, *in.Password)
	}
	if in.Bio != nil {
		checkLen(bad, "bio", *in.Bio, 0, maxBio)
	}
	if in.Image != nil {
		checkImage(bad, strings.TrimSpace(*in.Image))
		if in.ImageAssetID != nil {
			bad.Add("imageAssetId", "cannot be given with image")
		}
	}
	sensitive := email != "" || in.Password != nil
	if sensitive && cur.PasswordHash != "" && (in.CurrentPassword == nil || *in.CurrentPassword == "") {
		bad.Add("currentPassword", "is required to change the email or password")
	}
	if err := bad.Err(); err != nil {
		return nil, err
	}
	if sensitive {
		if err := s.reauthenticate(ctx, v, cur, in.CurrentPassword); err != nil {
			return nil, err
		}
	}
	// Whether an address is taken is what sign-up tells too: the same budget applies, so
	// this is no faster oracle of which emails have accounts.
	if email != "" {
		if err := s.limits.Check(ctx, ratelimit.SignUp, email); err != nil {
			return nil, err
		}
	}
	if err := s.checkTaken(ctx, v.UserID, username, email); err != nil {
		return nil, err
	}
	avatar, err := s.chooseAsset(ctx, "imageAssetId", in.ImageAssetID, asset.PurposeAvatar)
	if err != nil {
		return nil, err
	}
	var hash string
	if in.Password != nil {
		if hash, err = auth.HashPassword(*in.Password); err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
	}
	var out *ent.User
	var token string
	err = s.write(ctx, func(tx *ent.Tx, c *written) error {
		token = ""
		upd := tx.User.UpdateOneID(v.UserID)
		if username != "" {
			upd.SetUsername(username).SetUsernameKey(strings.ToLower(username)).SetUsernameSkeleton(UsernameSkeleton(username))
		}
		if email != "" {
			// The address the account signs in with stays until the new one is proven
			// (VerifyEmail): a session alone cannot move the account elsewhere.
			upd.SetPendingEmail(email)
			var err error
			if token, err = s.issueEmailToken(ctx, tx, v.UserID); err != nil {
				return err
			}
		}
		if in.Bio != nil {
			upd.SetBio(*in.Bio)
		}
		if in.Image != nil {
			upd.SetImage(strings.TrimSpace(*in.Image)).ClearImageAssetID()
			if err := s.swapAsset(ctx, tx, nil, cur.ImageAssetID); err != nil {
				return err
			}
		}
		if avatar.given {
			if avatar.asset != nil {
				upd.SetImage(avatar.asset.URL).SetImageAssetID(avatar.asset.ID)
			} else {
				upd.SetImage("").ClearImageAssetID()
			}
			if err := s.swapAsset(ctx, tx, avatar.id(), cur.ImageAssetID); err != nil {
				return err
			}
		}
		if hash != "" {
			upd.SetPasswordHash(hash)
		}
		u, err := upd.Save(ctx)
		if err != nil {
			return notFound(takenError(err), "user")
		}
		out = u
		c.Set = change.Set{Users: []int{u.ID}}
		if hash != "" {
			// Whoever else holds a session learnt the old password or stole a token:
			// those sessions end, with their access tokens. The caller's goes on.
			if err := s.endSessions(ctx, tx, &c.Set, s.now(),
				refreshtoken.UserID(v.UserID), refreshtoken.SessionIDNEQ(v.SessionID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if token != "" {
		s.mailVerification(email, token)
		s.mailNotice(cur.Email, "Your email address is being changed",
			"Someone signed in to your account asked to change its email address to "+email+
				". The change takes effect only when the link sent to that address is opened; until then "+
				"this address stays the account's.")
	}
	if hash != "" {
		s.mailNotice(cur.Email, "Your password was changed",
			"The password of your account was changed, and every other session of the account was ended.")
	}
	return out, nil
}

// reauthenticate proves that the caller of a sensitive change is the account's owner: the
// current password when the account has one (wrong attempts spend the sign-in budgets,
// so a stolen token cannot guess it faster than signIn could), else a sign-in of this
// session within FreshSignIn.
func (s *Service) reauthenticate(ctx context.Context, v auth.Viewer, u *ent.User, password *string) error {
	if u.PasswordHash == "" {
		first, err := s.db.RefreshToken.Query().
			Where(refreshtoken.SessionID(v.SessionID), refreshtoken.UserID(v.UserID)).
			Order(ent.Asc(refreshtoken.FieldCreatedAt)).
			First(ctx)
		if ent.IsNotFound(err) {
			return ErrSessionEnded
		}
		if err != nil {
			return fmt.Errorf("find session start: %w", err)
		}
		if s.now().Sub(first.CreatedAt) > FreshSignIn {
			return apperr.Forbidden("sign in again to change the email or password: this account has no password, " +
				"and this session signed in more than 10 minutes ago")
		}
		return nil
	}
	account := u.Email
	if account == "" {
		account = "user " + strconv.Itoa(u.ID)
	}
	if err := s.spendSignInBudget(ctx, account); err != nil {
		return err
	}
	if !auth.CheckPassword(u.PasswordHash, *password) {
		return apperr.BadInput("currentPassword", "is wrong")
	}
	return nil
}
