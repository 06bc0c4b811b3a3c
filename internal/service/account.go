package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// startSession stores a new refresh token for sessionID and issues an access token.
func (s *Service) startSession(ctx context.Context, tx *ent.Tx, u *ent.User, sessionID string) (*Session, error) {
	token, hash, err := auth.NewRefreshToken()
	if err != nil {
		return nil, fmt.Errorf("make refresh token: %w", err)
	}
	t := s.now()
	if _, err := tx.RefreshToken.Create().
		SetTokenHash(hash).
		SetSessionID(sessionID).
		SetUserID(u.ID).
		SetCreatedAt(t).
		SetExpiresAt(t.Add(s.refreshTTL)).
		Save(ctx); err != nil {
		return nil, fmt.Errorf("store refresh token: %w", err)
	}
	access, exp, err := s.tokens.Issue(u.ID)
	if err != nil {
		return nil, fmt.Errorf("issue access token: %w", err)
	}
	return &Session{AccessToken: access, RefreshToken: token, ExpiresAt: exp, User: u}, nil
}

func newSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var errBadRefresh = apperr.Unauthenticated("invalid refresh token")

// RefreshSession rotates a refresh token. A token already used means it was copied:
// the whole session is revoked, and that revocation is kept although the call fails.
func (s *Service) RefreshSession(ctx context.Context, token string) (*Session, error) {
	var (
		sess   *Session
		reused bool
	)
	// The address budget comes first, so guessing tokens costs no database work; the
	// session's budget is known only once the token is found.
	if err := s.limits.CheckAddress(ctx, ratelimit.Refresh); err != nil {
		return nil, err
	}
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		rt, err := tx.RefreshToken.Query().
			Where(refreshtoken.TokenHash(auth.HashRefreshToken(token))).
			ForUpdate().
			Only(ctx)
		if ent.IsNotFound(err) {
			return errBadRefresh
		}
		if err != nil {
			return fmt.Errorf("find refresh token: %w", err)
		}
		t := s.now()
		switch {
		case rt.RevokedAt != nil:
			return apperr.Unauthenticated("session has ended")
		case rt.UsedAt != nil:
			reused = true
			if err := s.revokeSession(ctx, tx, rt.SessionID, t); err != nil {
				return err
			}
			return nil
		case !t.Before(rt.ExpiresAt):
			return apperr.Unauthenticated("refresh token expired")
		}
		// After the replay check, so that a copied token still ends its session at once.
		if err := s.limits.CheckAccount(ctx, ratelimit.Refresh, rt.SessionID); err != nil {
			return err
		}
		if err := tx.RefreshToken.UpdateOne(rt).SetUsedAt(t).Exec(ctx); err != nil {
			return fmt.Errorf("spend refresh token: %w", err)
		}
		u, err := tx.User.Get(ctx, rt.UserID)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		sess, err = s.startSession(ctx, tx, u, rt.SessionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reused {
		return nil, apperr.Unauthenticated("refresh token was already used; the session has been ended")
	}
	return sess, nil
}

func (s *Service) revokeSession(ctx context.Context, tx *ent.Tx, sessionID string, t time.Time) error {
	_, err := tx.RefreshToken.Update().
		Where(refreshtoken.SessionID(sessionID), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(t).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// SignOut ends the session a refresh token belongs to. Unknown tokens are not an error:
// the outcome the client wants, no live session, already holds.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.inTx(ctx, func(tx *ent.Tx) error {
		rt, err := tx.RefreshToken.Query().
			Where(refreshtoken.TokenHash(auth.HashRefreshToken(token))).
			Only(ctx)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find refresh token: %w", err)
		}
		return s.revokeSession(ctx, tx, rt.SessionID, s.now())
	})
}

// UpdateViewerInput changes the viewer's account; nil fields stay as they are.
type UpdateViewerInput struct {
	Email, Username, Password, Bio, Image *string
}

// UpdateViewer changes the signed-in user's account. A new password ends every session
// but the caller's access token, which expires on its own.
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
		if hash != "" {
			if _, err := tx.RefreshToken.Update().
				Where(refreshtoken.UserID(v.UserID), refreshtoken.RevokedAtIsNil()).
				SetRevokedAt(s.now()).Save(ctx); err != nil {
				return fmt.Errorf("end sessions: %w", err)
			}
		}
		out = u
		*c = change.Set{Users: []int{u.ID}}
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
