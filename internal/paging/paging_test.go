package paging_test

import (
	"encoding/base64"
	"errors"
	"reflect"
	"testing"
	"time"

	"inkwell/internal/apperr"
	"inkwell/internal/paging"
)

func ptr[T any](v T) *T { return &v }

// badFields returns the fields a BAD_USER_INPUT error names, failing the test for any
// other outcome.
func badFields(t *testing.T, err error) map[string][]string {
	t.Helper()
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != apperr.CodeBadUserInput {
		t.Fatalf("err = %v, want BAD_USER_INPUT", err)
	}
	return e.Fields
}

func TestPagingParseDefaults(t *testing.T) {
	t.Parallel()
	w, err := paging.Parse(paging.Args{})
	if err != nil {
		t.Fatal(err)
	}
	want := paging.Window{Limit: 20}
	if !reflect.DeepEqual(w, want) {
		t.Fatalf("window = %+v, want %+v", w, want)
	}
	if paging.DefaultSize != 20 || paging.MaxSize != 100 {
		t.Fatalf("sizes = %d/%d, want 20/100", paging.DefaultSize, paging.MaxSize)
	}
}

func TestPagingParseSizes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     paging.Args
		limit    int
		backward bool
		badField string // "" when the args are valid
	}{
		{"first zero", paging.Args{First: ptr(0)}, 0, false, ""},
		{"first one", paging.Args{First: ptr(1)}, 1, false, ""},
		{"first at the maximum", paging.Args{First: ptr(100)}, 100, false, ""},
		{"first over the maximum", paging.Args{First: ptr(101)}, 0, false, "first"},
		{"first negative", paging.Args{First: ptr(-1)}, 0, false, "first"},
		{"last zero", paging.Args{Last: ptr(0)}, 0, true, ""},
		{"last", paging.Args{Last: ptr(7)}, 7, true, ""},
		{"last at the maximum", paging.Args{Last: ptr(100)}, 100, true, ""},
		{"last over the maximum", paging.Args{Last: ptr(101)}, 0, false, "last"},
		{"last negative", paging.Args{Last: ptr(-1)}, 0, false, "last"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, err := paging.Parse(tc.args)
			if tc.badField != "" {
				fields := badFields(t, err)
				if len(fields[tc.badField]) == 0 || len(fields) != 1 {
					t.Fatalf("fields = %v, want only %q", fields, tc.badField)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if w.Limit != tc.limit || w.Backward != tc.backward {
				t.Fatalf("window = %+v, want limit %d backward %v", w, tc.limit, tc.backward)
			}
		})
	}
}

func TestPagingParseFirstAndLastTogether(t *testing.T) {
	t.Parallel()
	_, err := paging.Parse(paging.Args{First: ptr(5), Last: ptr(5)})
	fields := badFields(t, err)
	if len(fields["first"]) == 0 && len(fields["last"]) == 0 {
		t.Fatalf("fields = %v, want first or last named", fields)
	}
}

func TestPagingParseReportsEveryBadArgument(t *testing.T) {
	t.Parallel()
	_, err := paging.Parse(paging.Args{First: ptr(-1), After: ptr("nope"), Before: ptr("nope")})
	fields := badFields(t, err)
	for _, f := range []string{"first", "after", "before"} {
		if len(fields[f]) == 0 {
			t.Errorf("fields = %v, want %q named", fields, f)
		}
	}
}

func TestPagingParseCursors(t *testing.T) {
	t.Parallel()
	after := paging.Key{Time: time.Date(2024, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: 7}
	before := paging.Key{Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ID: 99}
	w, err := paging.Parse(paging.Args{
		Last:   ptr(3),
		After:  ptr(paging.EncodeCursor(after)),
		Before: ptr(paging.EncodeCursor(before)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.After == nil || !w.After.Time.Equal(after.Time) || w.After.ID != after.ID {
		t.Errorf("after = %+v, want %+v", w.After, after)
	}
	if w.Before == nil || !w.Before.Time.Equal(before.Time) || w.Before.ID != before.ID {
		t.Errorf("before = %+v, want %+v", w.Before, before)
	}
	if w.Limit != 3 || !w.Backward {
		t.Errorf("window = %+v, want limit 3 backward", w)
	}
}

func TestPagingParseBadCursor(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"after", "before"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := paging.Args{}
			if name == "after" {
				args.After = ptr("garbage!")
			} else {
				args.Before = ptr("garbage!")
			}
			fields := badFields(t, func() error { _, err := paging.Parse(args); return err }())
			if len(fields[name]) == 0 || len(fields) != 1 {
				t.Fatalf("fields = %v, want only %q", fields, name)
			}
		})
	}
}

func TestPagingFirst(t *testing.T) {
	t.Parallel()
	w, err := paging.First(nil, nil)
	if err != nil || w.Limit != paging.DefaultSize || w.Backward || w.After != nil {
		t.Fatalf("First(nil, nil) = %+v, %v", w, err)
	}
	if _, err := paging.First(ptr(101), nil); len(badFields(t, err)["first"]) == 0 {
		t.Fatalf("First(101) err = %v, want first named", err)
	}
	k := paging.Key{Time: time.Unix(1700000000, 0).UTC(), ID: 3}
	w, err = paging.First(ptr(2), ptr(paging.EncodeCursor(k)))
	if err != nil || w.Limit != 2 || w.After == nil || w.After.ID != 3 {
		t.Fatalf("First(2, cursor) = %+v, %v", w, err)
	}
}

func TestPagingCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, k := range []paging.Key{
		{Time: time.Date(2024, 2, 29, 23, 59, 59, 999999000, time.UTC), ID: 1},
		{Time: time.Unix(0, 0).UTC(), ID: 42},
		{Time: time.Date(1969, 7, 20, 20, 17, 40, 5000, time.UTC), ID: 1 << 40},
		{Time: time.Date(2099, 12, 31, 0, 0, 0, 1000, time.UTC), ID: int(^uint32(0))},
	} {
		c := paging.EncodeCursor(k)
		got, err := paging.DecodeCursor(c)
		if err != nil {
			t.Fatalf("DecodeCursor(EncodeCursor(%v)) err = %v", k, err)
		}
		if !got.Time.Equal(k.Time) || got.ID != k.ID {
			t.Errorf("round trip of %v = %v", k, got)
		}
		if got.Time.Location() != time.UTC {
			t.Errorf("decoded time %v is not UTC", got.Time)
		}
	}
}

func TestPagingCursorsDiffer(t *testing.T) {
	t.Parallel()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	a := paging.EncodeCursor(paging.Key{Time: base, ID: 1})
	b := paging.EncodeCursor(paging.Key{Time: base, ID: 2})
	c := paging.EncodeCursor(paging.Key{Time: base.Add(time.Microsecond), ID: 1})
	if a == b || a == c || b == c {
		t.Fatalf("cursors collide: %q %q %q", a, b, c)
	}
}

func TestPagingDecodeCursorRejects(t *testing.T) {
	t.Parallel()
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []string{
		"",
		"garbage!",
		"%%%",
		enc("k1:1700000000000000"),    // no id
		enc("k2:1700000000000000:5"),  // unknown version
		enc("1700000000000000:5"),     // no version
		enc("k1:soon:5"),              // time not a number
		enc("k1:1700000000000000:x"),  // id not a number
		enc("k1:1700000000000000:0"),  // ids start at 1
		enc("k1:1700000000000000:-4"), // negative id
		enc("k1:1700000000000000:5:6"),
		enc("k1:9223372036854775807:5"),  // past year 9999
		enc("k1:-9223372036854775808:5"), // before year 1
		enc("k1:253402300800000000:5"),   // 10000-01-01
		base64.StdEncoding.EncodeToString([]byte("k1:1700000000000000:55")), // padded
	} {
		if k, err := paging.DecodeCursor(c); err == nil {
			t.Errorf("DecodeCursor(%q) = %v, want an error", c, k)
		}
	}
}

func key(id int) paging.Key {
	return paging.Key{Time: time.Date(2024, 1, 1, 0, 0, id, 0, time.UTC), ID: id}
}

// ids lists from..to, counting down when to < from; row id's key is key(id).
func ids(from, to int) []int {
	var out []int
	if from <= to {
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	for i := from; i >= to; i-- {
		out = append(out, i)
	}
	return out
}

func TestPagingCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		w         paging.Window
		rows      []int // in query order
		want      []int // in list order
		next, prv bool
	}{
		{"forward with more", paging.Window{Limit: 3}, ids(1, 4), ids(1, 3), true, false},
		{"forward exactly full", paging.Window{Limit: 3}, ids(1, 3), ids(1, 3), false, false},
		{"forward short", paging.Window{Limit: 3}, ids(1, 2), ids(1, 2), false, false},
		{"forward empty", paging.Window{Limit: 3}, nil, nil, false, false},
		{"forward zero with rows", paging.Window{Limit: 0}, ids(1, 1), nil, true, false},
		{"forward zero without rows", paging.Window{Limit: 0}, nil, nil, false, false},
		// Backward queries run against list order: nearest to before first.
		{"backward with more", paging.Window{Limit: 3, Backward: true}, ids(9, 6), ids(7, 9), false, true},
		{"backward exactly full", paging.Window{Limit: 3, Backward: true}, ids(9, 7), ids(7, 9), false, false},
		{"backward short", paging.Window{Limit: 3, Backward: true}, ids(9, 8), ids(8, 9), false, false},
		{"backward single", paging.Window{Limit: 1, Backward: true}, ids(9, 8), ids(9, 9), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := paging.Cut(tc.w, tc.rows, key)
			if len(p.Items) != len(tc.want) || (len(tc.want) > 0 && !reflect.DeepEqual(p.Items, tc.want)) {
				t.Fatalf("items = %v, want %v", p.Items, tc.want)
			}
			if len(p.Keys) != len(p.Items) {
				t.Fatalf("%d keys for %d items", len(p.Keys), len(p.Items))
			}
			for i, id := range p.Items {
				if p.Keys[i] != key(id) {
					t.Errorf("keys[%d] = %v, want %v", i, p.Keys[i], key(id))
				}
			}
			if p.HasNextPage != tc.next || p.HasPreviousPage != tc.prv {
				t.Errorf("hasNext, hasPrevious = %v, %v; want %v, %v", p.HasNextPage, p.HasPreviousPage, tc.next, tc.prv)
			}
		})
	}
}
