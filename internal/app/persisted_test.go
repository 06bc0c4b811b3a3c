package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"inkwell/internal/app"
	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/pgtest"
)

// These tests speak Apollo's persisted-query protocol over real HTTP, as
// @apollo/client/link/persisted-queries does: the hash alone first (by GET with
// useGETForHashedQueries), the full text by POST when the server does not know it.

func sha256Hex(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

type pqRequest struct {
	get       bool
	query     string // empty: the hash alone
	hash      string // empty: no persistedQuery extension
	variables map[string]any
	token     string
}

type pqResponse struct {
	status int
	header http.Header
	Data   map[string]any  `json:"data"`
	Errors []apptest.Error `json:"errors"`
	raw    []byte
}

func (r *pqResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Extensions.Code
}

func sendPQ(t *testing.T, e *apptest.Env, req pqRequest) *pqResponse {
	t.Helper()
	var ext map[string]any
	if req.hash != "" {
		ext = map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": req.hash}}
	}
	var hr *http.Request
	var err error
	if req.get {
		v := url.Values{}
		if req.query != "" {
			v.Set("query", req.query)
		}
		for name, x := range map[string]any{"variables": req.variables, "extensions": ext} {
			if x != nil {
				b, _ := json.Marshal(x)
				v.Set(name, string(b))
			}
		}
		hr, err = http.NewRequestWithContext(context.Background(), http.MethodGet, e.URL+"/graphql?"+v.Encode(), nil)
	} else {
		body := map[string]any{"variables": req.variables, "extensions": ext}
		if req.query != "" {
			body["query"] = req.query
		}
		b, _ := json.Marshal(body)
		hr, err = http.NewRequestWithContext(context.Background(), http.MethodPost, e.URL+"/graphql", bytes.NewReader(b))
		if err == nil {
			hr.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	res := e.Send(t, hr)
	out := &pqResponse{status: res.Status, header: res.Header, Errors: res.Errors, raw: res.Body}
	if err := json.Unmarshal(res.Data, &out.Data); len(res.Data) > 0 && err != nil {
		t.Fatalf("data is not an object (%d): %s", res.Status, res.Body)
	}
	return out
}

func (r *pqResponse) wantData(t *testing.T) map[string]any {
	t.Helper()
	if r.status != http.StatusOK || len(r.Errors) > 0 || r.Data == nil {
		t.Fatalf("status %d, body %s: want data", r.status, r.raw)
	}
	return r.Data
}

func (r *pqResponse) wantCode(t *testing.T, code string) {
	t.Helper()
	if r.status != http.StatusOK || r.code() != code || r.Data != nil {
		t.Fatalf("status %d, body %s: want 200, no data and %s", r.status, r.raw, code)
	}
}

const pqArticle = `query PQArticle($slug: String!) { article(slug: $slug) { slug title favoritesCount viewerHasFavorited } }`

func TestAutomaticPersistedQueriesEndToEnd(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.PublicCacheMaxAge = time.Minute }))
	alice := e.SignUp(t, "alice")
	art := e.CreateArticle(t, alice, "Persisted Reads")
	e.Favorite(t, alice, art.Slug)
	vars := map[string]any{"slug": art.Slug}
	hash := sha256Hex(pqArticle)

	// 1. The link's first try: the hash alone over GET. The server does not know it yet.
	first := sendPQ(t, e, pqRequest{get: true, hash: hash, variables: vars})
	first.wantCode(t, "PERSISTED_QUERY_NOT_FOUND")
	if len(first.Errors) != 1 || first.Errors[0].Message != "PersistedQueryNotFound" {
		t.Errorf("errors = %+v, want one PersistedQueryNotFound", first.Errors)
	}
	if cc := first.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control of a miss = %q, want no-store: a cached miss would never heal", cc)
	}

	// 2. Its retry: text and hash by POST, which runs the query and registers it.
	got := sendPQ(t, e, pqRequest{query: pqArticle, hash: hash, variables: vars}).wantData(t)
	if a, _ := got["article"].(map[string]any); a["slug"] != art.Slug {
		t.Fatalf("data = %v", got)
	}

	// 3. From now on the hash alone serves it, and an anonymous answer may be shared.
	anon := sendPQ(t, e, pqRequest{get: true, hash: hash, variables: vars})
	a, _ := anon.wantData(t)["article"].(map[string]any)
	if a["favoritesCount"] != float64(1) || a["viewerHasFavorited"] != false {
		t.Errorf("anonymous article = %v", a)
	}
	if cc := anon.header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("anonymous Cache-Control = %q, want public, max-age=60", cc)
	}
	if vary := strings.Join(anon.header.Values("Vary"), ","); !strings.Contains(vary, "Authorization") {
		t.Errorf("Vary = %q, want Authorization so that a shared cache keeps viewers apart", vary)
	}

	// 4. The same URL with a token is the viewer's own answer: never stored.
	mine := sendPQ(t, e, pqRequest{get: true, hash: hash, variables: vars, token: alice.Token})
	if a, _ := mine.wantData(t)["article"].(map[string]any); a["viewerHasFavorited"] != true {
		t.Errorf("alice's article = %v", a)
	}
	if cc := mine.header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("Cache-Control with a token = %q, want private, no-store", cc)
	}

	// 5. Writes stay POST-only, even by hash.
	const fav = `mutation PQFavorite($slug: String!) { favoriteArticle(input: {slug: $slug}) { article { favoritesCount } } }`
	bob := e.SignUp(t, "bob")
	sendPQ(t, e, pqRequest{query: fav, hash: sha256Hex(fav), variables: vars, token: bob.Token}).wantData(t)
	before := e.Count(t, "favorites")
	carol := e.SignUp(t, "carol")
	viaGet := sendPQ(t, e, pqRequest{get: true, hash: sha256Hex(fav), variables: vars, token: carol.Token})
	if viaGet.status != http.StatusMethodNotAllowed || viaGet.code() != "METHOD_NOT_ALLOWED" {
		t.Errorf("mutation by hash over GET: %d %s", viaGet.status, viaGet.raw)
	}
	if n := e.Count(t, "favorites"); n != before {
		t.Errorf("favorites = %d, want %d: a refused GET wrote", n, before)
	}

	// 6. A text that is not its hash is refused, and nothing is stored under the hash.
	const other = `query PQOther { tags(first: 1) { nodes { name } } }`
	sendPQ(t, e, pqRequest{query: pqArticle, hash: sha256Hex(other), variables: vars}).wantCode(t, "PERSISTED_QUERY_HASH_MISMATCH")
	sendPQ(t, e, pqRequest{hash: sha256Hex(other)}).wantCode(t, "PERSISTED_QUERY_NOT_FOUND")
}

func writeManifest(t *testing.T, queries ...string) string {
	t.Helper()
	m := map[string]string{}
	for _, q := range queries {
		m[sha256Hex(q)] = q
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "persisted-queries.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPersistedQueryAllowListEndToEnd(t *testing.T) {
	t.Parallel()
	const signUp = `mutation PQSignUp($in: SignUpInput!) { signUp(input: $in) { accessToken } }`
	const viewer = `query PQViewer { viewer { username } }`
	manifest := writeManifest(t, signUp, viewer, pqArticle)
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
		c.PersistedQueries = "allowlist"
		c.PersistedQueriesFile = manifest
	}))

	in := map[string]any{"in": map[string]any{"username": "dora", "email": "dora@example.com", "password": "password-dora"}}
	up := sendPQ(t, e, pqRequest{query: signUp, variables: in}).wantData(t)
	token, _ := up["signUp"].(map[string]any)["accessToken"].(string)
	if token == "" {
		t.Fatalf("signUp = %v", up)
	}

	t.Run("registered operations run by hash alone", func(t *testing.T) {
		got := sendPQ(t, e, pqRequest{hash: sha256Hex(viewer), token: token}).wantData(t)
		if v, _ := got["viewer"].(map[string]any); v["username"] != "dora" {
			t.Errorf("viewer = %v", got)
		}
		sendPQ(t, e, pqRequest{get: true, hash: sha256Hex(viewer), token: token}).wantData(t)
	})

	t.Run("anything else is refused before it runs", func(t *testing.T) {
		before := e.Snapshot(t)
		for name, req := range map[string]pqRequest{
			"an unregistered query":                    {query: `{ viewer { username email } }`, token: token},
			"an unregistered hash":                     {get: true, hash: sha256Hex(`{ viewer { email } }`), token: token},
			"introspection":                            {query: `{ __schema { types { name } } }`},
			"an unregistered mutation":                 {query: `mutation { signOut(input: {refreshToken: "x"}) { __typename } }`, token: token},
			"a registered query with other whitespace": {query: viewer + "\n", token: token},
		} {
			t.Run(name, func(t *testing.T) {
				sendPQ(t, e, req).wantCode(t, "PERSISTED_QUERY_NOT_ALLOWED")
			})
		}
		if after := e.Snapshot(t); !equalCounts(before, after) {
			t.Errorf("rows changed: %v -> %v", before, after)
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAllowListManifestIsCheckedAtStart(t *testing.T) {
	t.Parallel()
	dsn := app.DatabaseURL(pgtest.New(t))
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	base, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	base.DatabaseURL = dsn
	base.SigningKey = "test-signing-key-0123456789abcdef-0123456789"
	base.StorageDir = t.TempDir()
	base.PersistedQueries = "allowlist"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	stale := `query Stale { viewer { removedField } }`
	wrongHash := filepath.Join(t.TempDir(), "wrong.json")
	if err := os.WriteFile(wrongHash, []byte(`{"`+sha256Hex("{ __typename }")+`": "query X { __typename }"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		file string
		want []string
	}{
		{"an operation the schema no longer has", writeManifest(t, `query Fine { viewer { username } }`, stale),
			[]string{"persisted-queries.json", sha256Hex(stale), `Cannot query field "removedField" on type "User"`}},
		{"a hash that is not its text's", wrongHash, []string{"wrong.json", "not the SHA-256 of its text"}},
		{"a missing file", filepath.Join(t.TempDir(), "absent.json"), []string{"absent.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.PersistedQueriesFile = tc.file
			a, err := app.New(db, cfg, log)
			if err == nil {
				a.Close()
				t.Fatal("the server started")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
