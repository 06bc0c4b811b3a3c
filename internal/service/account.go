package service

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"inkwell/ent"
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
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		u, err := tx.User.Create().
			SetUsername(in.Username).
			SetUsernameKey(strings.ToLower(in.Username)).
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
	q := s.db.User.Query().Where(user.IDNEQ(self))
	switch {
	case username != "" && email != "":
		q = q.Where(user.Or(user.UsernameKey(strings.ToLower(username)), user.Email(email)))
	case username != "":
		q = q.Where(user.UsernameKey(strings.ToLower(username)))
	case email != "":
		q = q.Where(user.Email(email))
	default:
		return nil
	}
	clashes, err := q.Select(user.FieldUsernameKey, user.FieldEmail).All(ctx)
	if err != nil {
		return fmt.Errorf("look up taken names: %w", err)
	}
	bad := apperr.Fields{}
	for _, c := range clashes {
		if username != "" && c.UsernameKey == strings.ToLower(username) {
			bad.Add("username", "is already taken")
		}
		if email != "" && c.Email == email {
			bad.Add("email", "is already taken")
		}
	}
	return bad.Err()
}

// takenError turns a unique violation that lost a race with another sign-up into the
// same answer checkTaken gives.
func takenError(err error) error {
	switch {
	case uniqueViolation(err, "users_username_key_key"):
		return apperr.BadInput("username", "is already taken")
	case uniqueViolation(err, "users_email_key"):
		return apperr.BadInput("email", "is already taken")
	}
	return err
}

var errBadCredentials = apperr.Unauthenticated("email or password is wrong")

// SignIn checks an email and password and starts a session.
func (s *Service) SignIn(ctx context.Context, email, password string) (*Session, error) {
	email = normEmail(email)
	// Refused per address, and per account only as seen from this address: a stranger's
	// failures elsewhere never lock the owner out. Across all addresses, an account's
	// attempts past a high ceiling are only slowed down.
	if err := s.limits.CheckAddress(ctx, ratelimit.SignIn); err != nil {
		return nil, err
	}
	if err := s.limits.CheckAccount(ctx, ratelimit.SignIn, ratelimit.AccountAt(ctx, email)); err != nil {
		return nil, err
	}
	s.limits.Slow(ctx, ratelimit.SignInCeiling, email)
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
}

// UpdateViewer changes the signed-in user's account. A new password ends every other
// session of the user.
func (s *Service) UpdateViewer(ctx context.Context, in UpdateViewerInput) (*ent.User, error) {
	v := viewer(ctx)
	if err := policy.RequireViewer(v); err != nil {
		return nil, err
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
	}
	if in.Password != nil {
		checkPassword(bad, *in.Password)
	}
	if in.Bio != nil {
		checkLen(bad, "bio", *in.Bio, 0, maxBio)
	}
	if in.Image != nil {
		checkImage(bad, strings.TrimSpace(*in.Image))
	}
	if err := bad.Err(); err != nil {
		return nil, err
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
	var hash string
	if in.Password != nil {
		var err error
		if hash, err = auth.HashPassword(*in.Password); err != nil {
			return nil, fmt.Errorf("hash password: %w", err)
		}
	}
	var out *ent.User
	var token string
	err := s.write(ctx, func(tx *ent.Tx, c *change.Set) error {
		token = ""
		upd := tx.User.UpdateOneID(v.UserID)
		if username != "" {
			upd.SetUsername(username).SetUsernameKey(strings.ToLower(username))
		}
		if email != "" {
			cur, err := tx.User.Get(ctx, v.UserID)
			if err != nil {
				return fmt.Errorf("load user: %w", err)
			}
			// A new address is unproven until its owner verifies it.
			if cur.Email != email {
				upd.SetEmail(email).SetEmailVerified(false)
				if token, err = s.issueEmailToken(ctx, tx, v.UserID); err != nil {
					return err
				}
			}
		}
		if in.Bio != nil {
			upd.SetBio(*in.Bio)
		}
		if in.Image != nil {
			upd.SetImage(strings.TrimSpace(*in.Image))
		}
		if hash != "" {
			upd.SetPasswordHash(hash)
		}
		u, err := upd.Save(ctx)
		if err != nil {
			return notFound(takenError(err), "user")
		}
		out = u
		*c = change.Set{Users: []int{u.ID}}
		if hash != "" {
			// Whoever else holds a session learnt the old password or stole a token:
			// those sessions end, with their access tokens. The caller's goes on.
			if err := s.endSessions(ctx, tx, c, s.now(),
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
		s.mailVerification(out.Email, token)
	}
	return out, nil
}
