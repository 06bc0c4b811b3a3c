// Package respcache keeps whole query responses, so that a repeated read costs neither
// SQL nor GraphQL execution: the same request from the same viewer is answered with the
// bytes of the last answer as long as nothing it was built from has changed since.
//
// What a response was built from is what its execution read (cache.Reads): the entity
// cache's keys and the lists' stamps. A write makes every instance stamp what it changed
// (the change events that keep the entity cache coherent), and a kept response whose keys
// were stamped after its request started is not served again. A response is kept only
// when every statement its execution sent is described by such keys (cache.Covered); any
// other read keeps it out, so a field that forgets to declare what it reads makes its
// responses uncached, never stale. Only queries without errors are kept, per viewer: an
// answer is never served to another viewer than the one it was built for.
//
// The bytes live outside Go's heap (fastcache), so they neither add to the collector's
// work nor to the heap growth GOGC allows, and they are kept compressed (gzip), about a
// third of their size, so that a hit can be sent as it is to the clients that accept
// gzip (every browser and HTTP library) and three times as many fit.
package respcache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/klauspost/compress/gzip"

	"inkwell/internal/auth"
	"inkwell/internal/cache"
)

// Cache is one instance's response cache. The zero of *Cache (nil) keeps nothing.
type Cache struct {
	fc       *fastcache.Cache
	entities *cache.Cache

	hits, misses, stores, refused atomic.Uint64
}

// New returns a response cache of about maxBytes, fresh as long as entities listens for
// change events; nil when maxBytes is not positive or there is no entity cache. The store
// takes at least 32 MiB of address space, touched only as it fills.
func New(maxBytes int, entities *cache.Cache) *Cache {
	if maxBytes <= 0 || entities == nil {
		return nil
	}
	return &Cache{fc: fastcache.New(maxBytes), entities: entities}
}

// Close gives the store's memory back for reuse.
func (c *Cache) Close() {
	if c != nil {
		c.fc.Reset()
	}
}

// Key names one request: the viewer, how the answer is encoded, and the request's bytes
// as sent (a POST body, or a GET's query string).
type Key [sha256.Size]byte

// MakeKey is the key of request, sent by the viewer in ctx over transport ("POST" or
// "GET"), answered as media.
func MakeKey(ctx context.Context, transport, media string, request []byte) Key {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(auth.ViewerFrom(ctx).UserID))
	h.Write(b[:])
	h.Write([]byte(transport))
	h.Write([]byte{0})
	h.Write([]byte(media))
	h.Write([]byte{0})
	h.Write(request)
	var k Key
	h.Sum(k[:0])
	return k
}

// GetAppend returns the response kept for k, if nothing it was built from has changed:
// gzip-compressed when gz says so (the caller sends it so, or decompresses it with
// Gunzip). The kept bytes are appended to dst, which comes back as buf (grown if it had
// to), so that a caller can reuse its buffers; body is a part of buf.
func (c *Cache) GetAppend(dst []byte, k Key) (buf, body []byte, gz, ok bool) {
	if c == nil {
		return dst, nil, false, false
	}
	v, ok := c.fc.HasGet(dst, k[:])
	if !ok {
		c.misses.Add(1)
		return v, nil, false, false
	}
	d, gz, body, ok := decode(v[len(dst):])
	if !ok || !c.entities.Fresh(d) {
		c.fc.Del(k[:])
		c.misses.Add(1)
		return v, nil, false, false
	}
	c.hits.Add(1)
	return v, body, gz, true
}

var (
	// Stateless: a kept answer is compressed in one Write, so the history a BestSpeed
	// writer keeps between writes (about 900 KB per pooled writer, a tenth of the live
	// heap under load) buys nothing; on answers of the article page it compresses within
	// 1 % of BestSpeed, as fast.
	writers = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.StatelessCompression)
		return w
	}}
	readers sync.Pool
)

// compress is body gzip-compressed, appended to dst.
func compress(dst, body []byte) []byte {
	b := bytes.NewBuffer(dst)
	w := writers.Get().(*gzip.Writer)
	defer writers.Put(w)
	w.Reset(b)
	_, _ = w.Write(body) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	return b.Bytes()
}

// Gunzip decompresses a body GetAppend returned compressed.
func Gunzip(body []byte) ([]byte, error) {
	r, _ := readers.Get().(*gzip.Reader)
	var err error
	if r == nil {
		r, err = gzip.NewReader(bytes.NewReader(body))
	} else {
		err = r.Reset(bytes.NewReader(body))
	}
	if err != nil {
		return nil, err
	}
	defer readers.Put(r)
	return io.ReadAll(r)
}

// Record starts recording what the query about to run in ctx reads; nil when nothing
// can be kept (the entity cache does not listen).
func (c *Cache) Record(ctx context.Context) (context.Context, *cache.Reads) {
	if c == nil {
		return ctx, nil
	}
	return c.entities.Record(ctx)
}

// Put keeps body, the answer to k built by the request in ctx (which Record started), if
// everything it read is known and unchanged.
func (c *Cache) Put(ctx context.Context, k Key, body []byte) {
	r := cache.ReadsOf(ctx)
	if c == nil || r == nil {
		return
	}
	d, ok := r.Done()
	if !ok {
		c.refused.Add(1)
		return
	}
	v := encode(d, body)
	if len(v)+len(k) >= 64<<10 { // fastcache's bound for one entry
		c.refused.Add(1)
		return
	}
	c.fc.Set(k[:], v)
	c.stores.Add(1)
}

// A kept value is the request's start (8 bytes), the kinds read (4), the number of
// slots (4), the slots (2 bytes each), whether the body is compressed (1), then the body.
func encode(d cache.Deps, body []byte) []byte {
	head := 16 + 2*len(d.Slots) + 1
	v := make([]byte, 16, head+len(body)/2)
	binary.LittleEndian.PutUint64(v, d.Start)
	binary.LittleEndian.PutUint32(v[8:], d.Kinds)
	binary.LittleEndian.PutUint32(v[12:], uint32(len(d.Slots)))
	for _, s := range d.Slots {
		v = binary.LittleEndian.AppendUint16(v, s)
	}
	if len(body) >= minCompressed {
		if z := compress(append(v, 1), body); len(z)-head < len(body) {
			return z
		}
	}
	// Small or incompressible: kept as it is.
	return append(append(v, 0), body...)
}

// minCompressed is the smallest body kept compressed. Below about one packet, gzip saves
// the network little and costs the client a decompressor's set-up for each answer.
const minCompressed = 1400

func decode(v []byte) (d cache.Deps, gz bool, body []byte, ok bool) {
	if len(v) < 16 {
		return cache.Deps{}, false, nil, false
	}
	d = cache.Deps{Start: binary.LittleEndian.Uint64(v), Kinds: binary.LittleEndian.Uint32(v[8:])}
	n := int(binary.LittleEndian.Uint32(v[12:]))
	if len(v) < 16+2*n+1 {
		return cache.Deps{}, false, nil, false
	}
	d.Slots = make([]uint16, n)
	for i := range d.Slots {
		d.Slots[i] = binary.LittleEndian.Uint16(v[16+2*i:])
	}
	return d, v[16+2*n] == 1, v[16+2*n+1:], true
}

// Stats are the cache's counters since it was made.
type Stats struct {
	// Hits and Misses count lookups; a kept answer found stale is a miss.
	Hits, Misses uint64
	// Stores counts answers kept; Refused, answers of queries not kept because they
	// read what no key names, a write changed what they read meanwhile, or they were
	// too large.
	Stores, Refused uint64
	Bytes           uint64
}

// Stats reports the counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	var fs fastcache.Stats
	c.fc.UpdateStats(&fs)
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Stores: c.stores.Load(),
		Refused: c.refused.Load(), Bytes: fs.BytesSize}
}
