package cache

import (
	"context"
	"testing"

	"inkwell/internal/change"
)

// record starts a request's Reads on a listening cache.
func record(t *testing.T, c *Cache) (context.Context, *Reads) {
	t.Helper()
	ctx, r := c.Record(context.Background())
	if r == nil {
		t.Fatal("Record returned nil on a listening cache")
	}
	return ctx, r
}

func TestReads(t *testing.T) {
	listening := func() *Cache {
		c := New(1 << 20)
		c.SetListening(true)
		return c
	}

	t.Run("nothing is recorded while the cache does not listen", func(t *testing.T) {
		c := New(1 << 20)
		if _, r := c.Record(context.Background()); r != nil {
			t.Fatal("Record on a cache that does not listen")
		}
		var nilCache *Cache
		if _, r := nilCache.Record(context.Background()); r != nil {
			t.Fatal("Record on no cache")
		}
	})

	// Each case reads some keys, then a write changes some keys, before or after the
	// response is kept.
	cases := []struct {
		name  string
		read  func(ctx context.Context, c *Cache)
		write change.Set
		fresh bool
	}{
		{"an unrelated write keeps it", func(ctx context.Context, c *Cache) {
			Get[string](ctx, c, Article, 1)
			Get[string](ctx, c, User, 2)
		}, change.Set{Articles: []int{3}, Users: []int{4}}, true},
		{"a write to an article read", func(ctx context.Context, c *Cache) {
			Get[string](ctx, c, Article, 1)
		}, change.Set{Articles: []int{1}}, false},
		{"a write to a user read", func(ctx context.Context, c *Cache) {
			Get[string](ctx, c, User, 2)
		}, change.Set{Users: []int{2}}, false},
		{"a slug read", func(ctx context.Context, c *Cache) {
			GetSlug(ctx, c, "hello")
		}, change.Set{AllSessions: true, Users: []int{9}}, true},
		{"new comments on the article whose comments were read", func(ctx context.Context, c *Cache) {
			Get[string](ctx, c, Comments, 5)
		}, change.Set{CommentsOf: []int{5}}, false},
		{"comments of an unknown article", func(ctx context.Context, c *Cache) {
			Get[string](ctx, c, Comments, 5)
		}, change.Set{AllComments: true}, false},
		{"a list, when an article is created", func(ctx context.Context, _ *Cache) {
			Note(ctx, ArticleLists, 0)
		}, change.Set{ArticleLists: true}, false},
		{"a list, when an article is edited", func(ctx context.Context, _ *Cache) {
			Note(ctx, ArticleLists, 0)
		}, change.Set{Articles: []int{1}}, true},
		{"the tags, when an article's tags are set", func(ctx context.Context, _ *Cache) {
			Note(ctx, TagCounts, 0)
		}, change.Set{Articles: []int{1}, TagCounts: true}, false},
		{"the tags, when an article is created", func(ctx context.Context, _ *Cache) {
			Note(ctx, TagCounts, 0)
		}, change.Set{Articles: []int{1}, ArticleLists: true}, false},
		{"the tags, when an article is favorited", func(ctx context.Context, _ *Cache) {
			Note(ctx, TagCounts, 0)
		}, change.Set{Articles: []int{1}, Favorites: []change.Favorite{{User: 7, Article: 1}}}, true},
		{"whom a user follows, when they follow", func(ctx context.Context, _ *Cache) {
			Note(ctx, FollowsOf, 7)
		}, change.Set{Follows: []change.Follow{{Follower: 7, Followee: 8}}}, false},
		{"whom a user follows, when they are followed", func(ctx context.Context, _ *Cache) {
			Note(ctx, FollowsOf, 7)
		}, change.Set{Follows: []change.Follow{{Follower: 8, Followee: 7}}}, true},
		{"a user's favorites, when they favorite", func(ctx context.Context, _ *Cache) {
			Note(ctx, FavoritesOf, 7)
		}, change.Set{Favorites: []change.Favorite{{User: 7, Article: 1}}, Articles: []int{1}}, false},
		{"a user's favorites, when another user favorites", func(ctx context.Context, _ *Cache) {
			Note(ctx, FavoritesOf, 7)
		}, change.Set{Favorites: []change.Favorite{{User: 8, Article: 1}}, Articles: []int{1}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name+", written while it runs", func(t *testing.T) {
			c := listening()
			ctx, r := record(t, c)
			tc.read(ctx, c)
			c.Apply(tc.write)
			if _, ok := r.Done(); ok != tc.fresh {
				t.Fatalf("Done = %v, want %v", ok, tc.fresh)
			}
		})
		t.Run(tc.name+", written after it was kept", func(t *testing.T) {
			c := listening()
			ctx, r := record(t, c)
			tc.read(ctx, c)
			d, ok := r.Done()
			if !ok {
				t.Fatal("Done refused a response nothing changed")
			}
			c.Apply(tc.write)
			if got := c.Fresh(d); got != tc.fresh {
				t.Fatalf("Fresh = %v, want %v", got, tc.fresh)
			}
		})
	}

	t.Run("a write evicted before the read, after the request started", func(t *testing.T) {
		c := listening()
		ctx, r := record(t, c)
		c.Apply(change.Set{Articles: []int{1}})
		Get[string](ctx, c, Article, 1) // reads the new value, but the stamp is newer than the start
		if _, ok := r.Done(); ok {
			t.Fatal("kept a response that may have read across a write")
		}
	})

	t.Run("a statement nothing vouches for spoils the response", func(t *testing.T) {
		c := listening()
		ctx, r := record(t, c)
		Note(ctx, ArticleLists, 0)
		Statement(Covered(ctx))
		if _, ok := r.Done(); !ok {
			t.Fatal("a covered statement spoiled the response")
		}
		ctx, r = record(t, c)
		Statement(Covered(ctx))
		Statement(ctx)
		if _, ok := r.Done(); ok {
			t.Fatal("an uncovered statement left the response to be kept")
		}
	})

	t.Run("losing the listening connection makes everything stale", func(t *testing.T) {
		c := listening()
		ctx, r := record(t, c)
		Get[string](ctx, c, Article, 1)
		d, ok := r.Done()
		if !ok {
			t.Fatal("Done refused")
		}
		c.SetListening(false)
		if c.Fresh(d) {
			t.Fatal("fresh while not listening")
		}
		c.SetListening(true)
		if c.Fresh(d) {
			t.Fatal("fresh after a gap in the change events")
		}
	})
}
