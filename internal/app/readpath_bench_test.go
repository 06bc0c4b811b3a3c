package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"inkwell/internal/apptest"
	"inkwell/internal/config"
)

// The read path's cost per request, in process (no network, no load generator): the
// bench's W1 and W2 documents through the whole handler, middleware included, against
// a small seeded database. With the entity cache on (warm, as under load) and off.
//
//	go test -run '^$' -bench ReadPath -benchmem ./internal/app
func BenchmarkReadPath(b *testing.B) {
	for _, cacheMB := range []int{16, 0} {
		e := apptest.New(b, apptest.WithConfig(func(c *config.Config) { c.EntityCacheMB = cacheMB }))
		if cacheMB > 0 {
			waitListening(b, e)
		}
		viewer := e.SignUp(b, "viewer")
		var slug string
		for i := range 10 {
			author := e.SignUp(b, fmt.Sprintf("author%d", i))
			e.Follow(b, viewer, author.Username)
			for j := range 3 {
				a := e.CreateArticle(b, author, fmt.Sprintf("Article %d of %d", j, i), "go", "db", fmt.Sprintf("t%d", j))
				for k := range 4 {
					e.AddComment(b, viewer, a.Slug, fmt.Sprintf("comment %d", k))
				}
				slug = a.Slug
			}
		}
		for _, w := range []struct {
			name, file, token string
			vars              map[string]any
		}{
			{"W1 home feed", "W1_home_feed.graphql", viewer.Token, nil},
			{"W2 article page", "W2_article_page.graphql", "", map[string]any{"slug": slug}},
		} {
			doc, err := os.ReadFile("../../bench/workloads/" + w.file)
			if err != nil {
				b.Fatal(err)
			}
			body, err := json.Marshal(map[string]any{"query": string(doc), "variables": w.vars})
			if err != nil {
				b.Fatal(err)
			}
			serve := func() {
				r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				if w.token != "" {
					r.Header.Set("Authorization", "Bearer "+w.token)
				}
				rec := httptest.NewRecorder()
				e.App.Handler.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
					b.Fatalf("HTTP %d: %.300s", rec.Code, rec.Body)
				}
			}
			b.Run(fmt.Sprintf("%s, cache %d MB", w.name, cacheMB), func(b *testing.B) {
				serve() // warm the caches
				b.ReportAllocs()
				for b.Loop() {
					serve()
				}
			})
		}
	}
}
