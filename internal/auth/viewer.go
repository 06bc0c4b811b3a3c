// Package auth authenticates requests: password hashing, access and refresh tokens, the HTTP
// middleware that turns a bearer token into a Viewer, and the Viewer carried in the context.
package auth

import (
	"context"
	"time"
)

// Viewer is who is making a request. The zero value is the anonymous viewer.
type Viewer struct {
	UserID int
	// SessionID is the sign-in session the access token belongs to.
	SessionID string
	// Expires is when the access token stops working.
	Expires time.Time
}

// Anonymous reports whether no user is signed in.
func (v Viewer) Anonymous() bool { return v.UserID == 0 }

type viewerKey struct{}

// WithViewer returns a copy of ctx carrying v.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the viewer stored in ctx by WithViewer, or the anonymous viewer.
func ViewerFrom(ctx context.Context) Viewer {
	v, _ := ctx.Value(viewerKey{}).(Viewer)
	return v
}
