package cache

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// A response built from cached values and queries can itself be kept (internal/respcache)
// if it is known what it was built from: Reads records, for one request, the keys it read
// (through Get, or named with Note for what a query returned), and whether it sent any
// statement whose result no noted key describes. Later, Fresh tells whether a write has
// changed any of those keys since the request started; it never says yes wrongly.
//
// Every eviction stamps its key's slot (one of stampSlots, by hash) with a number taken
// from the eviction sequence after the key was evicted; a request takes the sequence's
// number when it starts. A key read by a request that started at n is unchanged as long
// as its slot's stamp is at most n: a write whose eviction came after the read stamps
// higher, and so does one whose eviction came before the read but after n was taken (the
// read then saw the new value, and the response is only refused once, needlessly).
// Slots are shared by many keys, so a write may refuse responses it did not change:
// never the other way round.

// The kinds that hold no value in the cache, only stamps: what lists are made of.
const (
	ArticleLists Kind = numKinds + iota // which articles exist, in every list and count (id 0)
	TagCounts                           // the tags in use and their counts (id 0)
	FollowsOf                           // whom and which tags a user follows, by the follower's id
	FavoritesOf                         // what a user favorited, by the user's id
	BookmarksOf                         // what a user bookmarked, by the user's id
	numStampKinds
)

const stampSlots = 1 << 16

// slotOf is the slot of k: the same in every process and run, so that tests of which
// keys share one are repeatable.
func slotOf(k key) uint16 {
	var h uint64
	if k.s != "" {
		h = 14695981039346656037 // FNV-1a
		for i := range len(k.s) {
			h = (h ^ uint64(k.s[i])) * 1099511628211
		}
	} else {
		// A multiplicative hash of kind and id: ids are dense, so neighbours must not
		// share a slot.
		h = (uint64(k.id) ^ uint64(k.kind)<<56) * 0x9e3779b97f4a7c15
		h ^= h >> 29
	}
	return uint16(h ^ uint64(k.kind)*0xff51afd7ed558ccd) // stampSlots is 1<<16
}

// stamps are the Cache's marks of evictions, for Fresh.
type stamps struct {
	slot  [stampSlots]atomic.Uint64
	kind  [numStampKinds]atomic.Uint64 // every key of the kind at once (evictAll)
	reset atomic.Uint64                // everything at once (SetListening)
}

// stamp marks k changed, after its eviction.
func (c *Cache) stamp(k key) {
	raise(&c.stamps.slot[slotOf(k)], c.seq.Add(1))
}

// Reads is what one request read. Its methods may be called from many goroutines.
type Reads struct {
	c     *Cache
	start uint64

	mu      sync.Mutex
	slots   []uint16
	kinds   uint32 // bit per kind read
	spoiled bool

	bypass atomic.Bool // the cache must not answer this request (Bypass)
}

type readsKey struct{}
type coveredKey struct{}

// Record starts recording what the request in ctx reads. It returns ctx unchanged and
// nil when the cache is off: then nothing can be known about what a response was built
// from.
func (c *Cache) Record(ctx context.Context) (context.Context, *Reads) {
	if !c.On() {
		return ctx, nil
	}
	r := &Reads{c: c, start: c.seq.Load(), slots: make([]uint16, 0, 64)}
	return context.WithValue(ctx, readsKey{}, r), r
}

// Bypass returns ctx for a request the cache must not answer: every Get misses, as if
// the cache were empty, while what the request loads may still fill it. For a request
// that must see changes the cache may not have heard of yet.
func (c *Cache) Bypass(ctx context.Context) context.Context {
	r := readsFrom(ctx)
	if r == nil {
		r = &Reads{c: c, start: c.seq.Load()}
		ctx = context.WithValue(ctx, readsKey{}, r)
	}
	r.bypass.Store(true)
	return ctx
}

// Bypassed reports whether the request in ctx must not be answered from the caches.
func Bypassed(ctx context.Context) bool { return readsFrom(ctx).bypassed() }

func (r *Reads) bypassed() bool { return r != nil && r.bypass.Load() }

// ReadsOf returns the Reads recording the request in ctx, or nil.
func ReadsOf(ctx context.Context) *Reads { return readsFrom(ctx) }

func readsFrom(ctx context.Context) *Reads {
	r, _ := ctx.Value(readsKey{}).(*Reads)
	return r
}

func (r *Reads) note(k key) {
	if r == nil {
		return
	}
	s := slotOf(k)
	r.mu.Lock()
	r.slots = append(r.slots, s)
	r.kinds |= 1 << k.kind
	r.mu.Unlock()
}

// Note records that the request in ctx read ids of kind (through a query of its own,
// not Get), so that a write changing any of them refuses what was built from them.
func Note(ctx context.Context, kind Kind, ids ...int) {
	r := readsFrom(ctx)
	for _, id := range ids {
		r.note(key{kind: kind, id: id})
	}
}

// Covered returns ctx for statements whose results the keys already noted describe
// completely. Any other statement spoils the request's Reads (Statement).
func Covered(ctx context.Context) context.Context {
	if readsFrom(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, coveredKey{}, true)
}

// Unknown says that the request in ctx looked for something that does not exist (yet):
// what it builds is not kept, since nothing would say when that thing appears.
func Unknown(ctx context.Context) { readsFrom(ctx).spoil() }

// Statement is told of every SQL statement sent (internal/dbstats). One that Covered did
// not vouch for read something no key names, so what the request builds is not kept.
func Statement(ctx context.Context) {
	r := readsFrom(ctx)
	if r == nil {
		return
	}
	if covered, _ := ctx.Value(coveredKey{}).(bool); !covered {
		r.spoil()
	}
}

// spoil keeps what the request builds out of the response cache.
func (r *Reads) spoil() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.spoiled = true
	r.mu.Unlock()
}

// Deps are what a response was built from, to be kept beside it: the sequence number
// when its request started, and the slots and kinds it read.
type Deps struct {
	Start uint64
	Kinds uint32
	Slots []uint16
}

// Done returns what the request read, or false when it read something no key names or
// a write has already changed what it read.
func (r *Reads) Done() (Deps, bool) {
	if r == nil {
		return Deps{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spoiled {
		return Deps{}, false
	}
	slices.Sort(r.slots)
	d := Deps{Start: r.start, Kinds: r.kinds, Slots: slices.Compact(r.slots)}
	return d, r.c.Fresh(d)
}

// Fresh reports whether nothing d names has changed since d.Start, and the cache has
// heard of every change since (it listens).
func (c *Cache) Fresh(d Deps) bool {
	if !c.On() || c.stamps.reset.Load() > d.Start {
		return false
	}
	for k := range numStampKinds {
		if d.Kinds&(1<<k) != 0 && c.stamps.kind[k].Load() > d.Start {
			return false
		}
	}
	for _, s := range d.Slots {
		if c.stamps.slot[s].Load() > d.Start {
			return false
		}
	}
	return true
}
