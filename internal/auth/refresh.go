package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// NewRefreshToken returns a new opaque refresh token (32 random bytes, base64url without
// padding) for the client, and its hash for the database. Only the hash is stored, so a
// leaked table cannot be replayed. One-time login codes are made the same way.
func NewRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("read refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken returns the SHA-256 of token, the form in which it is stored and looked
// up. A plain hash suffices: the token has 256 bits of entropy, so there is nothing to guess.
func HashRefreshToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
