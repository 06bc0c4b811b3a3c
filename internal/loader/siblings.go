package loader

import (
	"context"
	"errors"
	"sync"

	"github.com/graph-gophers/dataloader/v7"

	"inkwell/ent"
)

// gqlgen resolves a list's items concurrently, and under load their keys reach a loader
// over tens of milliseconds, far longer than any wait worth adding to a request: a page of
// fifty articles would then cost a query per trickle. So lists say which keys they hold
// (ListArticles, ListUsers), and the first batch that needs any of them fetches the whole
// list in the same query; the rest of the list waits for that query instead of running
// its own. The cost of a list is then one query per field, whatever its length.

// listed remembers, for one request, which ids were listed together.
type listed struct {
	mu       sync.Mutex
	articles map[int][]int
	users    map[int][]int
}

func newListed() *listed {
	return &listed{articles: map[int][]int{}, users: map[int][]int{}}
}

// add makes the ids not yet in a list of m one list. An id keeps the first list it was
// in, so that which ids a batch fetches does not depend on how the request's lists
// happened to interleave; a list then costs one query per loader, whatever its length.
func (l *listed) add(m map[int][]int, ids []int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var group []int
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			m[id] = nil
			group = append(group, id)
		}
	}
	for _, id := range group {
		if len(group) < 2 {
			delete(m, id) // a list of one has no one to batch with
			continue
		}
		m[id] = group
	}
}

func (l *listed) of(m map[int][]int, id int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m[id]
}

func (l *listed) articlesOf(id int) []int { return l.of(l.articles, id) }
func (l *listed) usersOf(id int) []int    { return l.of(l.users, id) }

// pagesOf gives the siblings of a page loader's keys: the same page of the lists of the
// parents listed (by of) with k's. A page after or before a cursor belongs to one
// parent's list only.
func pagesOf(of func(int) []int) func(PageKey) []PageKey {
	return func(k PageKey) []PageKey {
		if k.HasAfter || k.HasBefore {
			return nil
		}
		ids := of(k.ParentID)
		out := make([]PageKey, len(ids))
		for i, id := range ids {
			out[i] = k
			out[i].ParentID = id
		}
		return out
	}
}

// addArticles makes articles one list, and their authors another.
func (l *listed) addArticles(as []*ent.Article) {
	ids, authors := make([]int, len(as)), make([]int, len(as))
	for i, a := range as {
		ids[i], authors[i] = a.ID, a.AuthorID
	}
	l.add(l.articles, ids)
	l.add(l.users, authors)
}

// ListArticles tells the request's loaders, if it has any, that these articles are one
// list, and so are their authors.
func ListArticles(ctx context.Context, as []*ent.Article) {
	if l, ok := ctx.Value(ctxKey{}).(*Loaders); ok {
		l.listed.addArticles(as)
	}
}

// ListUsers tells the request's loaders, if it has any, that these users are one list.
func ListUsers(ctx context.Context, ids []int) {
	if l, ok := ctx.Value(ctxKey{}).(*Loaders); ok {
		l.listed.add(l.listed.users, ids)
	}
}

// errPrefetch stands in for a result whose query failed without saying why (it panicked).
var errPrefetch = errors.New("loader: prefetch failed")

// flight is one query: the keys it fetches and, once done is closed, their results.
type flight[K comparable, V any] struct {
	keys    []K
	done    chan struct{}
	results map[K]*dataloader.Result[V]
}

func (f *flight[K, V]) run(ctx context.Context, fn dataloader.BatchFunc[K, V]) {
	var res []*dataloader.Result[V]
	// Whatever happens to the query, no caller may wait for it forever.
	defer func() {
		for i, k := range f.keys {
			r := &dataloader.Result[V]{Error: errPrefetch}
			if i < len(res) && res[i] != nil {
				r = res[i]
			}
			f.results[k] = r
		}
		close(f.done)
	}()
	res = fn(ctx, f.keys)
}

// prefetcher batches for a loader whose keys come in lists (as siblings reports them):
// the first batch asking for any key of a list fetches the whole list in one query of its
// own, and later batches asking for the rest take that query's results instead of running
// theirs. Keys of no list, or asked for again after a Clear, are fetched together in one
// more query. So the queries a request costs do not depend on how its keys happened to
// fall into batches: one per list, and one per batch for the rest.
//
// It is also the loader's cache, so that Clear and ClearAll forget results fetched ahead
// as well as those handed out.
type prefetcher[K comparable, V any] struct {
	dataloader.Cache[K, V]
	siblings func(K) []K
	fn       dataloader.BatchFunc[K, V]

	mu      sync.Mutex
	asked   map[K]bool
	pending map[K]*flight[K, V] // fetched or being fetched for a list, not yet asked for
}

func newListLoader[K comparable, V any](siblings func(K) []K, fn dataloader.BatchFunc[K, V]) *dataloader.Loader[K, V] {
	p := &prefetcher[K, V]{
		Cache:    dataloader.NewCache[K, V](),
		siblings: siblings,
		fn:       fn,
		asked:    map[K]bool{},
		pending:  map[K]*flight[K, V]{},
	}
	return newLoader(p.batch, dataloader.WithCache[K, V](p))
}

// Delete forgets key, whether handed out or fetched ahead.
func (p *prefetcher[K, V]) Delete(ctx context.Context, key K) bool {
	p.mu.Lock()
	delete(p.pending, key)
	p.mu.Unlock()
	return p.Cache.Delete(ctx, key)
}

// Clear forgets every key, whether handed out or fetched ahead.
func (p *prefetcher[K, V]) Clear() {
	p.mu.Lock()
	clear(p.pending)
	p.mu.Unlock()
	p.Cache.Clear()
}

func (p *prefetcher[K, V]) newFlight() *flight[K, V] {
	return &flight[K, V]{done: make(chan struct{}), results: map[K]*dataloader.Result[V]{}}
}

func (p *prefetcher[K, V]) batch(ctx context.Context, keys []K) []*dataloader.Result[V] {
	p.mu.Lock()
	var flights []*flight[K, V]
	var loose *flight[K, V]
	from := make([]*flight[K, V], len(keys))
	for i, k := range keys {
		if f, ok := p.pending[k]; ok {
			delete(p.pending, k)
			from[i] = f
			continue
		}
		p.asked[k] = true
		var rest []K
		for _, s := range p.siblings(k) {
			if !p.asked[s] {
				p.asked[s] = true
				rest = append(rest, s)
			}
		}
		if len(rest) == 0 {
			if loose == nil {
				loose = p.newFlight()
				flights = append(flights, loose)
			}
			loose.keys = append(loose.keys, k)
			from[i] = loose
			continue
		}
		f := p.newFlight()
		f.keys = append(append(f.keys, k), rest...)
		for _, s := range rest {
			p.pending[s] = f
		}
		flights = append(flights, f)
		from[i] = f
	}
	p.mu.Unlock()

	for _, f := range flights {
		f.run(ctx, p.fn)
	}
	out := make([]*dataloader.Result[V], len(keys))
	for i, f := range from {
		<-f.done
		out[i] = f.results[keys[i]]
	}
	return out
}
