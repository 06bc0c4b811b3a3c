// Package apptest runs the real server, wired by internal/app, over a fresh PostgreSQL
// database of its own per test, and talks to it over real HTTP. Tests that use it need
//
//	func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }
package apptest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq" // the postgres driver

	"inkwell/internal/app"
	"inkwell/internal/auth"
	"inkwell/internal/config"
	"inkwell/internal/dbroute"
	"inkwell/internal/dbstats"
	"inkwell/internal/pgtest"
)

// Main runs a test package against a throw-away PostgreSQL, with cheap password hashing
// (the real cost is for production, not for hundreds of test sign-ups).
func Main(m *testing.M) int {
	auth.PasswordParams.Memory = 64
	auth.PasswordParams.Time = 1
	return pgtest.Main(m)
}

// Option changes the configuration a test server starts with.
type Option func(*config.Config)

// WithAccessTTL sets the access token lifetime.
func WithAccessTTL(d time.Duration) Option { return func(c *config.Config) { c.AccessTTL = d } }

// WithConfig changes any part of the configuration.
func WithConfig(fn func(*config.Config)) Option { return fn }

// WithRefreshTTL sets the refresh token lifetime.
func WithRefreshTTL(d time.Duration) Option { return func(c *config.Config) { c.RefreshTTL = d } }

// Env is one running server with its own database.
type Env struct {
	URL    string // base URL of the server, e.g. http://127.0.0.1:1234
	DB     *sql.DB
	App    *app.App
	Config config.Config

	onReplica func(string) string // nil without a replica

	counts sync.Map // request id -> statements
	seq    atomic.Int64
}

const statementsHeader = "X-Test-Request"

// New starts a server over a fresh database; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	return newEnv(t, nil, opts)
}

func newEnv(t testing.TB, onReplica func(string) string, opts []Option) *Env {
	t.Helper()
	cfg, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SigningKey = "test-signing-key-0123456789abcdef-0123456789"
	cfg.DemoData = false
	// Answers as production sends them: the cost receipt only when a request asks.
	cfg.CostReceipts = false
	// Tests sign up and sign in far more often than people do, from one address, and
	// run requests concurrently on purpose: budgets and shedding are off unless a test
	// sets them (internal/app/ratelimit_test.go, overload_test.go).
	cfg.RateLimits = nil
	cfg.MaxInFlight = 1 << 20
	cfg.MaxConnectionsPerAddress = 1 << 20
	// Statement counts and most tests read what they wrote through one instance; the
	// entity cache has its own tests (internal/app/cache_test.go), which turn it on.
	cfg.EntityCacheMB = 0
	// Uploads go to the test's own directory (Peer shares it, as instances share a bucket).
	cfg.StorageDir = t.TempDir()
	return start(t, cfg, func() string { return app.DatabaseURL(pgtest.New(t)) }, onReplica, opts)
}

// NewWithReplica is New with a streaming replica to read from, as DATABASE_REPLICA_URLS
// sets one: onReplica maps the database's URL to the replica's (pgtest.Replica).
func NewWithReplica(t testing.TB, onReplica func(dbURL string) string, opts ...Option) *Env {
	t.Helper()
	return newEnv(t, onReplica, opts)
}

// Peer starts another server instance over e's database, with e's configuration
// changed by opts, as a second replica behind a load balancer would run. It has its own
// connections, event listener and URL, and stops when the test ends.
func (e *Env) Peer(t testing.TB, opts ...Option) *Env {
	t.Helper()
	url := e.Config.DatabaseURL
	return start(t, e.Config, func() string { return url }, e.onReplica, opts)
}

// start serves cfg, changed by opts, over the database that dbURL names.
func start(t testing.TB, cfg config.Config, dbURL func() string, onReplica func(string) string, opts []Option) *Env {
	t.Helper()
	// The listener comes first: the server must know its own URL (PublicURL) to build
	// sign-in redirect URIs.
	srv := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + srv.Listener.Addr().String()
	cfg.AuthReturnURLs = []string{cfg.PublicURL + "/"}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.DatabaseURL = dbURL()
	db, err := sql.Open("postgres", cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	// As the server configures it: a pool that keeps its idle connections, so the
	// look-ahead's parallel queries do not open new ones on every request.
	app.ConfigurePool(db, 40)
	t.Cleanup(func() { db.Close() })
	var replicas []dbroute.Replica
	if onReplica != nil {
		cfg.ReplicaURLs = []string{onReplica(cfg.DatabaseURL)}
		rdb, err := sql.Open("postgres", cfg.ReplicaURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		app.ConfigurePool(rdb, 40)
		t.Cleanup(func() { rdb.Close() })
		replicas = append(replicas, dbroute.Replica{Name: "replica", DB: rdb})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	a, err := app.New(db, cfg, log, app.WithReplicas(replicas))
	if err != nil {
		t.Fatal(err)
	}
	// Before the database is dropped: the event listener holds a connection to it.
	t.Cleanup(a.Close)
	e := &Env{DB: db, App: a, Config: cfg, URL: cfg.PublicURL, onReplica: onReplica}
	srv.Config.Handler = e.counting(a.Handler)
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// counting records how many SQL statements each request sent, under the id the test
// client put in a header.
func (e *Env) counting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, c := dbstats.WithCounter(r.Context())
		next.ServeHTTP(w, r.WithContext(ctx))
		if id := r.Header.Get(statementsHeader); id != "" {
			e.counts.Store(id, c.Count())
		}
	})
}

// Error is one GraphQL error as the wire carries it.
type Error struct {
	Message    string `json:"message"`
	Path       []any  `json:"path"`
	Extensions struct {
		Code   string              `json:"code"`
		Fields map[string][]string `json:"fields"`
	} `json:"extensions"`
}

// Response is a GraphQL response and what came with it.
type Response struct {
	Status     int
	Header     http.Header
	Data       json.RawMessage `json:"data"`
	Errors     []Error         `json:"errors"`
	Statements int64           // SQL statements the request sent
	Body       []byte
}

// Code is the extensions.code of the first error, or "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Extensions.Code
}

// Decode unmarshals data into v and fails the test on any error in the response.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.Body)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data: %v\n%s", err, r.Body)
	}
}

// Request is a GraphQL request.
type Request struct {
	Query     string
	Variables map[string]any
	Token     string            // bearer token; empty sends no Authorization header
	Header    map[string]string // extra headers
}

// Do sends req with POST and returns the response.
func (e *Env) Do(t testing.TB, req Request) *Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": req.Query, "variables": req.Variables})
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	return e.Send(t, hr)
}

// Send sends a request built by the caller (any method, URL or body) to the server and
// reads its GraphQL response, counting the statements it cost.
func (e *Env) Send(t testing.TB, hr *http.Request) *Response {
	t.Helper()
	id := strconv.FormatInt(e.seq.Add(1), 10)
	hr.Header.Set(statementsHeader, id)
	res, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := &Response{Status: res.StatusCode, Header: res.Header, Body: raw}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
	}
	if n, ok := e.counts.LoadAndDelete(id); ok {
		out.Statements = n.(int64)
	}
	return out
}

// Query sends query with variables as token (empty for anonymous).
func (e *Env) Query(t testing.TB, token, query string, vars map[string]any) *Response {
	t.Helper()
	return e.Do(t, Request{Query: query, Variables: vars, Token: token})
}

// MustQuery is Query that fails the test on any error and decodes data into v.
func (e *Env) MustQuery(t testing.TB, token, query string, vars map[string]any, v any) {
	t.Helper()
	e.Query(t, token, query, vars).Decode(t, v)
}

// User is a signed-up test user.
type User struct {
	ID           string
	Username     string
	Email        string
	Password     string
	Token        string
	RefreshToken string
}

// SignUp creates a user named name (email name@example.com, a fixed password) and
// returns its tokens.
func (e *Env) SignUp(t testing.TB, name string) *User {
	t.Helper()
	u := &User{Username: name, Email: strings.ToLower(name) + "@example.com", Password: "password-" + name}
	var out struct {
		SignUp struct {
			AccessToken, RefreshToken string
			User                      struct{ ID string }
		}
	}
	e.MustQuery(t, "", `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken refreshToken user { id } } }`,
		map[string]any{"in": map[string]any{"username": u.Username, "email": u.Email, "password": u.Password}}, &out)
	u.ID, u.Token, u.RefreshToken = out.SignUp.User.ID, out.SignUp.AccessToken, out.SignUp.RefreshToken
	return u
}

// Article is a created test article.
type Article struct {
	ID, Slug, Title string
}

// CreateArticle publishes an article as u.
func (e *Env) CreateArticle(t testing.TB, u *User, title string, tags ...string) *Article {
	t.Helper()
	if tags == nil {
		tags = []string{}
	}
	var out struct {
		CreateArticle struct{ Article Article }
	}
	e.MustQuery(t, u.Token, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { id slug title } } }`,
		map[string]any{"in": map[string]any{"title": title, "description": "about " + title, "body": "# " + title + "\n\nText.", "tags": tags}}, &out)
	return &out.CreateArticle.Article
}

// AddComment comments on an article as u and returns the comment's id.
func (e *Env) AddComment(t testing.TB, u *User, slug, body string) string {
	t.Helper()
	var out struct {
		AddComment struct{ Comment struct{ ID string } }
	}
	e.MustQuery(t, u.Token, `mutation($in: AddCommentInput!) { addComment(input: $in) { comment { id } } }`,
		map[string]any{"in": map[string]any{"articleSlug": slug, "body": body}}, &out)
	return out.AddComment.Comment.ID
}

// Follow makes u follow username.
func (e *Env) Follow(t testing.TB, u *User, username string) {
	t.Helper()
	var out map[string]any
	e.MustQuery(t, u.Token, `mutation($u: String!) { followUser(input: {username: $u}) { user { id } } }`,
		map[string]any{"u": username}, &out)
}

// Favorite makes u favorite slug.
func (e *Env) Favorite(t testing.TB, u *User, slug string) {
	t.Helper()
	var out map[string]any
	e.MustQuery(t, u.Token, `mutation($s: String!) { favoriteArticle(input: {slug: $s}) { article { id } } }`,
		map[string]any{"s": slug}, &out)
}

// Count returns the number of rows of table (a fixed name in test code).
func (e *Env) Count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := e.DB.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Snapshot counts the rows of every table, to prove a failed write changed nothing.
func (e *Env) Snapshot(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tbl := range []string{"users", "follows", "articles", "tags", "article_tags", "favorites", "comments", "refresh_tokens", "identities", "login_codes"} {
		out[tbl] = e.Count(t, tbl)
	}
	return out
}
