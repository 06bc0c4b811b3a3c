package app

import (
	"context"
	"sync"

	"inkwell/internal/apperr"
	"inkwell/internal/auth"
	"inkwell/internal/change"
	"inkwell/internal/service"
)

// socketSessions knows the open WebSockets of each sign-in session, so that ending a
// session (sign-out, a replayed refresh token, a password change) closes them at once on
// every instance, as it refuses the session's access tokens, rather than when the token
// they began with expires.
type socketSessions struct {
	mu    sync.Mutex
	open  map[string]map[*socketEnd]struct{}
	check auth.SessionCheck
	// listen starts hearing other instances' changes (events.Hub.Start): a socket's
	// session may be ended through any instance.
	listen func(context.Context) error
}

// socketEnd ends one socket of viewer's.
type socketEnd struct {
	viewer auth.Viewer
	cancel context.CancelCauseFunc
}

// newSocketSessions returns an empty registry; New sets check and listen once the
// service and the hub exist (they need the registry first).
func newSocketSessions() *socketSessions {
	return &socketSessions{open: map[string]map[*socketEnd]struct{}{}}
}

// track returns ctx, an authenticated socket's, ended with service.ErrSessionEnded when v's
// session ends; it forgets the socket when ctx ends otherwise.
func (s *socketSessions) track(ctx context.Context, v auth.Viewer) context.Context {
	if s.listen != nil {
		// Once per instance; if it fails, the hub keeps trying and logs why.
		_ = s.listen(ctx)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	e := &socketEnd{viewer: v, cancel: cancel}
	s.mu.Lock()
	if s.open[v.SessionID] == nil {
		s.open[v.SessionID] = map[*socketEnd]struct{}{}
	}
	s.open[v.SessionID][e] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.open[v.SessionID], e)
		if len(s.open[v.SessionID]) == 0 {
			delete(s.open, v.SessionID)
		}
	})
	return auth.WithViewer(ctx, v)
}

// Apply closes the sockets of the sessions a committed write ended. When the write named
// too many to list (AllSessions), every socket's session is checked again.
func (s *socketSessions) Apply(c change.Set) {
	if len(c.Sessions) == 0 && !c.AllSessions {
		return
	}
	s.mu.Lock()
	var ended []*socketEnd
	for _, sid := range c.Sessions {
		for e := range s.open[sid] {
			ended = append(ended, e)
		}
	}
	var recheck []*socketEnd
	if c.AllSessions {
		for _, set := range s.open {
			for e := range set {
				recheck = append(recheck, e)
			}
		}
	}
	s.mu.Unlock()
	for _, e := range ended {
		e.cancel(service.ErrSessionEnded)
	}
	if len(recheck) > 0 {
		go s.recheck(recheck)
	}
}

func (s *socketSessions) recheck(sockets []*socketEnd) {
	for _, e := range sockets {
		// The entity cache has forgotten every session by now: this reads it anew.
		if err := s.check(context.Background(), e.viewer); apperr.CodeOf(err) == apperr.CodeUnauthenticated {
			e.cancel(service.ErrSessionEnded)
		}
	}
}
