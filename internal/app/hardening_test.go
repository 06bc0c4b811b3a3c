package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"inkwell/ent/privacy"
	"inkwell/internal/apptest"
	"inkwell/internal/auth"
	"inkwell/internal/config"
	"inkwell/internal/dbstats"
	"inkwell/internal/mailtest"
	"inkwell/internal/oauthtest"
	"inkwell/internal/policy"
	"inkwell/internal/ratelimit"
	"inkwell/internal/service"
)

// The findings of the outside review (issue 12), each as a test named after it.

// Finding 2: a 1.8 KB anonymous query of 30 aliases of a list of bodies made a 150 MB
// response. Large fields are priced in the complexity model, and what passes it is
// held to a byte budget while it is marshalled.
func TestResponseSizeAmplification(t *testing.T) {
	const budget = 64 << 10
	e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.Limits.MaxResponseBytes = budget }))
	u := e.SignUp(t, "Writer")
	body := strings.Repeat("All work and no play makes Jack a dull boy. ", 450) // ~20 KB
	var slug string
	for i := range 8 {
		var out struct {
			CreateArticle struct{ Article struct{ Slug string } }
		}
		e.MustQuery(t, u.Token, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`,
			map[string]any{"in": map[string]any{"title": fmt.Sprintf("Long %d", i), "description": "d", "body": body, "tags": []string{}}}, &out)
		slug = out.CreateArticle.Article.Slug
	}
	aliases := func(n, first int, field string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: articles(first: %d) { nodes { %s } }", i, first, field)
		}
		return b.String() + " }"
	}

	t.Run("the review's query is refused before it runs", func(t *testing.T) {
		r := e.Query(t, "", aliases(30, 100, "body"), nil)
		if r.Code() != "QUERY_TOO_COMPLEX" || !noData(r) {
			t.Fatalf("30 aliases of 100 bodies: %s, want QUERY_TOO_COMPLEX and no data", r.Body)
		}
		if r.Statements != 0 {
			t.Fatalf("refused query sent %d statements", r.Statements)
		}
	})
	t.Run("bodies cost more than small fields", func(t *testing.T) {
		// 100 titles are cheap; 100 bodyHTMLs twice over are not.
		if r := e.Query(t, "", aliases(2, 100, "title"), nil); len(r.Errors) != 0 {
			t.Fatalf("two pages of titles: %s", r.Body)
		}
		if r := e.Query(t, "", aliases(2, 100, "bodyHTML"), nil); r.Code() != "QUERY_TOO_COMPLEX" {
			t.Fatalf("two pages of 100 bodyHTML: %s, want QUERY_TOO_COMPLEX", r.Body)
		}
	})
	t.Run("past the byte budget", func(t *testing.T) {
		r := e.Query(t, "", aliases(2, 8, "body"), nil) // 16 bodies, ~320 KB
		if r.Code() != "RESPONSE_TOO_LARGE" || !noData(r) {
			t.Fatalf("16 bodies with a %d byte budget: %.300s, want RESPONSE_TOO_LARGE and no data", budget, r.Body)
		}
		if len(r.Body) > budget {
			t.Fatalf("the refusal itself is %d bytes", len(r.Body))
		}
	})
	t.Run("within the budget", func(t *testing.T) {
		var out struct {
			A0 struct{ Nodes []struct{ Body string } }
		}
		e.MustQuery(t, "", aliases(1, 2, "body"), nil, &out)
		if len(out.A0.Nodes) != 2 || out.A0.Nodes[0].Body != body {
			t.Fatalf("two bodies within the budget: got %d nodes", len(out.A0.Nodes))
		}
	})
	t.Run("a mutation over the budget still writes, and says so", func(t *testing.T) {
		big := strings.Repeat("x", budget+1000)
		r := e.Query(t, u.Token, `mutation($in: UpdateArticleInput!) { updateArticle(input: $in) { article { body } } }`,
			map[string]any{"in": map[string]any{"slug": slug, "body": big}})
		if r.Code() != "RESPONSE_TOO_LARGE" || !strings.Contains(r.Errors[0].Message, "carried out") {
			t.Fatalf("update answering a large body: %.300s", r.Body)
		}
		var out struct{ Article struct{ WordCount int } }
		e.MustQuery(t, "", `query($s: String!) { article(slug: $s) { wordCount } }`, map[string]any{"s": slug}, &out)
		if out.Article.WordCount != 1 {
			t.Fatalf("after the update, wordCount = %d, want 1 (the write stands)", out.Article.WordCount)
		}
	})
}

// noData reports whether a response carries no data: absent (a request error) or null.
func noData(r *apptest.Response) bool { return len(r.Data) == 0 || string(r.Data) == "null" }

// Finding 10: a forged cursor with an out-of-range time gave INTERNAL_SERVER_ERROR.
func TestForgedCursorOutOfRange(t *testing.T) {
	e := apptest.New(t)
	u := e.SignUp(t, "Reader")
	e.CreateArticle(t, u, "One")
	for _, micros := range []string{"9223372036854775807", "-9223372036854775808", "253402300800000000"} {
		cursor := base64.RawURLEncoding.EncodeToString([]byte("k1:" + micros + ":5"))
		r := e.Query(t, "", `query($c: String) { articles(first: 5, after: $c) { nodes { slug } } }`, map[string]any{"c": cursor})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("cursor with time %s: %s, want BAD_USER_INPUT", micros, r.Body)
		}
	}
}

// Also found from outside: a POST body with garbage after the JSON object was executed,
// and a GET with invalid UTF-8 in the query string answered 500.
func TestMalformedRequestsRefused(t *testing.T) {
	e := apptest.New(t)
	for _, tc := range []struct {
		name, method, target string
		body                 string
	}{
		{"garbage after the JSON object", http.MethodPost, "/graphql", `{"query":"{ __typename }"} trailing`},
		{"a second JSON object", http.MethodPost, "/graphql", `{"query":"{ __typename }"}{"query":"{ __typename }"}`},
		{"invalid UTF-8 in the query", http.MethodGet, "/graphql?query=%7B%20__typename%20%FF%7D", ""},
		{"invalid UTF-8 in the variables", http.MethodGet, "/graphql?query=%7B__typename%7D&variables=%7B%22a%22%3A%22%FF%22%7D", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := jsonHeader("")
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			out := sendRaw(t, tc.method, e.URL+tc.target, h, body)
			if out.status != http.StatusBadRequest || out.code != "BAD_REQUEST" {
				t.Fatalf("got %d %q, want 400 BAD_REQUEST", out.status, out.code)
			}
		})
	}
	// White space after the object is still one document.
	if out := sendRaw(t, http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte("{\"query\":\"{ __typename }\"}\n\t ")); out.status != http.StatusOK || out.errors != 0 {
		t.Fatalf("trailing white space: %+v, want 200 without errors", out)
	}
}

// Finding 3: anyone could sign up with someone else's email; when the owner later signed
// in with a provider that verified the address, the provider identity joined the
// squatter's account, who kept password access to it.
func TestAccountPreHijacking(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	squatter := e.SignUp(t, "squatter") // squatter@example.com
	var v struct {
		Viewer struct{ EmailVerified bool }
	}
	e.MustQuery(t, squatter.Token, `{ viewer { emailVerified } }`, nil, &v)
	if v.Viewer.EmailVerified {
		t.Fatal("a password sign-up's address counts as verified")
	}
	for i, kind := range oaKinds {
		t.Run(kind, func(t *testing.T) {
			// The real owner of the address, verified by the provider.
			p.SetUser(oauthtest.User{Subject: "70" + string(rune('1'+i)), Login: "owner-" + kind,
				Email: "squatter@example.com", EmailVerified: true})
			before := e.Snapshot(t)
			oaWantError(t, oaSignIn(t, e, kind), "account_conflict")
			oaUnchanged(t, e, before)
		})
	}
	if got := oaViewer(t, e, squatter.Token); got == nil || len(got.Identities) != 0 {
		t.Fatalf("the squatter's identities = %+v, want none", got)
	}

	t.Run("a provider-made account's verified address is verified, to its owner only", func(t *testing.T) {
		p.SetUser(oauthtest.User{Subject: "799", Login: "bob", Email: "bob@example.com", EmailVerified: true})
		bob := oaSession(t, e, "github")
		var own struct {
			Viewer struct{ EmailVerified bool }
		}
		e.MustQuery(t, bob.AccessToken, `{ viewer { emailVerified } }`, nil, &own)
		if !own.Viewer.EmailVerified {
			t.Fatal("bob's provider-verified address is not verified")
		}
		var other struct {
			User struct{ EmailVerified bool }
		}
		e.MustQuery(t, squatter.Token, `query($u: String!) { user(username: $u) { emailVerified } }`,
			map[string]any{"u": bob.User.Username}, &other)
		if other.User.EmailVerified {
			t.Fatal("another user sees bob's emailVerified")
		}
		type updated struct {
			Email, PendingEmail *string
			EmailVerified       bool
		}
		update := func(email string) updated {
			var out struct{ UpdateViewer struct{ User updated } }
			e.MustQuery(t, bob.AccessToken, `mutation($in: UpdateViewerInput!) { updateViewer(input: $in) { user { email pendingEmail emailVerified } } }`,
				map[string]any{"in": map[string]any{"email": email}}, &out)
			return out.UpdateViewer.User
		}
		if u := update("Bob@Example.com"); !u.EmailVerified || u.PendingEmail != nil {
			t.Fatalf("setting the same address (in other case): %+v", u)
		}
		// A new address is only pending: the verified one stays the account's.
		if u := update("bob.new@example.com"); !u.EmailVerified || *u.Email != "bob@example.com" ||
			u.PendingEmail == nil || *u.PendingEmail != "bob.new@example.com" {
			t.Fatalf("after asking for a new address: %+v", u)
		}
	})
}

// linkStart asks for a link ticket and returns the URL that starts the linking flow.
func linkStart(t *testing.T, e *apptest.Env, token, provider string) string {
	t.Helper()
	var out struct {
		CreateLinkTicket struct{ StartURL, ExpiresAt string }
	}
	e.MustQuery(t, token, `mutation($p: String!) { createLinkTicket(input: {provider: $p}) { startURL expiresAt } }`,
		map[string]any{"p": provider}, &out)
	return out.CreateLinkTicket.StartURL + "&return_to=" + url.QueryEscape(e.URL+"/")
}

// linkFlow runs the explicit linking flow from start in a fresh browser: the start, the
// provider, the callback. It returns the parameters the browser comes back with.
func linkFlow(t *testing.T, e *apptest.Env, start string) url.Values {
	t.Helper()
	b := oaNewBrowser(t)
	h := b.get(t, start)
	if h.Status != http.StatusFound || h.Location == nil {
		t.Fatalf("start: %d %s", h.Status, h.Body)
	}
	if oaBase(h.Location) == e.URL+"/" { // refused at the start
		return h.Location.Query()
	}
	h = b.get(t, h.Location.String()) // the provider's authorize page
	return oaReturned(t, b.get(t, h.Location.String()), e.URL+"/")
}

// Finding 3, the other half: a signed-in user links a provider explicitly, through a
// one-time ticket, never implicitly; a provider account links to one user only.
func TestAccountLinkExplicit(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	alice := e.SignUp(t, "alice") // unverified: no implicit link possible
	p.SetUser(oauthtest.User{Subject: "801", Login: "ally", Email: "ally@elsewhere.example", EmailVerified: true})

	start := linkStart(t, e, alice.Token, "github")
	q := linkFlow(t, e, start)
	if q.Get("linked") != "github" || q.Has("login_code") || q.Has("error") {
		t.Fatalf("linking came back with %v, want linked=github only", q)
	}
	oaWantLinks(t, oaViewer(t, e, alice.Token).Identities, "github ally@elsewhere.example")
	if a := oaSession(t, e, "github"); a.User.ID != alice.ID {
		t.Fatalf("signing in with the linked account landed in %s, want alice", a.User.ID)
	}

	t.Run("a ticket works once", func(t *testing.T) {
		before := e.Snapshot(t)
		q := linkFlow(t, e, start)
		oaWantError(t, q, "invalid_link_ticket")
		oaUnchanged(t, e, before)
	})
	t.Run("a ticket is not a login code", func(t *testing.T) {
		var out struct {
			CreateLinkTicket struct{ StartURL string }
		}
		e.MustQuery(t, alice.Token, `mutation { createLinkTicket(input: {provider: "google"}) { startURL } }`, nil, &out)
		u, _ := url.Parse(out.CreateLinkTicket.StartURL)
		if r := oaExchange(t, e, u.Query().Get("link_ticket")); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("exchanging a link ticket: %s, want UNAUTHENTICATED", r.Body)
		}
	})
	t.Run("another user's provider account is a conflict", func(t *testing.T) {
		bob := e.SignUp(t, "bob")
		start := linkStart(t, e, bob.Token, "github")
		before := e.Snapshot(t)
		q := linkFlow(t, e, start) // the provider still signs in as ally
		oaWantError(t, q, "account_conflict")
		oaUnchanged(t, e, before)
	})
	t.Run("anonymous and unknown providers are refused", func(t *testing.T) {
		if r := e.Query(t, "", `mutation { createLinkTicket(input: {provider: "github"}) { startURL } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous: %s", r.Body)
		}
		if r := e.Query(t, alice.Token, `mutation { createLinkTicket(input: {provider: "myspace"}) { startURL } }`, nil); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("unknown provider: %s", r.Body)
		}
	})
}

// Finding 8: updateViewer(email: X) told whether X has an account, unthrottled. It now
// spends the sign-up budget, as asking sign-up would.
func TestEmailExistenceOracle(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{ratelimit.SignUp: {Address: ratelimit.Limit{N: 3, Per: time.Hour}}}))
	u := e.SignUp(t, "prober")
	e.SignUp(t, "target")
	ask := func() string {
		return e.Do(t, apptest.Request{Token: u.Token, Header: map[string]string{"X-Forwarded-For": "198.51.100.7"},
			Query:     `mutation($p: String!) { updateViewer(input: {email: "target@example.com", currentPassword: $p}) { user { id } } }`,
			Variables: map[string]any{"p": u.Password}}).Code()
	}
	for i := range 3 {
		if code := ask(); code != "BAD_USER_INPUT" {
			t.Fatalf("probe %d: %q, want BAD_USER_INPUT (taken) within the budget", i+1, code)
		}
	}
	if code := ask(); code != "RATE_LIMITED" {
		t.Fatalf("probe 4: %q, want RATE_LIMITED", code)
	}
}

// Finding 9: signIn answered social-only accounts at once and others after a password
// derivation. Every path now pays one derivation.
func TestSignInTimingSocialOnly(t *testing.T) {
	e, p := oaEnv(t)
	p.SetUser(oauthtest.User{Subject: "990", Login: "social", Email: "social@example.com", EmailVerified: true})
	oaSession(t, e, "github")
	e.SignUp(t, "withpassword")
	for _, email := range []string{"social@example.com", "withpassword@example.com", "nobody@example.com"} {
		before := auth.Derivations()
		r := e.Query(t, "", `mutation($in: SignInInput!) { signIn(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"email": email, "password": "wrong-password"}})
		if r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("%s: %s", email, r.Body)
		}
		if n := auth.Derivations() - before; n != 1 {
			t.Errorf("signing in as %s with a wrong password ran %d password derivations, want 1", email, n)
		}
	}
}

// lockArticles holds an exclusive lock on the articles table until the returned release
// is called (or the test ends): any statement reading articles waits in PostgreSQL.
func lockArticles(t *testing.T, e *apptest.Env) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := e.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `LOCK TABLE articles IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Commit()
			_ = conn.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// waitLocked waits until n statements of this test's database wait on a lock.
func waitLocked(t *testing.T, e *apptest.Env, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := e.DB.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements wait on the lock after 30 s, want %d", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// codeOf is the first error code in a socket message's payload (a next or an error).
func codeOf(t *testing.T, m apptest.Message) string {
	t.Helper()
	var withErrors struct{ Errors []apptest.Error }
	if json.Unmarshal(m.Payload, &withErrors) == nil && len(withErrors.Errors) > 0 {
		return withErrors.Errors[0].Extensions.Code
	}
	var list []apptest.Error
	if json.Unmarshal(m.Payload, &list) == nil && len(list) > 0 {
		return list[0].Extensions.Code
	}
	return ""
}

// Finding 4: on one socket 150 password changes ran at once where HTTP sheds at 60.
// Socket operations take the same slots as HTTP requests, run under the same
// deadline, and one socket runs a bounded number at once.
func TestWebSocketOperationsShedAndDeadline(t *testing.T) {
	const query = `{ articles(first: 5) { nodes { slug } } }`
	t.Run("the same slots as HTTP", func(t *testing.T) {
		e := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
			c.MaxInFlight, c.QueueWait = 2, 50*time.Millisecond
		}))
		s := e.Connect(t, nil)
		release := lockArticles(t, e)
		a, b := s.Subscribe(query, nil), s.Subscribe(query, nil)
		waitLocked(t, e, 2)
		if out := sendRaw(t, http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte(`{"query":"{ __typename }"}`)); out.status != http.StatusServiceUnavailable || out.code != "OVERLOADED" {
			t.Fatalf("HTTP while two socket operations hold the slots: %+v, want 503 OVERLOADED", out)
		}
		c := s.Subscribe(query, nil)
		if m := s.Receive(); m.ID != c || codeOf(t, m) != "OVERLOADED" {
			t.Fatalf("a third socket operation: %s %s %s, want OVERLOADED", m.Type, m.ID, m.Payload)
		}
		s.Expect(c, "complete")
		release()
		// Both held operations answer with data, then complete, in either order.
		got := map[string]string{}
		for range 4 {
			m := s.Receive()
			if m.Type == "next" && codeOf(t, m) != "" {
				t.Fatalf("held operation %s: %s", m.ID, m.Payload)
			}
			got[m.ID] += m.Type + " "
		}
		if got[a] != "next complete " || got[b] != "next complete " {
			t.Fatalf("held operations answered %v", got)
		}
	})
	t.Run("a cap per socket", func(t *testing.T) {
		e := apptest.New(t, apptest.WithConfig(func(c *config.Config) { c.MaxOperationsPerConnection = 3 }))
		s := e.Connect(t, nil)
		release := lockArticles(t, e)
		for range 3 {
			s.Subscribe(query, nil)
		}
		waitLocked(t, e, 3)
		id := s.Subscribe(query, nil)
		if m := s.Receive(); m.ID != id || codeOf(t, m) != "TOO_MANY_OPERATIONS" {
			t.Fatalf("a fourth operation on the socket: %s %s %s, want TOO_MANY_OPERATIONS", m.Type, m.ID, m.Payload)
		}
		s.Expect(id, "complete")
		// Another socket is not held to this one's share.
		other := e.Connect(t, nil)
		other.Subscribe(query, nil)
		waitLocked(t, e, 4)
		release()
	})
	t.Run("the request deadline", func(t *testing.T) {
		e := apptest.New(t, apptest.WithConfig(func(c *config.Config) {
			c.Limits.RequestTimeout = time.Second
			c.Limits.WriteTimeout = 5 * time.Second
		}))
		s := e.Connect(t, nil)
		lockArticles(t, e) // held until the test ends: only the deadline can end the query
		id := s.Subscribe(query, nil)
		m := s.Receive()
		if m.ID != id || codeOf(t, m) == "" {
			t.Fatalf("an operation past its deadline: %s %s %s, want an error", m.Type, m.ID, m.Payload)
		}
	})
}

// Finding 13: writes had no budget. Each account has one for all its writes.
func TestWriteRateLimit(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{ratelimit.Write: {Account: ratelimit.Limit{N: 3, Per: time.Hour}}}))
	spammer, other := e.SignUp(t, "spammer"), e.SignUp(t, "other")
	a := e.CreateArticle(t, other, "Target") // other's first write
	comment := func(u *apptest.User) *apptest.Response {
		return e.Query(t, u.Token, `mutation($in: AddCommentInput!) { addComment(input: $in) { comment { id } } }`,
			map[string]any{"in": map[string]any{"articleSlug": a.Slug, "body": "spam"}})
	}
	for i := range 3 {
		if r := comment(spammer); len(r.Errors) != 0 {
			t.Fatalf("comment %d within the budget: %s", i+1, r.Body)
		}
	}
	before := e.Snapshot(t)
	if r := comment(spammer); r.Code() != "RATE_LIMITED" || r.Status != http.StatusTooManyRequests {
		t.Fatalf("comment 4: %d %s, want 429 RATE_LIMITED", r.Status, r.Body)
	}
	if after := e.Snapshot(t); after["comments"] != before["comments"] {
		t.Fatalf("a refused write changed comments: %d to %d", before["comments"], after["comments"])
	}
	if r := comment(other); len(r.Errors) != 0 {
		t.Fatalf("another account's write: %s", r.Body)
	}
}

// Finding 5: 100 anonymous sockets from one address held 2,000 subscriptions. Sockets
// are capped per client address and in all.
func TestUnboundedSockets(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(nil, func(c *config.Config) {
		c.MaxConnectionsPerAddress, c.MaxConnections = 2, 3
	}))
	from := func(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }
	dial := func(addr string) (*apptest.Socket, int) {
		s, res, err := apptest.DialSocket(t, e.URL, from(addr))
		if err != nil {
			if res == nil {
				t.Fatalf("dial from %s: %v", addr, err)
			}
			return nil, res.StatusCode
		}
		s.Init(nil)
		s.Expect("", "connection_ack")
		return s, http.StatusSwitchingProtocols
	}
	a1, _ := dial("198.51.100.1")
	if _, code := dial("198.51.100.1"); code != http.StatusSwitchingProtocols {
		t.Fatalf("second socket from one address: %d", code)
	}
	if _, code := dial("198.51.100.1"); code != http.StatusTooManyRequests {
		t.Fatalf("third socket from one address: %d, want 429", code)
	}
	if _, code := dial("198.51.100.2"); code != http.StatusSwitchingProtocols {
		t.Fatalf("a socket from another address: %d", code)
	}
	if _, code := dial("198.51.100.3"); code != http.StatusServiceUnavailable {
		t.Fatalf("a fourth socket in all: %d, want 503", code)
	}
	// A closed socket frees its place (the server notices the close a moment later).
	a1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, code := dial("198.51.100.1")
		if s != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing a socket, a new one from its address: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Also found: sign-up accepted the full-width form of a taken email as a new account.
// Addresses and usernames are compared in their NFKC, lower-cased form.
func TestFullWidthEmailIsTheSameAddress(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	e.SignUp(t, "alice") // alice@example.com
	signUp := func(username, email string) *apptest.Response {
		return e.Query(t, "", `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"username": username, "email": email, "password": "password-123"}})
	}
	before := e.Snapshot(t)
	if r := signUp("mallory", "ａｌｉｃｅ@ｅｘａｍｐｌｅ.ｃｏｍ"); r.Code() != "BAD_USER_INPUT" || !strings.Contains(string(r.Body), "taken") {
		t.Fatalf("full-width form of a taken email: %s, want taken", r.Body)
	}
	if r := signUp("ａｌｉｃｅ", "someone@example.com"); r.Code() != "BAD_USER_INPUT" || !strings.Contains(string(r.Body), "taken") {
		t.Fatalf("full-width form of a taken username: %s, want taken", r.Body)
	}
	if after := e.Snapshot(t); after["users"] != before["users"] {
		t.Fatal("a refused sign-up made a user")
	}
	var in struct {
		SignIn struct{ User struct{ Username string } }
	}
	e.MustQuery(t, "", `mutation($in: SignInInput!) { signIn(input: $in) { user { username } } }`,
		map[string]any{"in": map[string]any{"email": "ＡＬＩＣＥ@example.com", "password": "password-alice"}}, &in)
	if in.SignIn.User.Username != "alice" {
		t.Fatalf("signing in with the full-width address: %+v", in)
	}
}

// Finding 12: five wrong passwords from anywhere locked the real user out. A stranger's
// failures spend only their own address's budget for the account; past a high ceiling
// across all addresses, attempts are slowed down, never refused.
func TestStrangerCannotLockAccount(t *testing.T) {
	t.Parallel()
	e := apptest.New(t, withLimits(ratelimit.Rules{
		ratelimit.SignIn:        {Account: ratelimit.Limit{N: 3, Per: time.Hour}, Address: ratelimit.Limit{N: 100, Per: time.Hour}},
		ratelimit.SignInCeiling: {Account: ratelimit.Limit{N: 6, Per: time.Hour}},
	}))
	alice := e.SignUp(t, "alice")
	for i := range 3 {
		if code := rlSignInFrom(t, e, "203.0.113.66", alice.Email, "guess").Code(); code != "UNAUTHENTICATED" {
			t.Fatalf("stranger's guess %d: %q", i+1, code)
		}
	}
	if code := rlSignInFrom(t, e, "203.0.113.66", alice.Email, alice.Password).Code(); code != "RATE_LIMITED" {
		t.Fatalf("the stranger's fourth attempt: %q, want RATE_LIMITED", code)
	}
	if r := rlSignInFrom(t, e, "198.51.100.5", alice.Email, alice.Password); len(r.Errors) != 0 {
		t.Fatalf("the owner from her own address: %s, want signed in", r.Body)
	}
	// Strangers from many addresses pass the ceiling (6): the attempts are held, not refused,
	// and the owner still gets in.
	for i := range 3 {
		rlSignInFrom(t, e, fmt.Sprintf("192.0.2.%d", i+1), alice.Email, "guess")
	}
	start := time.Now()
	r := rlSignInFrom(t, e, "198.51.100.5", alice.Email, alice.Password)
	if len(r.Errors) != 0 {
		t.Fatalf("the owner past the ceiling: %s, want signed in (slowly)", r.Body)
	}
	if waited := time.Since(start); waited < ratelimit.Delay*9/10 {
		t.Fatalf("an attempt past the ceiling took %v, want at least the %v delay", waited, ratelimit.Delay)
	}
}

// Finding 13: an access token outlived the end of its session (sign-out, a replayed
// refresh token, a password change) by up to its 15 minutes. Tokens name their session,
// and a token of an ended session is refused like a forged one, on every instance.
func TestAccessTokenOutlivesSession(t *testing.T) {
	t.Parallel()
	viewerQuery := `{ viewer { id } }`
	signIn := func(t *testing.T, e *apptest.Env, u *apptest.User) acctAuth {
		return acctPayload(t, acctSignIn(t, e, u.Email, u.Password), "signIn")
	}
	works := func(t *testing.T, e *apptest.Env, token string) {
		t.Helper()
		if r := e.Query(t, token, viewerQuery, nil); r.Status != http.StatusOK || len(r.Errors) != 0 {
			t.Fatalf("a live session's token refused: %d %s", r.Status, r.Body)
		}
	}
	ended := func(t *testing.T, e *apptest.Env, token string) {
		t.Helper()
		r := e.Query(t, token, viewerQuery, nil)
		tokWant401(t, r)
		if r.Errors[0].Message != "session has ended" {
			t.Fatalf("message %q, want \"session has ended\"", r.Errors[0].Message)
		}
	}

	t.Run("sign-out", func(t *testing.T) {
		t.Parallel()
		e := apptest.New(t)
		ada := e.SignUp(t, "ada")
		other := signIn(t, e, ada)
		works(t, e, ada.Token)
		tokSignOut(t, e, ada.RefreshToken)
		ended(t, e, ada.Token)
		// Only that session: the other sign-in goes on.
		works(t, e, other.AccessToken)
	})
	t.Run("a replayed refresh token", func(t *testing.T) {
		t.Parallel()
		e := apptest.New(t)
		ada := e.SignUp(t, "ada")
		rotated := acctPayload(t, tokRefresh(t, e, ada.RefreshToken), "refreshSession")
		works(t, e, rotated.AccessToken)
		acctWantCode(t, tokRefresh(t, e, ada.RefreshToken), "UNAUTHENTICATED")
		// Whoever copied the token and whoever it was copied from are both out.
		ended(t, e, ada.Token)
		ended(t, e, rotated.AccessToken)
	})
	t.Run("a password change", func(t *testing.T) {
		t.Parallel()
		e := apptest.New(t)
		ada := e.SignUp(t, "ada")
		thief := signIn(t, e, ada)
		acctUpdated(t, acctUpdate(t, e, ada.Token, map[string]any{"password": "a brand new password", "currentPassword": ada.Password}))
		ended(t, e, thief.AccessToken)
		works(t, e, ada.Token)
	})
	// A password change ends every other session however many there are: past what one
	// change event may name, every instance checks all sessions again.
	t.Run("a password change with many sessions", func(t *testing.T) {
		t.Parallel()
		a := cached(t)
		b := a.Peer(t)
		waitListening(t, b)
		ada := a.SignUp(t, "ada")
		var others []acctAuth
		for range 40 {
			others = append(others, signIn(t, a, ada))
		}
		works(t, b, others[39].AccessToken) // B has seen it live
		before := b.App.Entities.Stats().Applied
		acctUpdated(t, acctUpdate(t, a, ada.Token, map[string]any{"password": "a brand new password", "currentPassword": ada.Password}))
		waitApplied(t, b, before)
		for _, o := range []acctAuth{others[0], others[39]} {
			ended(t, a, o.AccessToken)
			ended(t, b, o.AccessToken)
		}
		works(t, a, ada.Token)
	})
	t.Run("a socket's connection_init", func(t *testing.T) {
		t.Parallel()
		e := apptest.New(t)
		ada := e.SignUp(t, "ada")
		tokSignOut(t, e, ada.RefreshToken)
		s := e.Dial(t, nil)
		s.Init(map[string]any{"authorization": "Bearer " + ada.Token})
		if code, reason := s.Closed(5 * time.Second); code != 4403 || !strings.Contains(reason, "session has ended") {
			t.Fatalf("close %d %q, want 4403 for the ended session", code, reason)
		}
	})
	// A socket signed in with the session is closed when it ends, on every instance,
	// although its token has not expired.
	t.Run("the session's open sockets", func(t *testing.T) {
		t.Parallel()
		a := apptest.New(t)
		b := a.Peer(t)
		ada := a.SignUp(t, "ada")
		other := signIn(t, a, ada)
		here := a.Connect(t, map[string]any{"authorization": "Bearer " + ada.Token})
		there := b.Connect(t, map[string]any{"authorization": "Bearer " + ada.Token})
		kept := b.Connect(t, map[string]any{"authorization": "Bearer " + other.AccessToken})
		for _, s := range []*apptest.Socket{here, there, kept} {
			s.Subscribe(`subscription { feedArticleAdded { id } }`, nil)
		}
		tokSignOut(t, a, ada.RefreshToken)
		for name, s := range map[string]*apptest.Socket{"on the instance that ended it": here, "on another": there} {
			if code, reason := s.Closed(10 * time.Second); code != 4403 || !strings.Contains(reason, "session has ended") {
				t.Errorf("%s: close %d %q, want 4403 for the ended session", name, code, reason)
			}
		}
		kept.Quiet(500 * time.Millisecond) // another session's socket stays open
	})
	// With the entity cache on, a live session costs no SQL once seen, and its end still
	// reaches every instance through the change event.
	t.Run("two instances with the cache", func(t *testing.T) {
		t.Parallel()
		a := cached(t)
		b := a.Peer(t)
		waitListening(t, b)
		ada := a.SignUp(t, "ada")
		b.Query(t, ada.Token, `{ __typename }`, nil)
		if r := b.Query(t, ada.Token, `{ __typename }`, nil); r.Status != http.StatusOK || r.Statements != 0 {
			t.Fatalf("a seen session's token cost %d statements (%d %s), want none", r.Statements, r.Status, r.Body)
		}
		before := b.App.Entities.Stats().Applied
		tokSignOut(t, a, ada.RefreshToken)
		ended(t, a, ada.Token) // at once on the instance that ended it
		waitApplied(t, b, before)
		ended(t, b, ada.Token)
	})
}

// Also found from outside: a correctly signed token of a user that no longer exists got
// HTTP 200 and NOT_FOUND. It is an invalid token, like any other.
func TestDeletedUsersTokenIsInvalid(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	if _, err := e.DB.Exec(`DELETE FROM users WHERE username = 'ada'`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`{ viewer { id } }`, `{ __typename }`, `mutation { sendVerificationEmail }`} {
		tokWant401(t, e.Query(t, ada.Token, q, nil))
	}
}

// Finding 7: a stolen 15-minute access token changed the password or the email, a
// permanent takeover. Both now need the current password (or, for an account without
// one, a fresh sign-in), a new email takes effect only once verified, and the account's
// address is told.
func TestPasswordAndEmailChangeWithOnlyAnAccessToken(t *testing.T) {
	mp := mailtest.Start(t)
	e, p := oaEnv(t, apptest.WithConfig(func(c *config.Config) { c.SMTPURL = mp.SMTPURL() }))
	ada := e.SignUp(t, "ada")
	mp.Wait(t, ada.Email, 1) // the sign-up's link
	stolen := ada.Token
	update := func(e *apptest.Env, token string, in map[string]any) *apptest.Response {
		return e.Do(t, apptest.Request{Token: token, Header: map[string]string{"X-Forwarded-For": "198.51.100.9"},
			Query:     `mutation($in: UpdateViewerInput!) { updateViewer(input: $in) { user { email pendingEmail } } }`,
			Variables: map[string]any{"in": in}})
	}
	unchanged := func(t *testing.T, e *apptest.Env, ada *apptest.User) {
		t.Helper()
		acctPayload(t, acctSignIn(t, e, ada.Email, ada.Password), "signIn")
		var v struct {
			Viewer struct{ Email, PendingEmail *string }
		}
		e.MustQuery(t, ada.Token, `{ viewer { email pendingEmail } }`, nil, &v)
		if v.Viewer.Email == nil || *v.Viewer.Email != ada.Email || v.Viewer.PendingEmail != nil {
			t.Fatalf("account changed: %+v", v.Viewer)
		}
	}

	t.Run("without the current password nothing changes", func(t *testing.T) {
		for _, in := range []map[string]any{
			{"password": "thief's password"},
			{"email": "thief@example.com"},
			{"email": "thief@example.com", "password": "thief's password", "bio": "pwned"},
		} {
			acctWantFields(t, update(e, stolen, in), "currentPassword")
		}
		unchanged(t, e, ada)
	})
	t.Run("a wrong current password changes nothing and spends the sign-in budget", func(t *testing.T) {
		e := apptest.New(t, withLimits(ratelimit.Rules{ratelimit.SignIn: {Address: ratelimit.Limit{N: 3, Per: time.Hour}}}))
		ada := e.SignUp(t, "ada")
		for i := range 3 {
			r := update(e, ada.Token, map[string]any{"password": "thief's password", "currentPassword": fmt.Sprintf("guess %d", i)})
			if r.Code() != "BAD_USER_INPUT" || r.Errors[0].Extensions.Fields["currentPassword"][0] != "is wrong" {
				t.Fatalf("guess %d: %s", i, r.Body)
			}
		}
		// The budget is signIn's: a token does not guess faster than signIn could.
		if r := update(e, ada.Token, map[string]any{"password": "thief's password", "currentPassword": "guess 4"}); r.Code() != "RATE_LIMITED" {
			t.Fatalf("guess 4: %s, want RATE_LIMITED", r.Body)
		}
		unchanged(t, e, ada)
	})
	t.Run("a new email is pending until verified, and the old address is told", func(t *testing.T) {
		r := e.Query(t, ada.Token, `mutation($p: String!) { updateViewer(input: {email: "ada@new.example", currentPassword: $p}) { user { email pendingEmail } } }`,
			map[string]any{"p": ada.Password})
		var out struct {
			UpdateViewer struct {
				User struct{ Email, PendingEmail *string }
			}
		}
		r.Decode(t, &out)
		if u := out.UpdateViewer.User; u.Email == nil || *u.Email != ada.Email || u.PendingEmail == nil || *u.PendingEmail != "ada@new.example" {
			t.Fatalf("payload %+v, want the old email and the new one pending", u)
		}
		notice := mp.Wait(t, ada.Email, 2)[0]
		if !strings.Contains(notice.Subject, "email address") || !strings.Contains(notice.Text, "ada@new.example") {
			t.Fatalf("the old address was told %q: %q", notice.Subject, notice.Text)
		}
		// Only the pending address's owner can make it the account's.
		acctWantCode(t, acctSignIn(t, e, "ada@new.example", ada.Password), "UNAUTHENTICATED")
		var others struct {
			User struct{ PendingEmail *string }
		}
		e.MustQuery(t, "", `{ user(username: "ada") { pendingEmail } }`, nil, &others)
		if others.User.PendingEmail != nil {
			t.Fatal("someone else sees the pending address")
		}
		e.MustQuery(t, "", `mutation($t: String!) { verifyEmail(input: {token: $t}) { user { id } } }`,
			map[string]any{"t": tokenOf(t, link(t, mp, "ada@new.example", 1))}, &map[string]any{})
		acctPayload(t, acctSignIn(t, e, "ada@new.example", ada.Password), "signIn")
		acctWantCode(t, acctSignIn(t, e, ada.Email, ada.Password), "UNAUTHENTICATED")
	})
	t.Run("a password change tells the address", func(t *testing.T) {
		acctUpdated(t, acctUpdate(t, e, ada.Token, map[string]any{"password": "a brand new password", "currentPassword": ada.Password}))
		if m := mp.Wait(t, "ada@new.example", 2)[0]; !strings.Contains(m.Subject, "password was changed") {
			t.Fatalf("newest message to the address: %q", m.Subject)
		}
	})
	t.Run("an account without a password needs a fresh sign-in", func(t *testing.T) {
		p.SetUser(oauthtest.User{Subject: "7001", Login: "gh-only", Email: "gh-only@example.com", EmailVerified: true})
		social := oaSession(t, e, "github")
		acctUpdated(t, acctUpdate(t, e, social.AccessToken, map[string]any{"email": "gh-only@new.example"}))
		// The same session, signed in 11 minutes ago: a stolen token of it cannot.
		if _, err := e.DB.Exec(`UPDATE refresh_tokens SET created_at = created_at - interval '11 minutes'
			WHERE session_id = $1`, tokSessionID(t, social.AccessToken)); err != nil {
			t.Fatal(err)
		}
		r := acctUpdate(t, e, social.AccessToken, map[string]any{"password": "thief's password"})
		acctWantCode(t, r, "FORBIDDEN")
		var v struct {
			Viewer struct{ PendingEmail *string }
		}
		e.MustQuery(t, social.AccessToken, `{ viewer { pendingEmail } }`, nil, &v)
		if v.Viewer.PendingEmail == nil || *v.Viewer.PendingEmail != "gh-only@new.example" {
			t.Fatalf("pendingEmail = %v", v.Viewer.PendingEmail)
		}
	})
}

// Finding 11: a login code was not bound to the client that started the sign-in, so an
// attacker could hand a victim's browser the attacker's code (login CSRF) and have the
// victim write into the attacker's account. The client sends a PKCE challenge to the
// start URL, and only its verifier trades the code.
func TestLoginCodeNotBoundToClient(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	p.SetUser(oauthtest.User{Subject: "6001", Login: "mallory", Email: "mallory@example.com", EmailVerified: true})
	exchange := func(code, verifier string) *apptest.Response {
		return e.Query(t, "", `mutation($in: ExchangeLoginCodeInput!) { exchangeLoginCode(input: $in) { accessToken } }`,
			map[string]any{"in": map[string]any{"code": code, "codeVerifier": verifier}})
	}

	t.Run("the attacker's code in the victim's client", func(t *testing.T) {
		code := oaLoginCode(t, e, "github") // started with the attacker's challenge
		before := e.Count(t, "refresh_tokens")
		r := exchange(code, "the-victim-client-verifier-0123456789-abcdefghij")
		oaWantCode(t, r, "UNAUTHENTICATED")
		if n := e.Count(t, "refresh_tokens"); n != before {
			t.Fatalf("a session was made: %d refresh tokens, had %d", n, before)
		}
		// The wrong verifier spent the code: it cannot be guessed at.
		oaWantCode(t, exchange(code, oaVerifier), "UNAUTHENTICATED")
	})
	t.Run("the verifier is required", func(t *testing.T) {
		code := oaLoginCode(t, e, "github")
		r := e.Query(t, "", `mutation($c: String!) { exchangeLoginCode(input: {code: $c}) { accessToken } }`, map[string]any{"c": code})
		if r.Code() != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("without codeVerifier: %s", r.Body)
		}
		if out := exchange(code, oaVerifier); out.Code() != "" {
			t.Fatalf("the code's own client: %s", out.Body)
		}
	})
	t.Run("a sign-in cannot start without a challenge", func(t *testing.T) {
		b := oaNewBrowser(t)
		h := b.get(t, e.URL+"/auth/github/start?return_to="+url.QueryEscape(e.URL+"/"))
		oaWantError(t, oaReturned(t, h, e.URL+"/"), "invalid_request")
		if c := b.flowCookie(t, e); c != "" {
			t.Fatal("a flow began without a challenge")
		}
	})
}

// Finding 5, second half: one comment on an article with 2,000 subscriptions cost 6,003
// SQL statements, three for every subscriber. What all of an event's subscribers show
// alike is now loaded once per event, and only viewer fields cost per subscriber. Not
// parallel: it counts every statement the process sends, but for the periodic jobs'.
func TestSubscriptionEventLoadedOncePerSubscriber(t *testing.T) {
	e := apptest.New(t) // no entity cache: every row read is a statement
	ada, bob := e.SignUp(t, "ada"), e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Watched", "go", "sql")
	const query = `subscription($s: String!) { commentAdded(articleSlug: $s) {
		id body author { username bio followersCount viewerIsFollowing }
		article { title tags { name } author { username followingCount } } } }`
	const sockets, perSocket = 4, 5
	type sub struct {
		s   *apptest.Socket
		ids []string
	}
	var subs []sub
	signedIn := 0
	for i := range sockets {
		var payload map[string]any
		if i%2 == 0 {
			payload = map[string]any{"authorization": "Bearer " + bob.Token}
			signedIn += perSocket
		}
		s := sub{s: e.Connect(t, payload)}
		for range perSocket {
			s.ids = append(s.ids, s.s.Subscribe(query, map[string]any{"s": art.Slug}))
		}
		subs = append(subs, s)
	}
	for deadline := time.Now().Add(10 * time.Second); e.App.Events.Count() < sockets*perSocket; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions active, want %d", e.App.Events.Count(), sockets*perSocket)
		}
	}

	// The jobs tick every second; whether a tick falls in the delivery depends on how
	// busy the machine is, so their statements are left out.
	sent := func() int64 { return dbstats.Total() - dbstats.BackgroundTotal() }
	before := sent()
	r := e.Query(t, bob.Token, `mutation($s: String!) { addComment(input: {articleSlug: $s, body: "first"}) { comment { id } } }`,
		map[string]any{"s": art.Slug})
	if len(r.Errors) > 0 {
		t.Fatal(string(r.Body))
	}
	for _, s := range subs {
		// The subscriptions of one socket answer in any order.
		pending := map[string]bool{}
		for _, id := range s.ids {
			pending[id] = true
		}
		for range s.ids {
			m := s.s.Receive()
			var got struct {
				Data struct {
					CommentAdded struct {
						Body    string
						Article struct{ Title string }
					}
				}
			}
			if err := json.Unmarshal(m.Payload, &got); err != nil || m.Type != "next" || !pending[m.ID] {
				t.Fatalf("got %s %q %s (%v)", m.Type, m.ID, m.Payload, err)
			}
			delete(pending, m.ID)
			if c := got.Data.CommentAdded; c.Body != "first" || c.Article.Title != "Watched" {
				t.Fatalf("subscriber got %s", m.Payload)
			}
		}
	}
	delivery := sent() - before - r.Statements
	// The rows (comment, its author, article, tags, author, two counts) once, and one
	// viewerIsFollowing per signed-in subscriber; before, every subscriber read them all.
	const rows = 8
	t.Logf("one comment, %d subscribers (%d signed in): %d statements to deliver it", sockets*perSocket, signedIn, delivery)
	if delivery > int64(rows+signedIn) {
		t.Errorf("delivering one event cost %d statements, want at most %d (rows once, viewer flags per signed-in subscriber)",
			delivery, rows+signedIn)
	}
}

// Also found from outside: usernames are compared regardless of case and width, but a
// name that merely looks like a taken one ("paypa1" for "paypal", "adrnin" for "admin")
// made a second account that passes for the first. Such names are refused.
func TestConfusableUsernames(t *testing.T) {
	t.Parallel()
	e, p := oaEnv(t)
	admin := e.SignUp(t, "admin")
	e.SignUp(t, "paypal")
	e.SignUp(t, "Oliver")
	for _, tc := range []struct{ name, want string }{
		{"adrnin", "looks too much like a taken username"},
		{"paypa1", "looks too much like a taken username"},
		{"0liver", "looks too much like a taken username"},
		{"PAYPAL", "is already taken"},
	} {
		r := acctSignUp(t, e, tc.name, tc.name+"@example.net", "long enough")
		acctWantFields(t, r, "username")
		if got := r.Errors[0].Extensions.Fields["username"][0]; got != tc.want {
			t.Errorf("sign-up as %s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// Names that only share letters are free.
	acctPayload(t, acctSignUp(t, e, "adm1n", "adm1n@example.net", "long enough"), "signUp")
	// Renaming to a look-alike is refused the same way, and changes nothing.
	r := acctUpdate(t, e, admin.Token, map[string]any{"username": "paypa1"})
	acctWantFields(t, r, "username")
	// A provider login that looks like a taken name gets a name of its own.
	p.SetUser(oauthtest.User{Subject: "8001", Login: "paypa1", Email: "pp@example.org", EmailVerified: true})
	if a := oaSession(t, e, "github"); a.User.Username == "paypa1" {
		t.Fatalf("provider sign-in took the look-alike name %q", a.User.Username)
	}
}

// The migration that added users.username_skeleton filled it in SQL for the names taken
// before; that SQL must compute what the service does, and keep the oldest of names that
// look alike.
func TestUsernameSkeletonMigrationMatchesService(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../ent/migrate/migrations/*_username_skeleton.up.sql")
	if err != nil || len(files) != 1 {
		t.Fatalf("migration: %v %v", files, err)
	}
	text, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	const expr = `lower(replace(translate("username", '01I', 'Oll'), 'm', 'rn'))`
	if !strings.Contains(string(text), expr) {
		t.Fatalf("the migration no longer computes %s", expr)
	}
	e := apptest.New(t)
	var names []string
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	for _, c := range chars {
		names = append(names, "x"+string(c)+"y", string(c)+string(c))
	}
	names = append(names, "Il1m", "rnmRNM", "O0o")
	for _, n := range names {
		var got string
		if err := e.DB.QueryRow(`SELECT `+strings.ReplaceAll(expr, `"username"`, `$1::text`), n).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := service.UsernameSkeleton(n); got != want {
			t.Errorf("%q: the migration computes %q, the service %q", n, got, want)
		}
	}

	// Names taken before, two of which look alike: the older keeps the skeleton.
	for i, n := range []string{"bank", "paypal", "paypa1"} {
		if _, err := e.DB.Exec(`INSERT INTO users (username, username_key, email, password_hash, bio, image, email_verified, created_at, updated_at)
			VALUES ($1::text, lower($1::text), $2, '', '', '', false, now(), now())`, n, fmt.Sprintf("old%d@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	update := string(text)[strings.Index(string(text), "UPDATE"):]
	update = update[:strings.Index(update, ";")]
	if _, err := e.DB.Exec(update); err != nil {
		t.Fatal(err)
	}
	rows, err := e.DB.Query(`SELECT username, username_skeleton FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]*string{}
	for rows.Next() {
		var n string
		var s *string
		if err := rows.Scan(&n, &s); err != nil {
			t.Fatal(err)
		}
		got[n] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if s := got["paypal"]; s == nil || *s != "paypal" || got["paypa1"] != nil || got["bank"] == nil {
		t.Fatalf("after the fill: paypal %v, paypa1 %v, bank %v", got["paypal"], got["paypa1"], got["bank"])
	}
}

// Authorization fails closed: a write that slips past the service's checks (here: straight
// through ent, as a forgetful new service method would) is refused by ent's privacy rules,
// and only work marked policy.System writes for no viewer.
func TestPrivacyRulesRefuseWritesTheServiceForgot(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	ada := e.SignUp(t, "ada")
	e.SignUp(t, "bob")
	art := e.CreateArticle(t, ada, "Ada's")
	var adaID, bobID, artID int
	if err := e.DB.QueryRow(`SELECT (SELECT id FROM users WHERE username = 'ada'), (SELECT id FROM users WHERE username = 'bob'),
		(SELECT id FROM articles WHERE slug = $1)`, art.Slug).Scan(&adaID, &bobID, &artID); err != nil {
		t.Fatal(err)
	}
	db := e.App.Client
	as := func(id int) context.Context { return auth.WithViewer(context.Background(), auth.Viewer{UserID: id}) }
	anon := context.Background()
	before := e.Snapshot(t)
	for _, tc := range []struct {
		name  string
		write func() error
	}{
		{"bob edits ada's article", func() error { return db.Article.UpdateOneID(artID).SetTitle("Bob's now").Exec(as(bobID)) }},
		{"bob deletes ada's article", func() error { return db.Article.DeleteOneID(artID).Exec(as(bobID)) }},
		{"bob writes an article as ada", func() error {
			return db.Article.Create().SetTitle("x").SetSlug("x-1").SetDescription("").SetBody("b").SetAuthorID(adaID).Exec(as(bobID))
		}},
		{"an anonymous article", func() error {
			return db.Article.Create().SetTitle("x").SetSlug("x-2").SetDescription("").SetBody("b").SetAuthorID(adaID).Exec(anon)
		}},
		{"bob comments as ada", func() error {
			return db.Comment.Create().SetBody("hi").SetArticleID(artID).SetAuthorID(adaID).Exec(as(bobID))
		}},
		{"bob renames ada", func() error { return db.User.UpdateOneID(adaID).SetBio("pwned").Exec(as(bobID)) }},
		{"a bulk change of users", func() error { return db.User.Update().SetBio("pwned").Exec(as(bobID)) }},
		{"an anonymous new user", func() error {
			return db.User.Create().SetUsername("eve").SetUsernameKey("eve").Exec(anon)
		}},
		{"bob favorites as ada", func() error { return db.Favorite.Create().SetUserID(adaID).SetArticleID(artID).Exec(as(bobID)) }},
		{"bob follows as ada", func() error { return db.Follow.Create().SetFollowerID(adaID).SetFolloweeID(bobID).Exec(as(bobID)) }},
		{"an anonymous tag", func() error { return db.Tag.Create().SetName("anon").Exec(anon) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.write()
			if !errors.Is(err, privacy.Deny) {
				t.Fatalf("err = %v, want a privacy denial", err)
			}
		})
	}
	acctUnchanged(t, e, before)

	// The same writes by the rows' owners pass, and the system passes everywhere.
	if err := db.Article.UpdateOneID(artID).SetTitle("Ada's, edited").Exec(as(adaID)); err != nil {
		t.Fatalf("ada edits her article: %v", err)
	}
	if err := db.User.UpdateOneID(bobID).SetBio("mine").Exec(as(bobID)); err != nil {
		t.Fatalf("bob edits himself: %v", err)
	}
	if err := db.User.Create().SetUsername("sys").SetUsernameKey("sys").Exec(policy.System(anon)); err != nil {
		t.Fatalf("the system makes a user: %v", err)
	}
}
