package ent

// Hand-written, unlike the rest of this package: methods gqlgen binds GraphQL fields to,
// so that it resolves them inline (a resolver runs in a goroutine of its own).

import "inkwell/internal/globalid"

// GlobalID is the user's opaque, globally unique GraphQL id.
func (u *User) GlobalID() string { return globalid.Encode(globalid.TypeUser, u.ID) }

// ImageURL is the profile picture's URL, nil when none is set.
func (u *User) ImageURL() *string { return nonEmpty(&u.Image) }

// GlobalID is the article's opaque, globally unique GraphQL id.
func (a *Article) GlobalID() string { return globalid.Encode(globalid.TypeArticle, a.ID) }

// GlobalID is the comment's opaque, globally unique GraphQL id.
func (c *Comment) GlobalID() string { return globalid.Encode(globalid.TypeComment, c.ID) }

// EmailOrNil is the email the provider reported, nil when it reported none.
func (i *Identity) EmailOrNil() *string { return nonEmpty(&i.Email) }

func nonEmpty(s *string) *string {
	if *s == "" {
		return nil
	}
	return s
}
