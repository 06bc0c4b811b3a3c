package service

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"inkwell/ent"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/mail"
	"inkwell/internal/ratelimit"
)

// EmailTokenTTL is how long a verification link works.
const EmailTokenTTL = 48 * time.Hour

// Mailer queues an email for sending (internal/mail.Outbox).
type Mailer interface {
	Queue(mail.Message)
}

// issueEmailToken gives user uid a new verification token, replacing any earlier one, and
// returns it. Like a refresh token, only its hash is stored.
func (s *Service) issueEmailToken(ctx context.Context, tx *ent.Tx, uid int) (string, error) {
	token, hash, err := auth.NewRefreshToken()
	if err != nil {
		return "", err
	}
	err = tx.User.UpdateOneID(uid).SetEmailTokenHash(hash).SetEmailTokenExpiresAt(s.now().Add(EmailTokenTTL)).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("store email token: %w", err)
	}
	return token, nil
}

// mailVerification sends the verification link for token to address.
func (s *Service) mailVerification(address, token string) {
	if s.mail == nil || s.verifyURL == "" {
		return
	}
	u, err := url.Parse(s.verifyURL)
	if err != nil {
		return
	}
	q := u.Query()
	q.Set("token", token)
	u.RawQuery = q.Encode()
	s.mail.Queue(mail.Message{
		To:      address,
		Subject: "Confirm your email address",
		Text: "Open this link to confirm that " + address + " is your address:\n\n" + u.String() +
			"\n\nIt works once, for " + fmt.Sprint(EmailTokenTTL.Hours()) + " hours. " +
			"If you did not sign up or change your email, ignore this message.\n",
	})
}

// mailNotice tells address (when there is one) of a change to its account, so that an
// owner whose session was stolen learns of it from the address it cannot take over.
func (s *Service) mailNotice(address, subject, text string) {
	if s.mail == nil || address == "" {
		return
	}
	s.mail.Queue(mail.Message{
		To:      address,
		Subject: subject,
		Text: text + "\n\nIf it was you, there is nothing to do. If it was not, sign in and change your " +
			"password now: that ends every other session.\n",
	})
}

// SendVerificationEmail mails the viewer a new verification link (the earlier one stops
// working), to the pending address when a change waits, else to the account's address. It
// reports false, sending nothing, when there is nothing to verify. It spends the sign-up
// budget of the address.
func (s *Acting) SendVerificationEmail(ctx context.Context) (bool, error) {
	v := s.viewer
	u, err := s.db.User.Get(ctx, v.UserID)
	if err != nil {
		return false, fmt.Errorf("load user: %w", err)
	}
	address := u.Email
	switch {
	case u.PendingEmail != nil:
		address = *u.PendingEmail
	case u.Email == "" || u.EmailVerified:
		return false, nil
	}
	if err := s.limits.Check(ctx, ratelimit.SignUp, address); err != nil {
		return false, err
	}
	var token string
	if err := s.inTx(ctx, func(tx *ent.Tx) error {
		token, err = s.issueEmailToken(ctx, tx, u.ID)
		return err
	}); err != nil {
		return false, err
	}
	s.mailVerification(address, token)
	return true, nil
}

// VerifyEmail spends a verification token, once and before it expires, and marks its
// account's address verified; a pending address (UpdateViewer) becomes the account's
// address then. Anyone holding the link may open it, signed in or not.
func (s *Service) VerifyEmail(ctx context.Context, token string) (*ent.User, error) {
	var uid int
	err := s.write(ctx, func(tx *ent.Tx, c *written) error {
		var err error
		uid, err = spend(ctx, tx,
			`UPDATE users SET email = COALESCE(pending_email, email), pending_email = NULL, email_verified = true,
			        email_token_hash = NULL, email_token_expires_at = NULL
			  WHERE email_token_hash = $1 AND email_token_expires_at > $2
			 RETURNING id`, auth.HashRefreshToken(token), s.now())
		switch {
		case uniqueViolation(err, "users_email_key"):
			// Another account took the pending address after it was asked for.
			return apperr.Conflict("the new address belongs to another account now: choose another")
		case err != nil:
			return fmt.Errorf("spend email token: %w", err)
		case uid == 0:
			return apperr.BadInput("token", "is invalid, used or expired: ask for a new link")
		}
		c.Users = append(c.Users, uid)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.User.Get(ctx, uid)
}
