package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"inkwell/internal/server"
)

func sha(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:])
}

func persisted(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

// postExt is a POST with extensions; an empty query is left out, as Apollo's link does.
func postExt(query string, ext map[string]any) *http.Request {
	body := map[string]any{"extensions": ext}
	if query != "" {
		body["query"] = query
	}
	b, _ := json.Marshal(body)
	r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// getExt is a GET with extensions and, when not empty, the query text.
func getExt(query string, ext map[string]any) *http.Request {
	v := url.Values{}
	if query != "" {
		v.Set("query", query)
	}
	b, _ := json.Marshal(ext)
	v.Set("extensions", string(b))
	return httptest.NewRequest(http.MethodGet, "/graphql?"+v.Encode(), nil)
}

func wantData(t *testing.T, rec *httptest.ResponseRecorder, want string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	resp := decode(t, rec)
	if len(resp.Errors) > 0 || string(resp.Data) != want {
		t.Fatalf("body %s, want data %s", rec.Body, want)
	}
}

func TestAutomaticPersistedQueries(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, server.DefaultConfig(), server.Deps{})
	const typename = `{"__typename":"Query"}`

	t.Run("an unknown hash asks for the text, with the code Apollo's link retries on", func(t *testing.T) {
		t.Parallel()
		q := "query Unknown1 { __typename }"
		e := wantError(t, serve(h, postExt("", persisted(sha(q)))), http.StatusOK, "PERSISTED_QUERY_NOT_FOUND")
		if e.Message != "PersistedQueryNotFound" {
			t.Errorf("message = %q, want PersistedQueryNotFound", e.Message)
		}
	})

	t.Run("with graphql-response+json an unknown hash is a 400 like other refusals", func(t *testing.T) {
		t.Parallel()
		r := postExt("", persisted(sha("query Unknown2 { __typename }")))
		r.Header.Set("Accept", "application/graphql-response+json")
		wantError(t, serve(h, r), http.StatusBadRequest, "PERSISTED_QUERY_NOT_FOUND")
	})

	t.Run("text and hash register the query; then the hash alone runs it, by POST and GET", func(t *testing.T) {
		t.Parallel()
		q := "query Registered { __typename }"
		wantData(t, serve(h, postExt(q, persisted(sha(q)))), typename)
		wantData(t, serve(h, postExt("", persisted(sha(q)))), typename)
		wantData(t, serve(h, getExt("", persisted(sha(q)))), typename)
	})

	t.Run("a GET registers too", func(t *testing.T) {
		t.Parallel()
		q := "query RegisteredByGet { __typename }"
		wantData(t, serve(h, getExt(q, persisted(sha(q)))), typename)
		wantData(t, serve(h, getExt("", persisted(sha(q)))), typename)
	})

	t.Run("an upper-case hash is the same hash", func(t *testing.T) {
		t.Parallel()
		q := "query Upper { __typename }"
		wantData(t, serve(h, postExt(q, persisted(strings.ToUpper(sha(q))))), typename)
		wantData(t, serve(h, postExt("", persisted(sha(q)))), typename)
	})

	t.Run("a hash that is not the text's is refused and not stored", func(t *testing.T) {
		t.Parallel()
		q, other := "query Mismatch { __typename }", "query Other { __typename }"
		e := wantError(t, serve(h, postExt(q, persisted(sha(other)))), http.StatusOK, "PERSISTED_QUERY_HASH_MISMATCH")
		if !strings.Contains(e.Message, "sha256Hash") {
			t.Errorf("message = %q", e.Message)
		}
		wantError(t, serve(h, postExt("", persisted(sha(other)))), http.StatusOK, "PERSISTED_QUERY_NOT_FOUND")
	})

	t.Run("a malformed extension is a bad request", func(t *testing.T) {
		t.Parallel()
		q := "{ __typename }"
		for name, ext := range map[string]map[string]any{
			"version 2":      {"persistedQuery": map[string]any{"version": 2, "sha256Hash": sha(q)}},
			"no version":     {"persistedQuery": map[string]any{"sha256Hash": sha(q)}},
			"short hash":     {"persistedQuery": map[string]any{"version": 1, "sha256Hash": "abc"}},
			"not hex":        {"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("z", 64)}},
			"not an object":  {"persistedQuery": "yes"},
			"hash not a str": {"persistedQuery": map[string]any{"version": 1, "sha256Hash": 12}},
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, serve(h, postExt(q, ext)), http.StatusOK, "BAD_REQUEST")
			})
		}
	})

	t.Run("a mutation sent by hash over GET is still 405", func(t *testing.T) {
		t.Parallel()
		// Registered by a POST whose execution fails (no resolvers here): the text is
		// stored before it runs.
		q := `mutation { signOut(input: {refreshToken: "x"}) { __typename } }`
		serve(h, postExt(q, persisted(sha(q))))
		rec := serve(h, getExt("", persisted(sha(q))))
		wantError(t, rec, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	})

	t.Run("a long text runs but is not kept", func(t *testing.T) {
		t.Parallel()
		// A comment is part of the text, and so of the hash.
		q := "# " + strings.Repeat("x", 40<<10) + "\nquery Long { __typename }"
		wantData(t, serve(h, postExt(q, persisted(sha(q)))), typename)
		wantError(t, serve(h, postExt("", persisted(sha(q)))), http.StatusOK, "PERSISTED_QUERY_NOT_FOUND")
	})

	t.Run("requests without the extension are unchanged", func(t *testing.T) {
		t.Parallel()
		wantData(t, serve(h, post("{ __typename }")), typename)
	})
}

func TestPersistedQueriesOff(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	cfg.PersistedQueries = server.PersistedOff
	h, _ := newHandler(t, cfg, server.Deps{})
	q := "{ __typename }"

	for name, r := range map[string]*http.Request{
		"hash alone":    postExt("", persisted(sha(q))),
		"hash and text": postExt(q, persisted(sha(q))),
		"GET":           getExt("", persisted(sha(q))),
	} {
		t.Run(name+" is not supported, which tells the link to send full queries", func(t *testing.T) {
			t.Parallel()
			e := wantError(t, serve(h, r), http.StatusOK, "PERSISTED_QUERY_NOT_SUPPORTED")
			if e.Message != "PersistedQueryNotSupported" {
				t.Errorf("message = %q", e.Message)
			}
		})
	}
	t.Run("a full query runs", func(t *testing.T) {
		t.Parallel()
		wantData(t, serve(h, post(q)), `{"__typename":"Query"}`)
	})
}

// allowListed is the manifest the allow-list tests serve.
var allowListed = []string{
	"query Typename { __typename }",
	`mutation SignOut { signOut(input: {refreshToken: "x"}) { __typename } }`,
}

func manifestJSON(t *testing.T, queries ...string) []byte {
	t.Helper()
	m := map[string]string{}
	for _, q := range queries {
		m[sha(q)] = q
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPersistedQueryAllowList(t *testing.T) {
	t.Parallel()
	manifest, err := server.ParseManifest(manifestJSON(t, allowListed...), realSchema().Schema())
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.PersistedQueries = server.PersistedAllowList
	cfg.Manifest = manifest
	h, _ := newHandler(t, cfg, server.Deps{})
	registered := allowListed[0]
	const typename = `{"__typename":"Query"}`

	t.Run("a registered operation runs by hash, by text, or both", func(t *testing.T) {
		t.Parallel()
		wantData(t, serve(h, postExt("", persisted(sha(registered)))), typename)
		wantData(t, serve(h, getExt("", persisted(sha(registered)))), typename)
		wantData(t, serve(h, post(registered)), typename)
		wantData(t, serve(h, postExt(registered, persisted(sha(registered)))), typename)
	})

	for name, r := range map[string]*http.Request{
		"an unregistered text":                post("{ __typename }"),
		"an unregistered text over GET":       get("{ __typename }"),
		"an unknown hash":                     postExt("", persisted(sha("{ __typename }"))),
		"introspection":                       post("{ __schema { queryType { name } } }"),
		"a registered text with a whitespace": post(registered + " "),
		"no query at all":                     postExt("", nil),
	} {
		t.Run(name+" is refused", func(t *testing.T) {
			t.Parallel()
			e := wantError(t, serve(h, r), http.StatusOK, "PERSISTED_QUERY_NOT_ALLOWED")
			if !strings.Contains(e.Message, "registered") {
				t.Errorf("message = %q", e.Message)
			}
		})
	}

	t.Run("a registered text with another text's hash is a mismatch", func(t *testing.T) {
		t.Parallel()
		wantError(t, serve(h, postExt(registered, persisted(sha(allowListed[1])))), http.StatusOK, "PERSISTED_QUERY_HASH_MISMATCH")
	})

	t.Run("a registered mutation still cannot go over GET", func(t *testing.T) {
		t.Parallel()
		wantError(t, serve(h, getExt("", persisted(sha(allowListed[1])))), http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	})
}

func TestParseManifest(t *testing.T) {
	t.Parallel()
	schema := realSchema().Schema()
	good := "query Typename { __typename }"
	for _, tc := range []struct {
		name string
		json string
		want []string // each must appear in the error; none means valid
	}{
		{"valid", string(manifestJSON(t, good, "query Viewer { viewer { username } }")), nil},
		{"not JSON", `{"a":`, []string{"not a JSON object"}},
		{"not strings", `{"a": 1}`, []string{"not a JSON object"}},
		{"empty", `{}`, []string{"no operations"}},
		{"a key that is not a hash", `{"abc": "{ __typename }"}`, []string{`"abc": not a lower-case hex SHA-256`}},
		{"an upper-case key", `{"` + strings.ToUpper(sha(good)) + `": "` + good + `"}`, []string{"not a lower-case hex SHA-256"}},
		{"a hash of another text", `{"` + sha("{ __typename }") + `": "` + good + `"}`,
			[]string{sha("{ __typename }") + ": not the SHA-256 of its text (" + sha(good) + ")"}},
		{"an unknown field", string(manifestJSON(t, "query Nope { nope }")), []string{sha("query Nope { nope }"), `Cannot query field "nope"`}},
		{"a syntax error", string(manifestJSON(t, "query Broken {")), []string{sha("query Broken {"), "Expected Name"}},
		{"every bad entry is reported", string(manifestJSON(t, good, "{ a }", "{ b }")), []string{sha("{ a }"), sha("{ b }")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := server.ParseManifest([]byte(tc.json), schema)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if m.Len() != 2 {
					t.Errorf("Len = %d, want 2", m.Len())
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	t.Run("a file that does not exist", func(t *testing.T) {
		t.Parallel()
		_, err := server.LoadManifest(filepath.Join(t.TempDir(), "missing.json"), schema)
		if err == nil || !strings.Contains(err.Error(), "missing.json") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a file names itself in its errors", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "pq.json")
		if err := os.WriteFile(path, []byte(`{}`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := server.LoadManifest(path, schema)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestGETCaching(t *testing.T) {
	t.Parallel()
	q := "query Cached { __typename }"
	withBearer := func(r *http.Request) *http.Request {
		r.Header.Set("Authorization", "Bearer x")
		return r
	}
	cacheable := server.DefaultConfig()
	cacheable.PublicCacheMaxAge = 90 * time.Second
	h, _ := newHandler(t, cacheable, server.Deps{})
	off, _ := newHandler(t, server.DefaultConfig(), server.Deps{})
	serve(h, postExt(q, persisted(sha(q))))
	serve(off, postExt(q, persisted(sha(q))))

	for _, tc := range []struct {
		name string
		h    http.Handler
		r    *http.Request
		want string
	}{
		{"an anonymous answer is public when configured", h, getExt("", persisted(sha(q))), "public, max-age=90"},
		{"a full GET query too", h, get(q), "public, max-age=90"},
		{"by default nothing is stored", off, getExt("", persisted(sha(q))), "no-store"},
		{"an answer to a token is private", h, withBearer(getExt("", persisted(sha(q)))), "private, no-store"},
		{"an answer to a token is private by default too", off, withBearer(get(q)), "private, no-store"},
		{"an unknown hash is not stored, or the client could never register it",
			h, getExt("", persisted(sha("query Unknown { __typename }"))), "no-store"},
		{"a validation error is not stored", h, get("{ nope }"), "no-store"},
		{"a malformed request is not stored", h, httptest.NewRequest(http.MethodGet, "/graphql?variables=%5B", nil), "no-store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := serve(tc.h, tc.r)
			if got := rec.Header().Get("Cache-Control"); got != tc.want {
				t.Errorf("Cache-Control = %q, want %q; body %s", got, tc.want, rec.Body)
			}
			vary := strings.Join(rec.Header().Values("Vary"), ", ")
			for _, v := range []string{"Authorization", "Accept"} {
				if !strings.Contains(vary, v) {
					t.Errorf("Vary = %q, want it to name %s", vary, v)
				}
			}
		})
	}

	t.Run("an answer with a field error is not stored", func(t *testing.T) {
		t.Parallel()
		deps := withViewer(func(context.Context) (any, error) { return nil, errors.New("boom") })
		h, _ := newHandler(t, cacheable, deps)
		rec := serve(h, get("{ viewer { username } }"))
		if resp := decode(t, rec); len(resp.Errors) == 0 {
			t.Fatalf("want a field error; body %s", rec.Body)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	})

	t.Run("POST answers carry no caching headers", func(t *testing.T) {
		t.Parallel()
		rec := serve(h, post(q))
		if got := rec.Header().Get("Cache-Control"); got != "" {
			t.Errorf("Cache-Control = %q", got)
		}
	})
}
