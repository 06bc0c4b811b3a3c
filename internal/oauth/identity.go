package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// maxProviderBody bounds what we read from a provider's API: a profile is a few kilobytes.
const maxProviderBody = 1 << 20

// oidcIdentity verifies the ID token that came with tok (signature, issuer, audience,
// expiry, nonce) and reads the identity from its claims.
func oidcIdentity(ctx context.Context, v *oidc.IDTokenVerifier, tok *oauth2.Token, nonce string) (Identity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, errors.New("token response has no id_token")
	}
	idt, err := v.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("verify id token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, errors.New("id token nonce does not match")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, fmt.Errorf("verify at_hash: %w", err)
		}
	}
	var c struct {
		Subject           string    `json:"sub"`
		Email             string    `json:"email"`
		EmailVerified     looseBool `json:"email_verified"`
		PreferredUsername string    `json:"preferred_username"`
		Name              string    `json:"name"`
		Picture           string    `json:"picture"`
	}
	if err := idt.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("read id token claims: %w", err)
	}
	if c.Subject == "" {
		return Identity{}, errors.New("id token has no subject")
	}
	email := normalizeEmail(c.Email)
	return Identity{
		Subject:       c.Subject,
		Email:         email,
		EmailVerified: bool(c.EmailVerified) && email != "",
		Login:         loginHint(c.PreferredUsername, email),
		Name:          strings.TrimSpace(c.Name),
		AvatarURL:     c.Picture,
	}, nil
}

// looseBool reads a JSON boolean, and also the string "true" that some providers send for
// email_verified. Anything else is false rather than an error, so an odd claim costs the
// user a verified email, not the sign-in.
type looseBool bool

func (b *looseBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = looseBool(v)
	case string:
		*b = looseBool(strings.EqualFold(v, "true"))
	default:
		*b = false
	}
	return nil
}

type githubUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	AvatarURL string `json:"avatar_url"`
}

type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// githubIdentity reads the user and their addresses from the GitHub API. The public
// profile email is ignored: only /user/emails says whether an address is verified.
func (s *Service) githubIdentity(ctx context.Context, p *provider, tok *oauth2.Token) (Identity, error) {
	var u githubUser
	if err := s.githubGet(ctx, p.APIURL+"/user", tok.AccessToken, &u); err != nil {
		return Identity{}, err
	}
	if u.ID == 0 {
		return Identity{}, errors.New("github user has no id")
	}
	var emails []githubEmail
	if err := s.githubGet(ctx, p.APIURL+"/user/emails", tok.AccessToken, &emails); err != nil {
		return Identity{}, err
	}
	id := Identity{
		Subject:   strconv.FormatInt(u.ID, 10),
		Name:      strings.TrimSpace(u.Name),
		AvatarURL: u.AvatarURL,
	}
	for _, e := range emails {
		if !e.Primary {
			continue
		}
		// An unverified primary is still passed on, marked so, so that the account layer
		// can refuse to link it to an existing user rather than not know about it.
		id.Email = normalizeEmail(e.Email)
		id.EmailVerified = e.Verified && id.Email != ""
		break
	}
	id.Login = loginHint(u.Login, id.Email)
	return id, nil
}

func (s *Service) githubGet(ctx context.Context, url, token string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("github request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := s.client.Do(req)
	if err != nil {
		// The error names the URL, never the token, which is only in a header.
		return fmt.Errorf("github get: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("github get %s: status %s", req.URL.Path, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxProviderBody)).Decode(dst); err != nil {
		return fmt.Errorf("github decode %s: %w", req.URL.Path, err)
	}
	return nil
}

func normalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// loginHint suggests a username: the provider's, else the email's local part, else "user".
// The account layer still makes it valid and unique.
func loginHint(username, email string) string {
	if u := strings.TrimSpace(username); u != "" {
		return u
	}
	if local, _, ok := strings.Cut(email, "@"); ok && local != "" {
		return local
	}
	return "user"
}
