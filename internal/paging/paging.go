// Package paging implements Relay cursor pagination over keyset cursors: a cursor names
// the (time, id) of a row, so pages stay free of duplicates and gaps while rows are added.
package paging

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"inkwell/internal/apperr"
)

// Page sizes: the default when neither first nor last is given, and the most a client
// may ask for.
const (
	DefaultSize = 20
	MaxSize     = 100
	// MaxOffset is the deepest a page may start by offset: deeper pages cost a scan of
	// every row before them, and cursors reach them for free.
	MaxOffset = 10_000
)

// Args are a connection field's arguments, as a client sent them.
type Args struct {
	First  *int
	After  *string
	Last   *int
	Before *string
	// Offset skips that many rows from the start, for "page 3 of 9" UIs.
	Offset *int
}

// Key is the position of a row in a list ordered by (Time, ID), or by (Rank, Time, ID)
// when Ranked (the sort orders by a count or a score).
type Key struct {
	Rank   float64
	Ranked bool
	Time   time.Time
	ID     int
}

// Window is validated Args: at most Limit rows after After and before Before, taken
// from the end of the list when Backward is set.
type Window struct {
	Limit    int
	Backward bool
	After    *Key
	Before   *Key
	// Offset rows of the list are skipped first (forward windows without cursors only).
	Offset int
}

// Parse validates args and returns the window they describe. Errors are BAD_USER_INPUT
// naming the argument at fault.
func Parse(args Args) (Window, error) {
	bad := apperr.Fields{}
	w := Window{Limit: DefaultSize}
	checkSize := func(name string, n *int) {
		if n != nil && (*n < 0 || *n > MaxSize) {
			bad.Add(name, fmt.Sprintf("must be between 0 and %d", MaxSize))
		}
	}
	checkSize("first", args.First)
	checkSize("last", args.Last)
	switch {
	case args.First != nil && args.Last != nil:
		bad.Add("last", "cannot be combined with first")
	case args.First != nil:
		w.Limit = *args.First
	case args.Last != nil:
		w.Limit, w.Backward = *args.Last, true
	}
	decode := func(name string, c *string) *Key {
		if c == nil {
			return nil
		}
		k, err := DecodeCursor(*c)
		if err != nil {
			bad.Add(name, "is not a valid cursor")
			return nil
		}
		return &k
	}
	w.After = decode("after", args.After)
	w.Before = decode("before", args.Before)
	if o := args.Offset; o != nil {
		switch {
		case *o < 0 || *o > MaxOffset:
			bad.Add("offset", fmt.Sprintf("must be between 0 and %d", MaxOffset))
		case args.After != nil || args.Before != nil:
			bad.Add("offset", "cannot be combined with after or before")
		case args.Last != nil:
			bad.Add("offset", "counts from the start of the list: use it with first, not last")
		default:
			w.Offset = *o
		}
	}
	return w, bad.Err()
}

// FirstOffset is a forward window of n rows, after a cursor or an offset.
func FirstOffset(first *int, after *string, offset *int) (Window, error) {
	return Parse(Args{First: first, After: after, Offset: offset})
}

// First is a forward window of n rows from the start, for lists that take only first.
func First(first *int, after *string) (Window, error) {
	return Parse(Args{First: first, After: after})
}

const (
	cursorPrefix       = "k1:"
	rankedCursorPrefix = "k2:"
)

// EncodeCursor makes the opaque cursor of a row.
func EncodeCursor(k Key) string {
	raw := cursorPrefix
	if k.Ranked {
		// The shortest text that reads back as exactly the same float64.
		raw = rankedCursorPrefix + strconv.FormatFloat(k.Rank, 'g', -1, 64) + ":"
	}
	raw += strconv.FormatInt(k.Time.UnixMicro(), 10) + ":" + strconv.Itoa(k.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// DecodeCursor reads a cursor made by EncodeCursor.
func DecodeCursor(c string) (Key, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return Key{}, err
	}
	var k Key
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(string(raw), rankedCursorPrefix); !ok {
			return Key{}, fmt.Errorf("unknown cursor version")
		}
		rank, tail, found := strings.Cut(rest, ":")
		r, err := strconv.ParseFloat(rank, 64)
		if !found || err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
			return Key{}, fmt.Errorf("malformed cursor rank")
		}
		k.Rank, k.Ranked, rest = r, true, tail
	}
	ts, id, ok := strings.Cut(rest, ":")
	if !ok {
		return Key{}, fmt.Errorf("malformed cursor")
	}
	micros, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Key{}, err
	}
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return Key{}, fmt.Errorf("malformed cursor id")
	}
	// A forged time outside what PostgreSQL and JSON can hold would fail deep in the
	// query; here it is the client's bad input.
	if micros < minCursorMicros || micros > maxCursorMicros {
		return Key{}, fmt.Errorf("cursor time out of range")
	}
	k.Time, k.ID = time.UnixMicro(micros).UTC(), n
	return k, nil
}

// The times a cursor may carry: years 1 to 9999.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// Page is one page of a list, in list order, with what Relay's PageInfo needs.
type Page[T any] struct {
	Items           []T
	Keys            []Key
	HasNextPage     bool
	HasPreviousPage bool
}

// Cut turns the rows a query fetched for w (at most w.Limit+1, in query order: list
// order forward, reversed when w.Backward) into a page.
func Cut[T any](w Window, rows []T, key func(T) Key) Page[T] {
	more := len(rows) > w.Limit
	if more {
		rows = rows[:w.Limit]
	}
	if w.Backward {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	p := Page[T]{Items: rows, Keys: make([]Key, len(rows))}
	for i, r := range rows {
		p.Keys[i] = key(r)
	}
	if w.Backward {
		p.HasPreviousPage = more
	} else {
		p.HasNextPage = more
		p.HasPreviousPage = w.Offset > 0
	}
	return p
}
