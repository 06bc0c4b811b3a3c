// Package change describes what a committed write changed, in terms the read side's
// caches understand. Services report a Set after each successful write; one function per
// cache turns it into evictions, so no resolver needs to know which keys a write touched.
package change

import (
	"context"
	"sync"
)

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
	// TagCounts: an article's tags were set, so the tags in use and their counts may
	// differ (ArticleLists implies it).
	TagCounts bool `json:"t,omitempty"`
	// Follows made or undone.
	Follows []Follow `json:"f,omitempty"`
	// Favorites made or undone.
	Favorites []Favorite `json:"v,omitempty"`
	// Bookmarks made or undone (private: only the user's own reads change).
	Bookmarks []Favorite `json:"b,omitempty"`
	// TagFollows made or undone: the user's feed and the tag's followers count change.
	TagFollows []TagFollow `json:"g,omitempty"`
	// CommentsOf: articles whose comments changed; AllComments when the article is not
	// known.
	CommentsOf  []int `json:"c,omitempty"`
	AllComments bool  `json:"C,omitempty"`
	// RepliesOf: comments whose replies changed (one added, edited or deleted).
	RepliesOf []int `json:"r,omitempty"`
	// Sessions ended (signed out, revoked); AllSessions when there were too many to
	// list, so every instance checks every session again.
	Sessions    []string `json:"s,omitempty"`
	AllSessions bool     `json:"S,omitempty"`

	// Write numbers the write, uniquely among the instances' writes: the instance that
	// made it has applied it before answering, and skips the copy its change event brings
	// back (see Own).
	Write uint64 `json:"w,omitempty"`
}

// Empty reports whether s changes nothing.
func (s Set) Empty() bool {
	return len(s.Users) == 0 && len(s.Articles) == 0 && !s.ArticleLists && !s.TagCounts && len(s.Follows) == 0 &&
		len(s.Favorites) == 0 && len(s.Bookmarks) == 0 && len(s.TagFollows) == 0 && len(s.CommentsOf) == 0 && !s.AllComments && len(s.RepliesOf) == 0 &&
		len(s.Sessions) == 0 && !s.AllSessions
}

// Follow is one follow edge. Short JSON names keep change events small (internal/events).
type Follow struct {
	Follower int `json:"r"`
	Followee int `json:"e"`
}

// TagFollow is one user following one tag.
type TagFollow struct {
	User int `json:"u"`
	Tag  int `json:"t"`
}

// Favorite is one favorite edge.
type Favorite struct {
	User    int `json:"u"`
	Article int `json:"a"`
}

// Own remembers the latest writes this instance applied itself, so that their change
// events, coming back, are not applied twice: a second application would make the
// caches forget values loaded after the first, for nothing.
type Own struct {
	mu   sync.Mutex
	seen map[uint64]struct{}
	ring [4096]uint64
	next int
}

// NewOwn returns an empty Own.
func NewOwn() *Own { return &Own{seen: make(map[uint64]struct{})} }

// Applied notes that s was applied here.
func (o *Own) Applied(s Set) {
	if s.Write == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.seen, o.ring[o.next]) // the oldest, if still there, is forgotten
	o.ring[o.next] = s.Write
	o.next = (o.next + 1) % len(o.ring)
	o.seen[s.Write] = struct{}{}
}

// Echo reports whether s is one this instance applied itself (and forgets it).
func (o *Own) Echo(s Set) bool {
	if s.Write == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.seen[s.Write]
	delete(o.seen, s.Write)
	return ok
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
