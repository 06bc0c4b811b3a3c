package respcache

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"inkwell/internal/auth"
	"inkwell/internal/cache"
	"inkwell/internal/change"
)

func TestKeptAnswers(t *testing.T) {
	t.Parallel()
	entities := cache.New(1 << 20)
	entities.SetListening(true)
	c := New(32<<20, entities)
	defer c.Close()

	keep := func(k Key, body []byte, read func(context.Context)) {
		t.Helper()
		ctx, _ := c.Record(context.Background())
		read(ctx)
		c.Put(ctx, k, body)
	}
	get := func(k Key) ([]byte, bool, bool) {
		_, body, gz, ok := c.GetAppend(nil, k)
		return body, gz, ok
	}
	readArticle := func(ctx context.Context) { cache.Get[string](ctx, entities, cache.Article, 1) }

	large := []byte(`{"data":{"article":{"body":"` + strings.Repeat("words and more words ", 200) + `"}}}`)
	small := []byte(`{"data":{"a":1}}`)
	kLarge := MakeKey(context.Background(), "POST", "application/json", []byte("large"))
	kSmall := MakeKey(context.Background(), "POST", "application/json", []byte("small"))
	keep(kLarge, large, readArticle)
	keep(kSmall, small, readArticle)

	b, gz, ok := get(kLarge)
	if !ok || !gz || len(b) >= len(large)/2 {
		t.Fatalf("large answer: found %v, compressed %v, %d bytes of %d", ok, gz, len(b), len(large))
	}
	if plain, err := Gunzip(b); err != nil || !bytes.Equal(plain, large) {
		t.Fatalf("Gunzip: %v, equal %v", err, bytes.Equal(plain, large))
	}
	if b, gz, ok := get(kSmall); !ok || gz || !bytes.Equal(b, small) {
		t.Fatalf("small answer: %q, compressed %v, found %v; want it as it is", b, gz, ok)
	}

	// Another viewer, transport or media type is another key.
	signedIn := auth.WithViewer(context.Background(), auth.Viewer{UserID: 7})
	for _, k := range []Key{
		MakeKey(signedIn, "POST", "application/json", []byte("large")),
		MakeKey(context.Background(), "GET", "application/json", []byte("large")),
		MakeKey(context.Background(), "POST", "application/graphql-response+json", []byte("large")),
	} {
		if _, _, ok := get(k); ok {
			t.Error("an answer served under another key")
		}
	}

	// A write to what they read makes both stale.
	entities.Apply(change.Set{Articles: []int{1}})
	for _, k := range []Key{kLarge, kSmall} {
		if _, _, ok := get(k); ok {
			t.Error("a stale answer served")
		}
	}
	if s := c.Stats(); s.Hits != 2 || s.Stores != 2 {
		t.Errorf("stats %+v; want 2 hits, 2 stores", s)
	}
}
