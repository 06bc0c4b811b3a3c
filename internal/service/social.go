package service

import (
	"context"
	"fmt"
	"strings"

	"inkwell/ent"
	"inkwell/ent/notification"
	"inkwell/ent/user"
	"inkwell/internal/apperr"
	"inkwell/internal/change"
)

// UserByUsername finds a user case-insensitively; nil when there is none.
func (s *Service) UserByUsername(ctx context.Context, username string) (*ent.User, error) {
	u, err := s.db.User.Query().Where(user.UsernameKey(strings.ToLower(strings.TrimSpace(username)))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return u, err
}

func (s *Service) mustUser(ctx context.Context, username string) (*ent.User, error) {
	u, err := s.UserByUsername(ctx, username)
	if err != nil {
		return nil, fmt.Errorf("find user: %w", err)
	}
	if u == nil {
		return nil, apperr.NotFound("user")
	}
	return u, nil
}

// Follow makes the viewer follow username. Following twice stores one row.
func (s *Acting) Follow(ctx context.Context, username string) (*ent.User, error) {
	v := s.viewer
	target, err := s.mustUser(ctx, username)
	if err != nil {
		return nil, err
	}
	if target.ID == v.UserID {
		return nil, apperr.BadInput("username", "you cannot follow yourself")
	}
	// ON CONFLICT DO NOTHING: two concurrent clicks store one row and neither fails.
	err = s.write(ctx, func(tx *ent.Tx, c *written) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3)
			 ON CONFLICT (follower_id, followee_id) DO NOTHING`,
			v.UserID, target.ID, s.now())
		if err != nil {
			return fmt.Errorf("insert follow: %w", err)
		}
		c.Set = change.Set{Follows: []change.Follow{{Follower: v.UserID, Followee: target.ID}}}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // following again tells nobody
		}
		c.notify(notice{kind: notification.KindFollowed, users: []int{target.ID}, actor: v.UserID})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return target, nil
}

// Unfollow makes the viewer stop following username; not following is not an error.
func (s *Acting) Unfollow(ctx context.Context, username string) (*ent.User, error) {
	v := s.viewer
	target, err := s.mustUser(ctx, username)
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx *ent.Tx, c *written) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2`,
			v.UserID, target.ID); err != nil {
			return fmt.Errorf("delete follow: %w", err)
		}
		c.Set = change.Set{Follows: []change.Follow{{Follower: v.UserID, Followee: target.ID}}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return target, nil
}
