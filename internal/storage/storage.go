// Package storage keeps uploaded images: behind one interface, a local directory that
// Inkwell serves itself (the default, which needs nothing else) and S3-compatible object
// storage (the AWS deployment's), to which clients upload directly with a presigned URL.
//
// An upload goes to "incoming/<token>"; once verified (internal/images) its clean copy is
// written to "assets/<token>", which clients read at Inkwell's /assets/<token>.
package storage

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"
)

// Upload is how a client sends an object straight to the store.
type Upload struct {
	URL     string
	Method  string
	Headers map[string]string
}

// Store keeps objects by key.
type Store interface {
	// PresignPut lets a client upload exactly size bytes of contentType to key until
	// expires, without credentials of its own.
	PresignPut(ctx context.Context, key, contentType string, size int64, expires time.Time) (Upload, error)
	// Read returns the object at key: ErrNotFound when there is none, ErrTooLarge when it
	// has more than max bytes.
	Read(ctx context.Context, key string, max int64) ([]byte, error)
	// Write stores data at key, to be served as contentType.
	Write(ctx context.Context, key, contentType string, data []byte) error
	// Delete removes the objects at keys; a missing one is not an error.
	Delete(ctx context.Context, keys ...string) error
	// Serve answers a GET of the object at key: with the object, or a redirect to it.
	Serve(w http.ResponseWriter, r *http.Request, key string)
}

// The errors of Read.
var (
	ErrNotFound = errors.New("storage: no such object")
	ErrTooLarge = errors.New("storage: object too large")
)

// Key prefixes: what clients upload, and what Inkwell verified and serves.
const (
	Incoming = "incoming/"
	Assets   = "assets/"
)

// tokenPattern is what a key's last part may be: what NewToken makes. Checked before a
// token from a URL becomes a file name or an object key.
var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// ValidToken reports whether s may be a key's token.
func ValidToken(s string) bool { return tokenPattern.MatchString(s) }

// assetCacheControl: an asset's key is random and its bytes never change.
const assetCacheControl = "public, max-age=31536000, immutable"
