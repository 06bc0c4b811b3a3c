package cache

import (
	"context"
	"sync"
	"testing"

	"inkwell/internal/change"
)

var bg = context.Background()

func TestCache(t *testing.T) {
	t.Run("off until listening, and nothing is kept meanwhile", func(t *testing.T) {
		c := New(1 << 20)
		Fill(c, c.Epoch(User), 1, "ada", 10)
		if _, ok := Get[string](bg, c, User, 1); ok {
			t.Fatal("a value served before the cache listens")
		}
		c.SetListening(true)
		if _, ok := Get[string](bg, c, User, 1); ok {
			t.Fatal("a value filled while off was kept")
		}
		Fill(c, c.Epoch(User), 1, "ada", 10)
		if v, ok := Get[string](bg, c, User, 1); !ok || v != "ada" {
			t.Fatalf("Get = %q, %v; want ada", v, ok)
		}
	})

	t.Run("losing the listening connection empties it", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		Fill(c, c.Epoch(Article), 7, "old", 10)
		c.SetListening(false)
		if _, ok := Get[string](bg, c, Article, 7); ok {
			t.Fatal("served while not listening")
		}
		c.SetListening(true)
		if _, ok := Get[string](bg, c, Article, 7); ok {
			t.Fatal("a value from before the gap survived it")
		}
	})

	t.Run("GetFirst takes the first kind that holds the id, and counts once", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		Fill(c, c.Epoch(Article), 7, "whole", 10)
		if v, ok := GetFirst[string](bg, c, 7, ArticleHead, Article); !ok || v != "whole" {
			t.Fatalf("GetFirst = %q, %v; want whole", v, ok)
		}
		Fill(c, c.Epoch(ArticleHead), 7, "head", 10)
		if v, _ := GetFirst[string](bg, c, 7, ArticleHead, Article); v != "head" {
			t.Fatalf("GetFirst = %q, want head", v)
		}
		if _, ok := GetFirst[string](bg, c, 8, ArticleHead, Article); ok {
			t.Fatal("GetFirst found an id nothing holds")
		}
		if st := c.Stats(); st.Hits != 2 || st.Misses != 1 {
			t.Errorf("hits %d, misses %d; want 2 and 1", st.Hits, st.Misses)
		}
		c.Apply(change.Set{Articles: []int{7}})
		if _, ok := GetFirst[string](bg, c, 7, ArticleHead, Article); ok {
			t.Fatal("a changed article's head or whole was served")
		}
	})

	t.Run("a load that overlaps a write is not kept", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		e := c.Epoch(Article) // a reader starts loading article 7...
		c.Apply(change.Set{Articles: []int{7}})
		Fill(c, e, 7, "loaded before the write", 10) // ...and finishes after the write
		if _, ok := Get[string](bg, c, Article, 7); ok {
			t.Fatal("a value loaded across a write was kept")
		}
		Fill(c, c.Epoch(Article), 7, "new", 10)
		if v, _ := Get[string](bg, c, Article, 7); v != "new" {
			t.Fatalf("Get = %q, want new", v)
		}
	})

	t.Run("an ended session is forgotten, also by a check racing its end", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		FillSession(c, c.Epoch(Session), "s1", true)
		FillSession(c, c.Epoch(Session), "s2", true)
		e := c.Epoch(Session) // a check of s1 starts, reads "live"...
		c.Apply(change.Set{Sessions: []string{"s1"}})
		FillSession(c, e, "s1", true) // ...and finishes after the session ended
		if _, ok := GetSession[bool](bg, c, "s1"); ok {
			t.Fatal("an ended session is still cached")
		}
		if v, ok := GetSession[bool](bg, c, "s2"); !ok || !v {
			t.Fatal("ending s1 forgot s2")
		}
		c.Apply(change.Set{AllSessions: true})
		if _, ok := GetSession[bool](bg, c, "s2"); ok {
			t.Fatal("AllSessions kept a session")
		}
		if _, ok := GetSlug(bg, c, "s2"); ok {
			t.Fatal("a session read as a slug")
		}
	})

	// The stale reads the bench's -stale phase saw: a reader starts loading, a write evicts
	// the key, the write's own answer (or any reader) fills the new value, and the first
	// reader's old value arrives last. The new value remembers the eviction it follows.
	t.Run("a load from before a write does not replace a value from after it", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		Fill(c, c.Epoch(Article), 7, "old", 10)
		slow := c.Epoch(Article) // a reader starts loading article 7, and reads "old"...
		c.Apply(change.Set{Articles: []int{7}})
		Fill(c, c.Epoch(Article), 7, "new", 10) // the write's answer reads and fills "new"
		Fill(c, slow, 7, "old", 10)             // ...and the slow reader's fill comes last
		if v, _ := Get[string](bg, c, Article, 7); v != "new" {
			t.Fatalf("Get = %q, want new", v)
		}
	})

	t.Run("a write to one key does not refuse loads of others", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		e := c.Epoch(Article)
		c.Apply(change.Set{Articles: []int{7}})
		Fill(c, e, 8, "loaded while 7 changed", 10)
		if v, ok := Get[string](bg, c, Article, 8); !ok || v != "loaded while 7 changed" {
			t.Fatalf("Get(8) = %q, %v; want the value", v, ok)
		}
	})

	t.Run("a tombstone dropped for room still refuses older loads", func(t *testing.T) {
		c := New(2 * tombWeight) // room for two entries
		c.SetListening(true)
		e := c.Epoch(User)
		c.Apply(change.Set{Users: []int{1, 2, 3, 4, 5, 6}}) // more tombstones than room
		c.c.CleanUp()
		for id := 1; id <= 6; id++ {
			Fill(c, e, id, "old", 1)
			if _, ok := Get[string](bg, c, User, id); ok {
				t.Fatalf("user %d: a value loaded before its eviction was kept after the tombstone was dropped", id)
			}
		}
	})

	t.Run("each change evicts what it names", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			kind Kind
			id   int
			set  change.Set
		}{
			{"user", User, 1, change.Set{Users: []int{1}}},
			{"article", Article, 2, change.Set{Articles: []int{2}}},
			{"tags of a changed article", Tags, 2, change.Set{Articles: []int{2}}},
			{"followers of the followee", FollowersCount, 3, change.Set{Follows: []change.Follow{{Follower: 4, Followee: 3}}}},
			{"follows of the follower", FollowingCount, 4, change.Set{Follows: []change.Follow{{Follower: 4, Followee: 3}}}},
			{"comment pages", Comments, 5, change.Set{CommentsOf: []int{5}}},
			{"comment count", CommentsCount, 5, change.Set{CommentsOf: []int{5}}},
			{"comments of an unknown article", Comments, 6, change.Set{AllComments: true}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := New(1 << 20)
				c.SetListening(true)
				Fill(c, c.Epoch(tc.kind), tc.id, 1, 10)
				Fill(c, c.Epoch(tc.kind), tc.id+100, 2, 10)
				c.Apply(tc.set)
				if _, ok := Get[int](bg, c, tc.kind, tc.id); ok {
					t.Error("still cached after the change")
				}
				if tc.kind != Comments || !tc.set.AllComments {
					if _, ok := Get[int](bg, c, tc.kind, tc.id+100); !ok {
						t.Error("an unrelated value was evicted")
					}
				}
			})
		}
	})

	t.Run("bounded by weight", func(t *testing.T) {
		c := New(10_000)
		c.SetListening(true)
		for i := range 1000 {
			Fill(c, c.Epoch(User), i, i, 100)
		}
		c.c.CleanUp()
		if b := c.Stats().Bytes; b > 10_000 {
			t.Fatalf("holds %d bytes of values, more than its 10,000", b)
		}
	})

	t.Run("concurrent fills and evictions", func(t *testing.T) {
		c := New(1 << 20)
		c.SetListening(true)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 2000 {
					id := i % 50
					if g == 0 && i%10 == 0 {
						c.Apply(change.Set{Users: []int{id}})
						continue
					}
					e := c.Epoch(User)
					Fill(c, e, id, id, 10)
					if v, ok := Get[int](bg, c, User, id); ok && v != id {
						t.Errorf("user %d cached as %d", id, v)
					}
				}
			})
		}
		wg.Wait()
	})

	t.Run("nil caches nothing", func(t *testing.T) {
		var c *Cache
		c.Apply(change.Set{Users: []int{1}})
		c.SetListening(true)
		Fill(c, c.Epoch(User), 1, 1, 1)
		if _, ok := Get[int](bg, c, User, 1); ok || c.On() {
			t.Fatal("a nil cache served a value")
		}
	})
}
