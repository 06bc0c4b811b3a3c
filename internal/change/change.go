// Package change describes what a committed write changed, in terms the read side's
// caches understand. Services report a Set after each successful write; one function per
// cache turns it into evictions, so no resolver needs to know which keys a write touched.
package change

import "context"

// Set is what one write changed. Ids are of rows whose stored fields or derived values
// (counts, tags, pages) may differ from what a reader saw before the write.
type Set struct {
	// Users whose row changed (profile, email, password).
	Users []int `json:"u,omitempty"`
	// Articles whose row, tags or favorites count changed, or that were deleted.
	Articles []int `json:"a,omitempty"`
	// ArticleLists: the set of articles changed (one created or deleted), so every list
	// and count of articles may differ.
	ArticleLists bool `json:"l,omitempty"`
	// Follows made or undone.
	Follows []Follow `json:"f,omitempty"`
	// Favorites made or undone.
	Favorites []Favorite `json:"v,omitempty"`
	// CommentsOf: articles whose comments changed; AllComments when the article is not
	// known.
	CommentsOf  []int `json:"c,omitempty"`
	AllComments bool  `json:"C,omitempty"`
	// Sessions ended (signed out, revoked); AllSessions when there were too many to
	// list, so every instance checks every session again.
	Sessions    []string `json:"s,omitempty"`
	AllSessions bool     `json:"S,omitempty"`
}

// Empty reports whether s changes nothing.
func (s Set) Empty() bool {
	return len(s.Users) == 0 && len(s.Articles) == 0 && !s.ArticleLists && len(s.Follows) == 0 &&
		len(s.Favorites) == 0 && len(s.CommentsOf) == 0 && !s.AllComments &&
		len(s.Sessions) == 0 && !s.AllSessions
}

// Follow is one follow edge. Short JSON names keep change events small (internal/events).
type Follow struct {
	Follower int `json:"r"`
	Followee int `json:"e"`
}

// Favorite is one favorite edge.
type Favorite struct {
	User    int `json:"u"`
	Article int `json:"a"`
}

// Sink receives the Sets of committed writes, with the writing request's context.
type Sink func(ctx context.Context, s Set)

// Sinks fans one Set out to several sinks, in order.
func Sinks(sinks ...Sink) Sink {
	return func(ctx context.Context, s Set) {
		for _, f := range sinks {
			if f != nil {
				f(ctx, s)
			}
		}
	}
}
