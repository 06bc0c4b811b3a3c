// Package cache keeps what every reader shares (users, articles, an article's tags and
// comment pages, counts) in this instance's memory, bounded by bytes, so that most reads
// of a hot page cost no SQL at all. It never holds anything viewer-specific: whether the
// viewer favorited or follows something is always read for that viewer. It also holds
// whether each sign-in session seen is live, so that checking a token costs no SQL.
//
// A write makes every instance forget what it changed (a change.Set): this instance at
// once, before the write is answered, so a client never reads its own write's old value;
// the others when the change event, sent in the write's transaction, reaches their
// listening connection (internal/events). While that connection is down an instance
// could miss events, so the cache is off until it listens again, and starts empty.
package cache

import (
	"context"
	"sync/atomic"

	"github.com/maypok86/otter/v2"

	"inkwell/internal/change"
)

// Kind is what a cached value is.
type Kind uint8

// The kinds of values, each keyed by an id.
const (
	User           Kind = iota // a user, by id
	Article                    // an article, by id
	ArticleHead                // an article without its body columns (lists), by id
	Slug                       // an article's id, by slug
	Tags                       // an article's tags, by article id
	Comments                   // an article's comment pages, by article id
	CommentsCount              // an article's number of comments (not replies)
	Replies                    // a comment's reply pages, by comment id
	RepliesCount               // a comment's number of replies
	FollowersCount             // a user's number of followers
	FollowingCount             // how many users a user follows
	Session                    // a sign-in session's user and state, by session id
	numKinds
)

// key names one value: kind and id, or kind and slug.
type key struct {
	kind Kind
	id   int
	s    string
}

// entry is a value, or the tombstone of an eviction (dead). tomb is the number of the
// key's latest eviction: a write changed the key then, and a value loaded before that is
// not kept (Fill), also once a newer value has replaced the tombstone.
type entry struct {
	v      any
	weight uint32
	tomb   uint64
	dead   bool
}

// entryWeight is what the cache's own entry takes (its key, the entry and the cache's
// node), added to every value's weight, so that the bound is one of memory.
const entryWeight = 128

// tombWeight is a tombstone's weight: the entry alone.
const tombWeight = entryWeight

// Cache is one instance's cache. The zero of *Cache (nil) caches nothing.
type Cache struct {
	c *otter.Cache[key, entry]
	// seq numbers the evictions. A load remembers it when it starts (Epoch); its value
	// is kept only if no eviction of the same key came after (the number its entry
	// keeps), nor one the cache has forgotten (floor: an entry that kept one, dropped
	// for room, or every key at once).
	seq   atomic.Uint64
	floor atomic.Uint64
	on    atomic.Bool

	hits, misses, applied atomic.Uint64

	stamps stamps
}

// New returns a cache of at most maxBytes (approximately: the weights are estimates of
// the values' sizes), off until SetListening(true).
func New(maxBytes int) *Cache {
	c := &Cache{}
	c.c = otter.Must(&otter.Options[key, entry]{
		MaximumWeight: uint64(max(maxBytes, 1)),
		Weigher:       func(_ key, e entry) uint32 { return e.weight },
		OnAtomicDeletion: func(e otter.DeletionEvent[key, entry]) {
			if e.Value.tomb != 0 && e.WasEvicted() {
				raise(&c.floor, e.Value.tomb)
			}
		},
	})
	return c
}

// raise sets v to at least n.
func raise(v *atomic.Uint64, n uint64) {
	for old := v.Load(); old < n && !v.CompareAndSwap(old, n); old = v.Load() {
	}
}

// Epoch is taken before loading values of a kind from the database, and handed to Fill.
type Epoch struct {
	kind Kind
	n    uint64
}

// Kind is the kind of values the load is of.
func (e Epoch) Kind() Kind { return e.kind }

// Epoch is the eviction count now, for a load of kind.
func (c *Cache) Epoch(kind Kind) Epoch {
	if c == nil {
		return Epoch{kind: kind}
	}
	return Epoch{kind: kind, n: c.seq.Load()}
}

// Get returns the cached value of kind for id. Whether found or not, the key counts as
// read by the request in ctx (Reads): the caller loads it when missing.
func Get[V any](ctx context.Context, c *Cache, kind Kind, id int) (V, bool) {
	return get[V](ctx, c, key{kind: kind, id: id})
}

// GetSlug returns the cached article id for slug.
func GetSlug(ctx context.Context, c *Cache, slug string) (int, bool) {
	return get[int](ctx, c, key{kind: Slug, s: slug})
}

// Peek returns the cached value of kind for id, as Get does, but neither counts it nor
// records it as read: for a value that is about to be replaced, or to decide whether to
// read ahead.
func Peek[V any](c *Cache, kind Kind, id int) (V, bool) {
	return peek[V](c, key{kind: kind, id: id})
}

// PeekSlug is Peek for the article id of slug.
func PeekSlug(c *Cache, slug string) (int, bool) {
	return peek[int](c, key{kind: Slug, s: slug})
}

func peek[V any](c *Cache, k key) (V, bool) {
	var zero V
	if c == nil || !c.on.Load() {
		return zero, false
	}
	e, ok := c.c.GetIfPresent(k)
	if !ok || e.dead {
		return zero, false
	}
	v, ok := e.v.(V)
	return v, ok
}

// GetFirst returns the value cached for id under the first of kinds that holds one,
// counting one hit or one miss. Every key asked counts as read (Reads).
func GetFirst[V any](ctx context.Context, c *Cache, id int, kinds ...Kind) (V, bool) {
	var buf [4]key
	keys := buf[:0]
	for _, kind := range kinds {
		keys = append(keys, key{kind: kind, id: id})
	}
	return get[V](ctx, c, keys...)
}

// get returns the value of the first of keys the cache holds, all of them noted as read
// by the request in ctx whether found or not (the caller loads what is missing).
func get[V any](ctx context.Context, c *Cache, keys ...key) (V, bool) {
	r := readsFrom(ctx)
	for _, k := range keys {
		r.note(k)
	}
	if c != nil && c.on.Load() && !r.bypassed() {
		for _, k := range keys {
			if v, ok := peek[V](c, k); ok {
				c.hits.Add(1)
				return v, true
			}
		}
		c.misses.Add(1)
	}
	var zero V
	return zero, false
}

// Fill keeps v, of kind for id, loaded from the database after e was taken, unless a
// write evicted that kind meanwhile. The value is shared by every later reader: it must
// never be changed. weight estimates its size in bytes (the cache adds its entry's).
func Fill[V any](c *Cache, e Epoch, id int, v V, weight int) {
	fill(c, e, key{kind: e.kind, id: id}, v, weight)
}

// FillSlug keeps slug's article id. A slug names one article for the article's life;
// after a deletion it may name a new one, so a reader checks the article it finds.
func FillSlug(c *Cache, e Epoch, slug string, id int) {
	fill(c, e, key{kind: Slug, s: slug}, id, len(slug)+8)
}

// GetSession returns the cached state of a sign-in session.
func GetSession[V any](ctx context.Context, c *Cache, sessionID string) (V, bool) {
	return get[V](ctx, c, key{kind: Session, s: sessionID})
}

// FillSession keeps a session's state, loaded after e (of kind Session) was taken.
func FillSession[V any](c *Cache, e Epoch, sessionID string, v V) {
	fill(c, e, key{kind: Session, s: sessionID}, v, len(sessionID)+64)
}

func fill(c *Cache, e Epoch, k key, v any, weight int) {
	if c == nil || !c.on.Load() || e.n < c.floor.Load() {
		return
	}
	next := entry{v: v, weight: uint32(min(max(weight, 0)+entryWeight, 1<<30))}
	// Atomic for the key: an eviction newer than the load wins over its value, whether
	// its tombstone is still there or a newer load's value took its place (and keeps its
	// number, so that an older load arriving later cannot replace it).
	c.c.Compute(k, func(old entry, found bool) (entry, otter.ComputeOp) {
		if found && old.tomb > e.n {
			return old, otter.CancelOp
		}
		if found {
			next.tomb = old.tomb
		}
		return next, otter.WriteOp
	})
	// A tombstone dropped for room, or everything forgotten, after the check above.
	if e.n < c.floor.Load() {
		c.c.Invalidate(k)
	}
}

// evict forgets ids of kind, leaving a tombstone in each place, so that a load already
// running cannot put an old value back (see fill).
func (c *Cache) evict(kind Kind, ids ...int) {
	for _, id := range ids {
		k := key{kind: kind, id: id}
		c.c.Set(k, entry{tomb: c.seq.Add(1), weight: tombWeight, dead: true})
		c.stamp(k)
	}
}

// Apply forgets what a committed write changed. Lists of articles are never cached, so a
// new or deleted article changes nothing here beyond its own entries.
func (c *Cache) Apply(s change.Set) {
	if c == nil {
		return
	}
	defer c.applied.Add(1)
	for _, sid := range s.Sessions {
		k := key{kind: Session, s: sid}
		c.c.Set(k, entry{tomb: c.seq.Add(1), weight: tombWeight, dead: true})
		c.stamp(k)
	}
	if s.AllSessions {
		c.evictAll(Session)
	}
	if len(s.Users) > 0 {
		c.evict(User, s.Users...)
	}
	if len(s.Articles) > 0 {
		c.evict(Article, s.Articles...)
		c.evict(ArticleHead, s.Articles...)
		c.evict(Tags, s.Articles...)
	}
	for _, f := range s.Follows {
		c.evict(FollowersCount, f.Followee)
		c.evict(FollowingCount, f.Follower)
	}
	if len(s.CommentsOf) > 0 {
		c.evict(Comments, s.CommentsOf...)
		c.evict(CommentsCount, s.CommentsOf...)
	}
	if len(s.RepliesOf) > 0 {
		c.evict(Replies, s.RepliesOf...)
		c.evict(RepliesCount, s.RepliesOf...)
	}
	if s.AllComments {
		c.evictAll(Comments, CommentsCount, Replies, RepliesCount)
	}
	if s.ArticleLists || s.TagCounts {
		// Every article's tags carry their counts of articles, which this write changed.
		c.evictAll(Tags)
	}
	// What lists are made of holds no value here, only stamps (see Reads).
	if s.ArticleLists {
		c.stamp(key{kind: ArticleLists})
	}
	if s.ArticleLists || s.TagCounts {
		c.stamp(key{kind: TagCounts})
	}
	for _, f := range s.Follows {
		c.stamp(key{kind: FollowsOf, id: f.Follower})
	}
	// A user's follows of tags decide their feed as their follows of authors do.
	for _, f := range s.TagFollows {
		c.stamp(key{kind: FollowsOf, id: f.User})
	}
	for _, f := range s.Favorites {
		c.stamp(key{kind: FavoritesOf, id: f.User})
	}
	for _, b := range s.Bookmarks {
		c.stamp(key{kind: BookmarksOf, id: b.User})
	}
}

// evictAll forgets every value of the kinds, and refuses every load already running.
func (c *Cache) evictAll(kinds ...Kind) {
	raise(&c.floor, c.seq.Add(1))
	for k := range c.c.Keys() {
		for _, kind := range kinds {
			if k.kind == kind {
				c.c.Invalidate(k)
			}
		}
	}
	for _, kind := range kinds {
		raise(&c.stamps.kind[kind], c.seq.Add(1))
	}
}

// SetListening turns the cache on when the instance listens for change events, and off
// (forgetting everything) when it may miss some.
func (c *Cache) SetListening(on bool) {
	if c == nil {
		return
	}
	if !on {
		c.on.Store(false)
	}
	raise(&c.floor, c.seq.Add(1))
	c.c.InvalidateAll()
	raise(&c.stamps.reset, c.seq.Add(1))
	if on {
		c.on.Store(true)
	}
}

// On reports whether the cache serves values: whether the instance listens for changes.
func (c *Cache) On() bool { return c != nil && c.on.Load() }

// Stats are the cache's counters since it was made.
type Stats struct {
	Hits, Misses uint64
	// Applied counts the change sets applied, this instance's own and others'.
	Applied uint64
	Entries int
	Bytes   uint64
}

// Stats reports the counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Applied: c.applied.Load(),
		Entries: c.c.EstimatedSize(), Bytes: c.c.WeightedSize()}
}
