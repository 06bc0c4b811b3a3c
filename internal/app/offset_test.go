package app_test

import (
	"fmt"
	"slices"
	"testing"

	"inkwell/internal/apptest"
)

// Page numbers: every list that takes offset gives, at offset o, the rows o to o+first of
// the whole list, says there is a previous page, and its end cursor continues with after.
func TestOffsetPages(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	e.Follow(t, bob, "ada")
	for i := range 7 {
		a := e.CreateArticle(t, ada, fmt.Sprintf("Numbered page %d", i))
		e.Favorite(t, bob, a.Slug)
		var out map[string]any
		e.MustQuery(t, bob.Token, bmAdd, map[string]any{"s": a.Slug}, &out)
	}
	for i := range 5 {
		e.Follow(t, e.SignUp(t, fmt.Sprintf("fan%d", i)), "ada")
	}
	type page struct {
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			EndCursor                    *string
		}
		Nodes []struct{ Slug, Username string }
	}
	lists := []struct {
		name, query, path string
		total             int
	}{
		{"articles", `query($n: Int, $o: Int, $a: String) { x: articles(first: $n, offset: $o, after: $a) { %s } }`, "x", 7},
		{"feed", `query($n: Int, $o: Int, $a: String) { x: feed(first: $n, offset: $o, after: $a) { %s } }`, "x", 7},
		{"a user's articles", `query($n: Int, $o: Int, $a: String) { u: user(username: "ada") { x: articles(first: $n, offset: $o, after: $a) { %s } } }`, "u", 7},
		{"favorites", `query($n: Int, $o: Int, $a: String) { u: user(username: "bob") { x: favoriteArticles(first: $n, offset: $o, after: $a) { %s } } }`, "u", 7},
		{"followers", `query($n: Int, $o: Int, $a: String) { u: user(username: "ada") { x: followers(first: $n, offset: $o, after: $a) { %s } } }`, "u", 6},
		{"bookmarks", `query($n: Int, $o: Int, $a: String) { u: viewer { x: bookmarks(first: $n, offset: $o, after: $a) { %s } } }`, "u", 7},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			node := "slug"
			if l.name == "followers" {
				node = "username"
			}
			q := fmt.Sprintf(l.query, `pageInfo { hasNextPage hasPreviousPage endCursor } nodes { `+node+` }`)
			read := func(vars map[string]any) page {
				t.Helper()
				r := e.Query(t, bob.Token, q, vars)
				if len(r.Errors) > 0 {
					t.Fatalf("%v: %s", vars, r.Body)
				}
				var top map[string]page
				var nested map[string]map[string]page
				if l.path == "x" {
					r.Decode(t, &top)
					return top["x"]
				}
				r.Decode(t, &nested)
				return nested["u"]["x"]
			}
			names := func(p page) []string {
				var out []string
				for _, n := range p.Nodes {
					out = append(out, n.Slug+n.Username)
				}
				return out
			}
			all := names(read(map[string]any{"n": 50}))
			if len(all) != l.total {
				t.Fatalf("whole list: %d rows, want %d", len(all), l.total)
			}
			p := read(map[string]any{"n": 2, "o": 2})
			if !slices.Equal(names(p), all[2:4]) || !p.PageInfo.HasPreviousPage || !p.PageInfo.HasNextPage {
				t.Errorf("offset 2: %v %+v, want %v", names(p), p.PageInfo, all[2:4])
			}
			next := read(map[string]any{"n": 2, "a": *p.PageInfo.EndCursor})
			if !slices.Equal(names(next), all[4:6]) {
				t.Errorf("after the offset page: %v, want %v", names(next), all[4:6])
			}
			if p := read(map[string]any{"n": 2, "o": 100}); len(p.Nodes) != 0 || p.PageInfo.HasNextPage {
				t.Errorf("offset past the end: %+v", p)
			}
			for _, bad := range []map[string]any{{"o": -1}, {"o": 10_001}, {"o": 2, "a": *p.PageInfo.EndCursor}} {
				if r := e.Query(t, bob.Token, q, bad); r.Code() != "BAD_USER_INPUT" || len(r.Errors[0].Extensions.Fields["offset"]) == 0 {
					t.Errorf("%v: %s", bad, r.Body)
				}
			}
		})
	}
	if r := e.Query(t, "", `{ articles(last: 2, offset: 2) { nodes { slug } } }`, nil); r.Code() != "BAD_USER_INPUT" {
		t.Errorf("last with offset: %s", r.Body)
	}
	r := e.Query(t, "", `{ search(query: "numbered", first: 2, offset: 5) { pageInfo { hasPreviousPage hasNextPage } nodes { ... on Article { slug } } } }`, nil)
	var s struct {
		Search struct {
			PageInfo struct{ HasPreviousPage, HasNextPage bool }
			Nodes    []struct{ Slug string }
		}
	}
	r.Decode(t, &s)
	if len(s.Search.Nodes) != 2 || !s.Search.PageInfo.HasPreviousPage || s.Search.PageInfo.HasNextPage {
		t.Errorf("search at offset 5 of 7: %s", r.Body)
	}
}
