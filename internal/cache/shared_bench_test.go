package cache

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"inkwell/ent"
	"inkwell/internal/ratelimit/redistest"
)

// pageValues are the values a W1 page reads from the cache (issue 11 asked whether Redis,
// shared by every instance, would beat this instance's memory): 20 articles of the bench's
// sizes (a ~1 KB body and its HTML), their 20 authors and 20 tag lists.
func pageValues() (arts []*ent.Article, users []*ent.User, tags [][]*ent.Tag) {
	now := time.Now().UTC()
	for i := range 20 {
		arts = append(arts, &ent.Article{ID: i + 1, Slug: "article-" + strconv.Itoa(i), Title: strings.Repeat("t", 60),
			Description: strings.Repeat("d", 200), Body: strings.Repeat("b ", 500), BodyHTML: "<p>" + strings.Repeat("b ", 600) + "</p>",
			Excerpt: strings.Repeat("e", 200), WordCount: 500, ReadingTimeMinutes: 2, AuthorID: 100 + i,
			FavoritesCount: i, CreatedAt: now, UpdatedAt: now})
		users = append(users, &ent.User{ID: 100 + i, Username: "user" + strconv.Itoa(i), Bio: strings.Repeat("b", 120),
			Image: "https://img.inkwell.test/u/" + strconv.Itoa(i) + ".jpg", CreatedAt: now, UpdatedAt: now})
		tags = append(tags, []*ent.Tag{{ID: i, Name: "tag-" + strconv.Itoa(i)}, {ID: i + 1, Name: "tag-" + strconv.Itoa(i+1)}})
	}
	return arts, users, tags
}

// BenchmarkPageLookup reads one W1 page's 60 values from this instance's cache, and from
// Redis on loopback as a shared cache would: one MGET, then decoding the values (JSON, as
// ent's rows have no other encoding at hand). Run: go test -run '^$' -bench PageLookup
// -benchmem ./internal/cache
func BenchmarkPageLookup(b *testing.B) {
	arts, users, tags := pageValues()

	b.Run("in-process", func(b *testing.B) {
		c := New(64 << 20)
		c.SetListening(true)
		for i := range arts {
			Fill(c, c.Epoch(Article), arts[i].ID, arts[i], 4096)
			Fill(c, c.Epoch(User), users[i].ID, users[i], 1024)
			Fill(c, c.Epoch(Tags), arts[i].ID, tags[i], 256)
		}
		b.ReportAllocs()
		for b.Loop() {
			for i := range arts {
				a, ok1 := Get[*ent.Article](bg, c, Article, arts[i].ID)
				_, ok2 := Get[*ent.User](bg, c, User, a.AuthorID)
				_, ok3 := Get[[]*ent.Tag](bg, c, Tags, a.ID)
				if !ok1 || !ok2 || !ok3 {
					b.Fatal("a miss")
				}
			}
		}
	})

	b.Run("redis", func(b *testing.B) {
		opt, err := redis.ParseURL(redistest.Start(b))
		if err != nil {
			b.Fatal(err)
		}
		conn := redis.NewClient(opt)
		defer func() { _ = conn.Close() }()
		keys := make([]string, 0, 3*len(arts))
		for i := range arts {
			for _, kv := range []struct {
				k string
				v any
			}{{"a:" + strconv.Itoa(arts[i].ID), arts[i]}, {"u:" + strconv.Itoa(users[i].ID), users[i]}, {"t:" + strconv.Itoa(arts[i].ID), tags[i]}} {
				v, err := json.Marshal(kv.v)
				if err != nil {
					b.Fatal(err)
				}
				if err := conn.Set(bg, kv.k, v, 0).Err(); err != nil {
					b.Fatal(err)
				}
				keys = append(keys, kv.k)
			}
		}
		b.ReportAllocs()
		b.Run("MGET only", func(b *testing.B) {
			for b.Loop() {
				if vals, err := conn.MGet(bg, keys...).Result(); err != nil || len(vals) != len(keys) {
					b.Fatalf("MGET: %d values, %v", len(vals), err)
				}
			}
		})
		b.Run("MGET and decode", func(b *testing.B) {
			for b.Loop() {
				vals, err := conn.MGet(bg, keys...).Result()
				if err != nil || len(vals) != len(keys) {
					b.Fatalf("MGET: %d values, %v", len(vals), err)
				}
				decode(b, vals)
			}
		})
	})
}

// decode decodes MGET's values, which go-redis answers as strings.
func decode(b *testing.B, vals []any) {
	raw := func(v any) []byte { s, _ := v.(string); return []byte(s) }
	for j := 0; j < len(vals); j += 3 {
		var a ent.Article
		var u ent.User
		var t []*ent.Tag
		if json.Unmarshal(raw(vals[j]), &a) != nil || json.Unmarshal(raw(vals[j+1]), &u) != nil || json.Unmarshal(raw(vals[j+2]), &t) != nil {
			b.Fatal("decode")
		}
	}
}
