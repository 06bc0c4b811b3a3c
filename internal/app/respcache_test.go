package app_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"inkwell/internal/apptest"
)

// twice reads query as token and checks that the second, identical read was answered by
// the response cache: no statement, the same bytes, one more hit.
func twice(t *testing.T, e *apptest.Env, token, query string, vars map[string]any) string {
	t.Helper()
	first := e.Query(t, token, query, vars)
	hits := e.App.Responses.Stats().Hits
	second := e.Query(t, token, query, vars)
	if second.Statements != 0 || e.App.Responses.Stats().Hits != hits+1 {
		t.Fatalf("repeated read cost %d statements and %d hits; want 0 and 1",
			second.Statements, e.App.Responses.Stats().Hits-hits)
	}
	if string(first.Body) != string(second.Body) {
		t.Fatalf("the kept answer differs:\n%s\n%s", first.Body, second.Body)
	}
	return string(second.Body)
}

const (
	rcFeed = `{ feed(first: 5) { totalCount nodes { slug title favoritesCount viewerHasFavorited
		author { username } tags { name } comments(first: 3) { nodes { body author { username } } } } } }`
	rcArticle = `query($s: String!) { article(slug: $s) { slug title viewerHasFavorited favoritesCount
		author { username viewerIsFollowing followersCount } } }`
	rcTags     = `{ tags(first: 20) { nodes { name articlesCount } } }`
	rcArticles = `{ articles(first: 5) { totalCount nodes { slug } } }`
	rcViewer   = `{ viewer { username email } }`
)

func TestResponseCacheAnswersRepeatedQueries(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Kept", "go")
	e.AddComment(t, bob, art.Slug, "hello")
	e.Follow(t, bob, "ada")
	for _, tc := range []struct {
		name, token, query string
		vars               map[string]any
	}{
		{"article page, anonymous", "", rcArticle, map[string]any{"s": art.Slug}},
		{"article page, signed in", bob.Token, rcArticle, map[string]any{"s": art.Slug}},
		{"feed", bob.Token, rcFeed, nil},
		{"tags", "", rcTags, nil},
		{"articles", "", rcArticles, nil},
		{"viewer", ada.Token, rcViewer, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { twice(t, e, tc.token, tc.query, tc.vars) })
	}
}

// An answer is kept for the viewer it was built for: another viewer, or nobody, with the
// same request bytes gets an answer of their own.
func TestResponseCacheIsPerViewer(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada, bob, cy := e.SignUp(t, "ada"), e.SignUp(t, "bob"), e.SignUp(t, "cy")
	art := e.CreateArticle(t, ada, "Mine", "go")
	e.Favorite(t, bob, art.Slug)
	e.Follow(t, bob, "ada")
	vars := map[string]any{"s": art.Slug}
	for range 2 { // the second round reads each viewer's kept answer
		for _, tc := range []struct {
			name, token, want string
		}{
			{"bob", bob.Token, `"viewerHasFavorited":true,"favoritesCount":1,"author":{"username":"ada","viewerIsFollowing":true`},
			{"cy", cy.Token, `"viewerHasFavorited":false,"favoritesCount":1,"author":{"username":"ada","viewerIsFollowing":false`},
			{"anonymous", "", `"viewerHasFavorited":false,"favoritesCount":1,"author":{"username":"ada","viewerIsFollowing":false`},
		} {
			if got := string(e.Query(t, tc.token, rcArticle, vars).Body); !strings.Contains(got, tc.want) {
				t.Errorf("%s reads %s", tc.name, got)
			}
		}
		for _, u := range []*apptest.User{ada, bob, cy} {
			if got := string(e.Query(t, u.Token, rcViewer, nil).Body); !strings.Contains(got, `"email":"`+u.Email+`"`) {
				t.Errorf("%s's viewer: %s", u.Username, got)
			}
		}
	}
	if e.App.Responses.Stats().Hits == 0 {
		t.Error("no answer was served from the cache: the test proves nothing")
	}
}

// Every write is seen by the next read of the instance that answered it, also when that
// read's answer was kept: lists, counts and the viewer's own flags included.
func TestResponseCacheReadsYourWrites(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	first := e.CreateArticle(t, ada, "First", "go")
	var second *apptest.Article
	for _, tc := range []struct {
		name, token, query string
		vars               func() map[string]any
		write              func()
		want               string
	}{
		{"the feed, after following", bob.Token, rcFeed, nil,
			func() { e.Follow(t, bob, "ada") }, `"slug":"` + first.Slug + `"`},
		{"the feed, after the followed author publishes", bob.Token, rcFeed, nil,
			func() { second = e.CreateArticle(t, ada, "Second", "rust") }, `"totalCount":2`},
		{"the feed's flags, after favoriting", bob.Token, rcFeed, nil,
			func() { e.Favorite(t, bob, first.Slug) }, `"favoritesCount":1,"viewerHasFavorited":true`},
		{"the feed's comments, after commenting", bob.Token, rcFeed, nil,
			func() { e.AddComment(t, ada, first.Slug, "thanks") }, `"body":"thanks"`},
		{"the feed, after unfollowing", bob.Token, rcFeed, nil, func() {
			e.MustQuery(t, bob.Token, `mutation { unfollowUser(input: {username: "ada"}) { user { id } } }`, nil, &map[string]any{})
		}, `"totalCount":0`},
		{"an author's flag, after following", bob.Token, rcArticle, func() map[string]any { return map[string]any{"s": first.Slug} },
			func() { e.Follow(t, bob, "ada") }, `"viewerIsFollowing":true,"followersCount":1`},
		{"the tags, after an article's tags change", "", rcTags, nil, func() {
			e.MustQuery(t, ada.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, tags: ["zig"]}) { article { slug } } }`,
				map[string]any{"s": first.Slug}, &map[string]any{})
		}, `{"name":"zig","articlesCount":1}`},
		{"another article's tag counts, after a new article shares its tag", "",
			`query($s: String!) { article(slug: $s) { tags { name articlesCount } } }`,
			func() map[string]any { return map[string]any{"s": first.Slug} },
			func() { e.CreateArticle(t, bob, "Also zig", "zig") }, `{"name":"zig","articlesCount":2}`},
		{"a slug that named nothing, after an article takes it", "", rcArticle,
			func() map[string]any { return map[string]any{"s": "a-title-to-come"} },
			func() { e.CreateArticle(t, bob, "A title to come") }, `"slug":"a-title-to-come"`},
		{"the list, after a deletion", "", rcArticles, nil, func() {
			e.MustQuery(t, ada.Token, `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`,
				map[string]any{"s": second.Slug}, &map[string]any{})
		}, `"totalCount":3`},
		{"the viewer, after a profile edit", ada.Token, `{ viewer { username bio } }`, nil, func() {
			e.MustQuery(t, ada.Token, `mutation { updateViewer(input: {bio: "edited"}) { user { id } } }`, nil, &map[string]any{})
		}, `"bio":"edited"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vars map[string]any
			if tc.vars != nil {
				vars = tc.vars()
			}
			if before := twice(t, e, tc.token, tc.query, vars); strings.Contains(before, tc.want) {
				t.Fatalf("the answer before the write already holds %s: the test proves nothing", tc.want)
			}
			tc.write()
			if got := string(e.Query(t, tc.token, tc.query, vars).Body); !strings.Contains(got, tc.want) {
				t.Errorf("read after the write: %s; want %s in it", got, tc.want)
			}
		})
	}
}

// What reads rows no cache key names (here a list of followers, a filtered list, a single
// comment) is executed every time, and so are answers with errors.
func TestResponseCacheKeepsOnlyWhatItCanCheck(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Listed", "go")
	e.Follow(t, bob, "ada")
	comment := e.AddComment(t, bob, art.Slug, "hi")
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
	}{
		{"followers", `{ user(username: "ada") { followers(first: 5) { nodes { username } } } }`, nil},
		{"a filtered list", `{ articles(first: 5, filter: {tag: "go"}) { nodes { slug } } }`, nil},
		{"a comment by id", `query($id: ID!) { node(id: $id) { ... on Comment { body } } }`, map[string]any{"id": comment}},
		{"an error", `{ articles(first: 100000) { nodes { slug } } }`, nil},
		{"a user who does not exist yet", `{ node(id: "VXNlcjo5OTk") { id } }`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 3 {
				r := e.Query(t, "", tc.query, tc.vars)
				if tc.name == "an error" && r.Code() == "" {
					t.Fatalf("no error: %s", r.Body)
				}
				if i > 0 && r.Statements == 0 && tc.name != "an error" {
					t.Fatalf("read %d sent no statement: it was answered from the cache", i+1)
				}
			}
		})
	}
	if s := e.App.Responses.Stats(); s.Hits != 0 || s.Stores != 0 || s.Refused == 0 {
		t.Errorf("hits %d, stores %d, refused %d; want none kept, some refused", s.Hits, s.Stores, s.Refused)
	}
}

// A kept answer is sent compressed to a client that accepts gzip, and as it is to one
// that does not; both carry the same JSON.
func TestResponseCacheCompressesKeptAnswers(t *testing.T) {
	t.Parallel()
	e := cached(t)
	ada := e.SignUp(t, "ada")
	// Answers under about one packet are kept as they are: this one is larger.
	var created struct {
		CreateArticle struct{ Article struct{ Slug string } }
	}
	e.MustQuery(t, ada.Token, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`,
		map[string]any{"in": map[string]any{"title": "Squeezed", "description": "long", "tags": []string{"go"},
			"body": strings.Repeat("A sentence that repeats, as long bodies do. ", 100)}}, &created)
	const page = `query($s: String!) { article(slug: $s) { slug title body } }`
	vars := map[string]any{"s": created.CreateArticle.Article.Slug}
	want := twice(t, e, "", page, vars) // Go's client asks for gzip and undoes it

	plain := e.Do(t, apptest.Request{Query: page, Variables: vars, Header: map[string]string{"Accept-Encoding": "identity"}})
	if string(plain.Body) != want || plain.Header.Get("Content-Encoding") != "" || plain.Statements != 0 {
		t.Errorf("without gzip: %q encoded, %d statements: %s", plain.Header.Get("Content-Encoding"), plain.Statements, plain.Body)
	}

	body, err := json.Marshal(map[string]any{"query": page, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the client leaves the body compressed
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" || !slices.Contains(res.Header.Values("Vary"), "Accept-Encoding") {
		t.Fatalf("Content-Encoding %q, Vary %q; want gzip, and Accept-Encoding in Vary",
			res.Header.Get("Content-Encoding"), res.Header.Values("Vary"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("compressed answer:\n%s\nwant\n%s", got, want)
	}
}
