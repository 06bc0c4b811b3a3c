// Package auth authenticates requests: password hashing, access and refresh tokens, the HTTP
// middleware that turns a bearer token into a Viewer, and the Viewer carried in the context.
package auth

import (
	"context"
	"sync"
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

// signIns remembers the users that sign-in mutations of this request signed in as, so
// the AuthPayload they return may show that user's own fields (email) although the
// request itself came in anonymous.
type signIns struct {
	mu  sync.Mutex
	ids map[int]bool
}

type signInsKey struct{}

// WithSignIns returns ctx able to record sign-ins; the middleware installs it per request.
func WithSignIns(ctx context.Context) context.Context {
	return context.WithValue(ctx, signInsKey{}, &signIns{ids: map[int]bool{}})
}

// RecordSignIn notes that this request signed in as userID (a no-op without WithSignIns).
func RecordSignIn(ctx context.Context, userID int) {
	if s, ok := ctx.Value(signInsKey{}).(*signIns); ok {
		s.mu.Lock()
		s.ids[userID] = true
		s.mu.Unlock()
	}
}

// SignedInAs reports whether this request signed in as userID.
func SignedInAs(ctx context.Context, userID int) bool {
	s, ok := ctx.Value(signInsKey{}).(*signIns)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[userID]
}
