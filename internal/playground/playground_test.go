package playground_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"inkwell/internal/playground"
)

func get(t *testing.T, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	playground.Handler().ServeHTTP(rec, r)
	return rec
}

var (
	scriptTag = regexp.MustCompile(`<script\b[^>]*>`)
	assetURL  = regexp.MustCompile(`(?:src|href)="(/playground/[^"]+)"`)
	configTag = regexp.MustCompile(`(?s)<script id="playground-config" type="application/json">(.*?)</script>`)
)

// page fetches the index and returns its body.
func page(t *testing.T) string {
	t.Helper()
	rec := get(t, http.MethodGet, "/", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET / = %d", rec.Code)
	}
	return rec.Body.String()
}

func TestIndex(t *testing.T) {
	t.Parallel()
	rec := get(t, http.MethodGet, "/", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-cache",
		"Content-Security-Policy": playground.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	csp := playground.ContentSecurityPolicy
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("CSP allows inline or eval'd scripts: %s", csp)
	}

	body := rec.Body.String()
	tags := scriptTag.FindAllString(body, -1)
	if len(tags) != 5 {
		t.Fatalf("script tags = %q, want the config and four scripts", tags)
	}
	for _, tag := range tags {
		// The one element without src is data, which a CSP without 'unsafe-inline' allows.
		if !strings.Contains(tag, ` src="/playground/`) && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline or foreign script: %s", tag)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, `"//`) {
		t.Error("the page names another origin")
	}
}

func TestIndexRevalidates(t *testing.T) {
	t.Parallel()
	etag := get(t, http.MethodGet, "/", nil).Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if rec := get(t, http.MethodGet, "/", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified {
		t.Errorf("If-None-Match = %d, want 304", rec.Code)
	}
}

func TestPageConfig(t *testing.T) {
	t.Parallel()
	m := configTag.FindStringSubmatch(page(t))
	if m == nil {
		t.Fatal("no #playground-config")
	}
	// The token hint holds < and >: written raw, an example's text could end the element.
	if strings.ContainsAny(m[1], "<>&") {
		t.Errorf("config holds an unescaped <, > or &: %s", m[1])
	}
	var cfg struct {
		Endpoint  string
		TokenHint string
		Headers   string
		Tabs      []struct{ Query, Variables, Headers string }
	}
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config is not JSON: %v\n%s", err, m[1])
	}
	if cfg.Endpoint != "/graphql" || cfg.TokenHint != playground.TokenHint {
		t.Errorf("endpoint %q, token hint %q", cfg.Endpoint, cfg.TokenHint)
	}
	var headers map[string]string
	if err := json.Unmarshal([]byte(cfg.Headers), &headers); err != nil {
		t.Fatalf("default headers are not JSON: %v", err)
	}
	if got := headers["Authorization"]; got != "Bearer "+playground.TokenHint {
		t.Errorf("Authorization hint = %q", got)
	}
	examples, err := playground.Examples()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tabs) != len(examples) {
		t.Fatalf("%d tabs, %d examples", len(cfg.Tabs), len(examples))
	}
	for i, ex := range examples {
		tab := cfg.Tabs[i]
		if tab.Query != ex.Query || tab.Variables != ex.Variables || tab.Headers != cfg.Headers {
			t.Errorf("tab %d differs from example %s", i, ex.Name)
		}
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	urls := assetURL.FindAllStringSubmatch(page(t), -1)
	files := map[string]string{
		"react.production.min":     "assets/react.production.min.js",
		"react-dom.production.min": "assets/react-dom.production.min.js",
		"graphiql.min":             "assets/graphiql.min.js",
		"graphiql.min.css":         "assets/graphiql.min.css",
		"playground":               "static/playground.js",
		"playground.css":           "static/playground.css",
	}
	if len(urls) != len(files) {
		t.Fatalf("asset URLs = %q, want %d", urls, len(files))
	}
	hashed := regexp.MustCompile(`^/playground/(.+)\.[0-9a-f]{12}\.(js|css)$`)
	for _, u := range urls {
		m := hashed.FindStringSubmatch(u[1])
		if m == nil {
			t.Errorf("%s carries no content hash", u[1])
			continue
		}
		key, ext := m[1], m[2]
		if ext == "css" {
			key += ".css"
		}
		file, ok := files[key]
		if !ok {
			t.Errorf("unexpected asset %s", u[1])
			continue
		}
		want := readAsset(t, file)
		rec := get(t, http.MethodGet, u[1], nil)
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("GET %s = %d, %d bytes, want %s (%d bytes)", u[1], rec.Code, rec.Body.Len(), file, len(want))
		}
		wantType := map[string]string{"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}[ext]
		if got := rec.Header().Get("Content-Type"); got != wantType {
			t.Errorf("%s Content-Type = %q, want %q", u[1], got, wantType)
		}
		if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s Cache-Control = %q", u[1], got)
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s X-Content-Type-Options = %q", u[1], got)
		}
		if rec.Header().Get("Content-Encoding") != "" {
			t.Errorf("%s compressed for a client that asked for no compression", u[1])
		}
	}
}

func TestAssetGzip(t *testing.T) {
	t.Parallel()
	var js string
	for _, u := range assetURL.FindAllStringSubmatch(page(t), -1) {
		if strings.Contains(u[1], "graphiql.min.") && strings.HasSuffix(u[1], ".js") {
			js = u[1]
		}
	}
	if js == "" {
		t.Fatal("no graphiql script on the page")
	}
	plain := get(t, http.MethodGet, js, nil)

	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, gzip;q=0.5", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip;q=0.000, *", false},
		{"*;q=0, gzip", true},
		{"br", false},
		{"identity", false},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			rec := get(t, http.MethodGet, js, map[string]string{"Accept-Encoding": tc.accept})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			if got := rec.Header().Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q", got)
			}
			gzipped := rec.Header().Get("Content-Encoding") == "gzip"
			if gzipped != tc.gzip {
				t.Fatalf("Content-Encoding = %q, want gzip %v", rec.Header().Get("Content-Encoding"), tc.gzip)
			}
			if !gzipped {
				return
			}
			if rec.Header().Get("ETag") == plain.Header().Get("ETag") {
				t.Error("the gzip representation shares the plain one's ETag")
			}
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, plain.Body.Bytes()) {
				t.Error("gzip body does not inflate to the asset")
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	for _, target := range []string{
		"/playground/",
		"/playground/nope.js",
		"/playground/graphiql.min.js",              // unhashed name
		"/playground/graphiql.min.000000000000.js", // stale hash
		"/playground/../static/index.html",
		"/index.html",
	} {
		if rec := get(t, http.MethodGet, target, nil); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", target, rec.Code)
		}
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	js := assetURL.FindStringSubmatch(page(t))[1]
	for _, target := range []string{"/", js} {
		head := get(t, http.MethodHead, target, nil)
		full := get(t, http.MethodGet, target, nil)
		if head.Code != http.StatusOK || head.Body.Len() != 0 {
			t.Errorf("HEAD %s = %d with %d body bytes", target, head.Code, head.Body.Len())
		}
		if head.Header().Get("Content-Length") != full.Header().Get("Content-Length") ||
			head.Header().Get("Content-Type") != full.Header().Get("Content-Type") {
			t.Errorf("HEAD %s headers differ from GET", target)
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			rec := get(t, m, target, nil)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s = %d, Allow %q; want 405, GET, HEAD", m, target, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
}

// readAsset reads a file of the package, or its .gz beside it inflated: the vendor
// bundles are stored compressed.
func readAsset(t *testing.T, file string) []byte {
	t.Helper()
	if b, err := os.ReadFile(file); err == nil {
		return b
	}
	f, err := os.Open(file + ".gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
