// Package change describes what a committed write changed, in terms the read side's
// caches understand. Services report a Set after each successful write; one function per
// cache turns it into evictions, so no resolver needs to know which keys a write touched.
package change

import "context"

// Set is what one write changed. Ids are of rows whose stored fields or derived values
// (counts, tags, pages) may differ from what a reader saw before the write.
type Set struct {
	// Users whose row changed (profile, email, password).
	Users []int
	// Articles whose row, tags or favorites count changed, or that were deleted.
	Articles []int
	// ArticleLists: the set of articles changed (one created or deleted), so every list
	// and count of articles may differ.
	ArticleLists bool
	// Follows made or undone.
	Follows []Follow
	// Favorites made or undone.
	Favorites []Favorite
	// CommentsOf: articles whose comments changed; AllComments when the article is not
	// known.
	CommentsOf  []int
	AllComments bool
}

// Follow is one follow edge.
type Follow struct{ Follower, Followee int }

// Favorite is one favorite edge.
type Favorite struct{ User, Article int }

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
