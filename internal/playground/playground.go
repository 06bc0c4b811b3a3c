// Package playground serves the GraphiQL playground: a page at "/" and its scripts and
// styles under AssetPath, all embedded in the binary, so that it works with no network.
// The vendor bundles in assets/ are GraphiQL's and React's prebuilt browser builds, taken
// from npm packages pinned in build/package-lock.json by build/build.sh.
package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AssetPath is where the page's scripts and styles are served, each under a name carrying
// a hash of its content, so that browsers may keep them for good and a new build is never
// mixed with an old one.
const AssetPath = "/playground/"

// Endpoint is the GraphQL endpoint the page talks to, on the page's own origin (ws: or
// wss: for subscriptions).
const Endpoint = "/graphql"

// TokenHint stands in every tab's headers pane where the access token goes. The page
// leaves out a header that still holds it, so the examples run anonymously until a token
// is pasted.
const TokenHint = "<paste the accessToken from SignIn>"

// ContentSecurityPolicy is sent with the page. Scripts come only from this server, never
// inline. GraphiQL's dialogs inject a style element, hence 'unsafe-inline' for styles
// only; its fonts and icons are data: URLs. connect-src 'self' also covers ws: and wss:
// to the same host, for subscriptions.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// immutable is the Cache-Control of hashed assets: their URL changes with their content.
const immutable = "public, max-age=31536000, immutable"

var (
	// The vendor bundles are stored gzip-compressed (a quarter of their size in the binary)
	// and inflated only for a client that does not accept gzip.
	//go:embed assets/*.js.gz assets/*.css.gz static/*.js static/*.css
	assetFiles embed.FS
	//go:embed static/index.html
	indexTemplate string
	//go:embed examples/*.graphql examples/*.json
	exampleFiles embed.FS
)

var contentTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
}

// Example is an operation the playground opens as a tab.
type Example struct {
	// Name is the file name without its extension, e.g. "01-global-feed"; files sort in
	// tab order.
	Name string
	// Query is the GraphQL document.
	Query string
	// Variables is the JSON of the variables pane, or empty.
	Variables string
}

// Examples returns the example operations in tab order: the files examples/*.graphql,
// each with the variables in its .variables.json beside it, if any.
func Examples() ([]Example, error) {
	docs, err := fs.Glob(exampleFiles, "examples/*.graphql")
	if err != nil {
		return nil, err
	}
	out := make([]Example, 0, len(docs))
	for _, doc := range docs {
		q, err := fs.ReadFile(exampleFiles, doc)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(path.Base(doc), ".graphql")
		ex := Example{Name: name, Query: string(q)}
		if v, err := fs.ReadFile(exampleFiles, "examples/"+name+".variables.json"); err == nil {
			ex.Variables = string(v)
		}
		out = append(out, ex)
	}
	return out, nil
}

// Handler serves the page at "/" and the assets under AssetPath, to GET and HEAD only.
// Mount it on both, e.g. "GET /{$}" and "GET /playground/".
func Handler() http.Handler {
	return site()
}

// site is built once per process: hashing and rendering do not change between servers.
var site = sync.OnceValue(func() *handler {
	h, err := newHandler()
	if err != nil {
		// Everything read here is embedded at build time: an error is a broken build,
		// which the package's tests catch.
		panic(fmt.Sprintf("playground: %v", err))
	}
	return h
})

type handler struct {
	index     []byte
	indexETag string
	assets    map[string]*asset // by hashed name, e.g. "graphiql.min.0123456789ab.js"
}

type asset struct {
	plain       func() []byte
	gzipped     func() []byte
	contentType string
	etag        string
}

// pageConfig is what playground.js reads from the page.
type pageConfig struct {
	Endpoint  string `json:"endpoint"`
	TokenHint string `json:"tokenHint"`
	Headers   string `json:"headers"`
	Tabs      []tab  `json:"tabs"`
}

// tab is GraphiQL's TabDefinition.
type tab struct {
	Query     string `json:"query"`
	Variables string `json:"variables,omitempty"`
	Headers   string `json:"headers"`
}

func newHandler() (*handler, error) {
	h := &handler{assets: map[string]*asset{}}
	urls := map[string]string{}
	files, err := fs.Glob(assetFiles, "*/*")
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		body, err := fs.ReadFile(assetFiles, name)
		if err != nil {
			return nil, err
		}
		// The hash is of the stored bytes, compressed or not: either changes with the
		// content, and gzip -n output depends on nothing else.
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])[:12]
		a := &asset{etag: `"` + hash + `"`}
		if gz, ok := strings.CutSuffix(name, ".gz"); ok {
			name = gz
			if _, err := gzip.NewReader(bytes.NewReader(body)); err != nil {
				return nil, fmt.Errorf("%s.gz: %w", name, err)
			}
			a.gzipped = func() []byte { return body }
			a.plain = sync.OnceValue(func() []byte { return gunzipBytes(body) })
		} else {
			a.plain = func() []byte { return body }
			// Compressed on first request, not at start: most processes (tests, API-only
			// use) never serve the playground.
			a.gzipped = sync.OnceValue(func() []byte { return gzipBytes(body) })
		}
		base, ext := path.Base(name), path.Ext(name)
		a.contentType = contentTypes[ext]
		hashed := strings.TrimSuffix(base, ext) + "." + hash + ext
		h.assets[hashed] = a
		urls[base] = AssetPath + hashed
	}

	examples, err := Examples()
	if err != nil {
		return nil, err
	}
	headers := `{"Authorization": "Bearer ` + TokenHint + `"}`
	cfg := pageConfig{Endpoint: Endpoint, TokenHint: TokenHint, Headers: headers}
	for _, ex := range examples {
		cfg.Tabs = append(cfg.Tabs, tab{Query: ex.Query, Variables: ex.Variables, Headers: headers})
	}
	// encoding/json escapes <, > and & in strings, so no text of an example can end the
	// application/json script element it is written into. (html/template would do the
	// same, at about 160 KB of binary for one page built once at start.)
	settings, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	pairs := []string{"{{settings}}", string(settings)}
	for name, u := range urls {
		pairs = append(pairs, `{{asset "`+name+`"}}`, u)
	}
	page := strings.NewReplacer(pairs...).Replace(indexTemplate)
	if i := strings.Index(page, "{{"); i >= 0 {
		return nil, fmt.Errorf("index.html: unknown placeholder at %q", page[i:min(len(page), i+40)])
	}
	h.index = []byte(page)
	sum := sha256.Sum256(h.index)
	h.indexETag = `"` + hex.EncodeToString(sum[:])[:16] + `"`
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	switch p := r.URL.Path; {
	case p == "/":
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		// The page names the current asset hashes, so it is revalidated every time.
		hdr.Set("Cache-Control", "no-cache")
		hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("ETag", h.indexETag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.index))
	case strings.HasPrefix(p, AssetPath):
		a, ok := h.assets[strings.TrimPrefix(p, AssetPath)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		a.serve(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", immutable)
	hdr.Add("Vary", "Accept-Encoding")
	body, etag := a.plain(), a.etag
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = a.gzipped()
		hdr.Set("Content-Encoding", "gzip")
		// Each encoding is its own representation, with its own validator.
		etag = strings.TrimSuffix(etag, `"`) + `-gzip"`
	}
	hdr.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header value allows gzip: named with a
// non-zero q, or else allowed through "*".
func acceptsGzip(header string) bool {
	gzipOK, starOK := false, false
	named := false
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		ok := nonZeroQ(params)
		switch {
		case strings.EqualFold(coding, "gzip"):
			gzipOK, named = ok, true
		case coding == "*":
			starOK = ok
		}
	}
	if named {
		return gzipOK
	}
	return starOK
}

func nonZeroQ(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err != nil || q > 0
		}
	}
	return true
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level never errs
	// Writes to a bytes.Buffer cannot fail.
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// gunzipBytes inflates an embedded asset, checked to be gzip when the handler was built.
func gunzipBytes(b []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		panic(fmt.Sprintf("playground: %v", err))
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		panic(fmt.Sprintf("playground: %v", err))
	}
	return out
}
