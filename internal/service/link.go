package service

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"inkwell/ent"
	"inkwell/ent/identity"
	"inkwell/ent/logincode"
	"inkwell/internal/apperr"
	"inkwell/internal/auth"
)

// LinkTicketTTL is how long a link ticket may start a provider sign-in.
const LinkTicketTTL = 2 * time.Minute

// CreateLinkTicket returns a one-time ticket with which the viewer's browser starts a
// provider sign-in that links the provider account to the viewer's account
// (/auth/{provider}/start?link_ticket=…). A browser navigation carries no bearer
// token; the ticket stands for it, once and briefly, and can never be traded for
// tokens. Linking this way is the only way to join a provider account to an account
// whose email is not verified.
func (s *Acting) CreateLinkTicket(ctx context.Context) (string, time.Time, error) {
	v := s.viewer
	ticket, hash, err := auth.NewRefreshToken()
	if err != nil {
		return "", time.Time{}, err
	}
	t := s.now()
	expires := t.Add(LinkTicketTTL)
	err = s.db.LoginCode.Create().SetCodeHash(hash).SetPurpose(logincode.PurposeLink).SetUserID(v.UserID).
		SetCreatedAt(t).SetExpiresAt(expires).Exec(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("store link ticket: %w", err)
	}
	return ticket, expires, nil
}

// SpendLinkTicket spends a link ticket, once and before it expires, and returns its user.
func (s *Service) SpendLinkTicket(ctx context.Context, ticket string) (int, error) {
	uid, err := spend(ctx, s.db,
		`UPDATE login_codes SET used_at = $2
		  WHERE code_hash = $1 AND purpose = 'link' AND used_at IS NULL AND expires_at > $2
		 RETURNING user_id`, auth.HashRefreshToken(ticket), s.now())
	switch {
	case err != nil:
		return 0, fmt.Errorf("spend link ticket: %w", err)
	case uid == 0:
		return 0, apperr.Unauthenticated("invalid, used or expired link ticket")
	}
	return uid, nil
}

// LinkIdentity joins a provider account to user uid, whatever its email says: the user
// proved both by being signed in (the ticket) and by signing in at the provider. A
// provider account of another user, or a second account of the same provider, is a
// conflict.
func (s *Service) LinkIdentity(ctx context.Context, uid int, id ExternalIdentity) error {
	id.Email = normEmail(id.Email)
	return s.write(ctx, func(tx *ent.Tx, c *written) error {
		known, err := tx.Identity.Query().
			Where(identity.Provider(id.Provider), identity.Subject(id.Subject)).Only(ctx)
		switch {
		case err == nil && known.UserID == uid:
			return nil // linked already
		case err == nil:
			return apperr.Conflict("this " + id.Provider + " account already belongs to another user")
		case !ent.IsNotFound(err):
			return fmt.Errorf("find identity: %w", err)
		}
		err = tx.Identity.Create().
			SetProvider(id.Provider).SetSubject(id.Subject).SetUserID(uid).SetEmail(id.Email).Exec(ctx)
		if uniqueViolation(err, "identity_user_id_provider") {
			return apperr.Conflict("your account is already linked to another " + id.Provider + " account")
		}
		if uniqueViolation(err, "identity_provider_subject") {
			return apperr.Conflict("this " + id.Provider + " account already belongs to another user")
		}
		if err != nil {
			return fmt.Errorf("link identity: %w", err)
		}
		c.Users = append(c.Users, uid)
		return nil
	})
}

// querier runs a query; *ent.Client and *ent.Tx are queriers.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// spend runs a statement that spends a one-time secret (UPDATE … RETURNING the owner's
// id) and returns that id, or 0 when nothing matched.
func spend(ctx context.Context, q querier, query string, args ...any) (int, error) {
	var id int
	_, err := spendRow(ctx, q, query, args, &id)
	return id, err
}

// spendRow runs a statement that spends a one-time secret (UPDATE … RETURNING …) and
// scans the row it returns into dest; it reports false when nothing matched. One
// statement does it, so two concurrent spends of one secret cannot both win.
func spendRow(ctx context.Context, q querier, query string, args []any, dest ...any) (bool, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return false, rows.Err()
	}
	if err := rows.Scan(dest...); err != nil {
		return false, err
	}
	return true, rows.Err()
}
