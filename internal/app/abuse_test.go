package app_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lib/pq"

	"inkwell/internal/app"
	"inkwell/internal/apptest"
	"inkwell/internal/config"
	"inkwell/internal/pgtest"
	"inkwell/internal/server"
)

// refusalBound is how long any hostile request may take to be refused. It is generous
// for a loaded test machine under -race (900 KB inputs have come close to 2 s there); a
// regression to gqlgen's unbounded phases takes far longer (the 40-level fragment bomb
// in the table never finishes).
const refusalBound = 5 * time.Second

// outcome is what a hostile request got back.
type outcome struct {
	status int
	code   string // extensions.code of the first error, "" for a non-GraphQL answer
	errors int
}

// sendRaw sends one request to the server and reads its answer; a write the server
// cut short still counts when an answer came back.
func sendRaw(t *testing.T, method, target string, header http.Header, body []byte) outcome {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := outcome{status: res.StatusCode}
	var resp struct {
		Errors []apptest.Error `json:"errors"`
	}
	if json.Unmarshal(raw, &resp) == nil && len(resp.Errors) > 0 {
		out.code, out.errors = resp.Errors[0].Extensions.Code, len(resp.Errors)
	}
	return out
}

func jsonHeader(token string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/graphql-response+json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

func postGraphQL(t *testing.T, e *apptest.Env, token, query string, vars map[string]any) outcome {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return sendRaw(t, http.MethodPost, e.URL+"/graphql", jsonHeader(token), body)
}

// state fingerprints every row that a refused request could have touched.
func state(t *testing.T, e *apptest.Env) map[string]string {
	t.Helper()
	out := map[string]string{}
	for tbl, n := range e.Snapshot(t) {
		out[tbl+" rows"] = strconv.Itoa(n)
	}
	for _, tbl := range []string{"users", "articles", "comments", "refresh_tokens", "follows", "favorites"} {
		var sum string
		q := `SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM "` + tbl + `" t`
		if err := e.DB.QueryRow(q).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		out[tbl] = sum
	}
	return out
}

// forge signs claims with header fields and key by hand, so that any alg may be named.
func forge(t *testing.T, header map[string]any, claims jwt.MapClaims, sign func(input string) string) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + sign(input)
}

func hs256(key string) func(string) string {
	return func(input string) string {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(input))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
}

func repeatJoin(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, " ")
}

// fragmentBomb is n fragments each spreading the next twice: 2^n fields expanded.
func fragmentBomb(n int) string {
	var b strings.Builder
	b.WriteString("query Bomb { ...F0 }\n")
	for i := range n {
		next := "...F" + strconv.Itoa(i+1)
		b.WriteString("fragment F" + strconv.Itoa(i) + " on Query { tags { name } " + next + " " + next + " }\n")
	}
	b.WriteString("fragment F" + strconv.Itoa(n) + " on Query { __typename }\n")
	return b.String()
}

// deepFollowers nests viewer { followers { nodes { ... } } } depth levels deep.
func deepFollowers(depth int) string {
	q := "id"
	for d := 2; d < depth; d++ {
		if d%2 == 0 {
			q = "nodes { " + q + " }"
		} else {
			q = "followers { " + q + " }"
		}
	}
	return "{ viewer { " + q + " } }"
}

func TestAbuse(t *testing.T) {
	t.Parallel()
	e := apptest.New(t)
	alice := e.SignUp(t, "alice")
	bob := e.SignUp(t, "bob")
	bobs := e.CreateArticle(t, bob, "Bob's article")
	alices := e.CreateArticle(t, alice, "Alice's article")
	bobsComment := e.AddComment(t, bob, bobs.Slug, "Bob's comment")
	bobsCommentOnAlices := e.AddComment(t, bob, alices.Slug, "Bob's comment on Alice's article")
	var aliceID int
	if err := e.DB.QueryRow(`SELECT id FROM users WHERE username = 'alice'`).Scan(&aliceID); err != nil {
		t.Fatal(err)
	}
	// A refresh token spent once: presenting it again is a replay, which ends its
	// session, so it is of a second session of alice's and her first goes on working.
	var second struct{ SignIn struct{ RefreshToken string } }
	e.MustQuery(t, "", `mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) { refreshToken } }`,
		map[string]any{"e": alice.Email, "p": alice.Password}, &second)
	spent := second.SignIn.RefreshToken
	// A third session, signed out: its access token has not expired, but it has ended.
	var third struct {
		SignIn struct{ AccessToken, RefreshToken string }
	}
	e.MustQuery(t, "", `mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) { accessToken refreshToken } }`,
		map[string]any{"e": alice.Email, "p": alice.Password}, &third)
	e.MustQuery(t, "", `mutation($t: String!) { signOut(input: {refreshToken: $t}) { ok } }`,
		map[string]any{"t": third.SignIn.RefreshToken}, &map[string]any{})
	var rotated struct{ RefreshSession struct{ RefreshToken string } }
	e.MustQuery(t, "", `mutation($t: String!) { refreshSession(input: {refreshToken: $t}) { refreshToken } }`,
		map[string]any{"t": spent}, &rotated)

	key := e.Config.SigningKey
	kid := config.KeyID(key)
	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		now := time.Now()
		c := jwt.MapClaims{
			"iss": e.Config.Issuer, "aud": e.Config.Audience, "sub": strconv.Itoa(aliceID),
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": "abuse",
			"sid": tokSessionID(t, alice.Token),
		}
		if change != nil {
			change(c)
		}
		return c
	}
	hsHeader := map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}
	valid := forge(t, hsHeader, claims(nil), hs256(key))
	if out := postGraphQL(t, e, valid, `{ viewer { id } }`, nil); out.status != http.StatusOK || out.code != "" {
		t.Fatalf("the hand-made token is not accepted: %+v", out)
	}
	validParts := strings.Split(valid, ".")

	// A server with the production connection limits over the same handler, for what
	// only the connection layer refuses.
	hc := app.HTTPConfig(e.Config.Limits)
	hc.ReadHeaderTimeout = 500 * time.Millisecond
	tight := server.NewHTTPServer(e.App.Handler, hc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = tight.Serve(ln) }()
	t.Cleanup(func() { _ = tight.Close() })
	tightURL := "http://" + ln.Addr().String()

	gql := func(token, query string, vars map[string]any) func(t *testing.T) outcome {
		return func(t *testing.T) outcome { return postGraphQL(t, e, token, query, vars) }
	}
	raw := func(method, target string, header http.Header, body []byte) func(t *testing.T) outcome {
		return func(t *testing.T) outcome { return sendRaw(t, method, target, header, body) }
	}
	withToken := func(token string) func(t *testing.T) outcome { return gql(token, `{ viewer { id } }`, nil) }
	signIn := func(i int) string {
		return "s" + strconv.Itoa(i) + `: signIn(input: {email: "alice@example.com", password: "guess` + strconv.Itoa(i) + `"}) { accessToken }`
	}
	big := strings.Repeat("x", 900<<10)

	for _, tc := range []struct {
		name   string
		do     func(t *testing.T) outcome
		status int
		code   string
		// changes marks the one refusal whose point is a change: a replayed refresh
		// token revokes its session.
		changes bool
	}{
		// Documents, refused before gqlgen validates them.
		{name: "nesting past the depth limit", do: gql(alice.Token, deepFollowers(13), nil), status: 400, code: "QUERY_TOO_COMPLEX"},
		{name: "nesting past the parser's limit", do: gql("", strings.Repeat("{ a ", 1200)+strings.Repeat("}", 1200), nil), status: 400, code: "QUERY_TOO_COMPLEX"},
		{name: "31 aliases of a list", do: gql("", "{ "+repeatJoin(31, func(i int) string { return "a" + strconv.Itoa(i) + ": articles(first: 100) { nodes { body } }" })+" }", nil), status: 400, code: "TOO_MANY_ALIASES"},
		{name: "an alias bomb of 1000", do: gql("", "{ "+repeatJoin(1000, func(i int) string { return "a" + strconv.Itoa(i) + ": __typename" })+" }", nil), status: 400, code: "TOO_MANY_ALIASES"},
		{name: "a 1 KB fragment bomb", do: gql("", fragmentBomb(16), nil), status: 400, code: "TOO_MANY_FIELDS"},
		{name: "a fragment bomb of 40 levels", do: gql("", fragmentBomb(40), nil), status: 400, code: "TOO_MANY_FIELDS"},
		{name: "circular fragments", do: gql("", "{ ...A } fragment A on Query { tags { name } ...B } fragment B on Query { ...A }", nil), status: 400, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "a fragment spreading itself", do: gql("", "{ ...A } fragment A on Query { ...A }", nil), status: 400, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "a 100k-token document", do: gql("", "{ "+strings.Repeat("a ", 100000)+"}", nil), status: 400, code: "TOO_MANY_TOKENS"},
		{name: "10,000 duplicated fields", do: gql("", "{ "+strings.Repeat("__typename ", 10000)+"}", nil), status: 400, code: "TOO_MANY_TOKENS"},
		{name: "2,000 duplicated fields under the token limit", do: gql(alice.Token, "{ viewer { "+strings.Repeat("id ", 2000)+"} }", nil), status: 400, code: "TOO_MANY_FIELDS"},
		{name: "51 directives", do: gql("", "{ "+strings.Repeat("__typename @include(if: true) ", 51)+"}", nil), status: 400, code: "TOO_MANY_DIRECTIVES"},
		{name: "200 directives on one field", do: gql("", "{ __typename "+strings.Repeat("@skip(if: false) ", 200)+"}", nil), status: 400, code: "TOO_MANY_DIRECTIVES"},
		{name: "nested lists past the complexity limit", do: gql("", "{ articles(first: 100) { nodes { comments(first: 100) { nodes { body } } } } }", nil), status: 400, code: "QUERY_TOO_COMPLEX"},
		{name: "first: 1000000", do: gql("", "{ articles(first: 1000000) { nodes { id } } }", nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "last: 1000000", do: gql("", "{ articles(last: 1000000) { nodes { id } } }", nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "first: 1000000 on a nested list", do: gql("", "{ articles(first: 1) { nodes { comments(first: 1000000) { nodes { id } } } } }", nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "two signIns under aliases", do: gql("", "mutation { "+signIn(0)+" "+signIn(1)+" }", nil), status: 400, code: "TOO_MANY_AUTH_FIELDS"},
		{name: "50 signIns under aliases", do: gql("", "mutation { "+repeatJoin(50, signIn)+" }", nil), status: 400, code: "TOO_MANY_AUTH_FIELDS"},
		{name: "signIn twice through a fragment", do: gql("", "mutation { ...S ...S } fragment S on Mutation { "+signIn(0)+" }", nil), status: 400, code: "TOO_MANY_AUTH_FIELDS"},
		{name: "refreshSession and signUp together", do: gql("", `mutation { refreshSession(input: {refreshToken: "x"}) { accessToken } signUp(input: {username: "mallory", email: "m@example.com", password: "password-mallory"}) { accessToken } }`, nil), status: 400, code: "TOO_MANY_AUTH_FIELDS"},
		{name: "an unknown operationName", do: raw(http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte(`{"query":"query A { tags { name } }","operationName":"B"}`)), status: 400, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "a syntax error", do: gql("", "{ tags { name }", nil), status: 400, code: "GRAPHQL_PARSE_FAILED"},
		{name: "no query", do: gql("", "", nil), status: 400, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "a subscription over HTTP", do: gql(alice.Token, "subscription { feedArticleAdded { id } }", nil), status: 400, code: "BAD_REQUEST"},
		{name: "300 unknown fields", do: gql("", "{ "+repeatJoin(300, func(i int) string { return "f" + strconv.Itoa(i) })+" }", nil), status: 400, code: "GRAPHQL_VALIDATION_FAILED"},

		// Bodies and transports.
		{name: "a 10 MB body", do: raw(http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte(`{"query":"{ __typename }","variables":{"x":"`+strings.Repeat("x", 10<<20)+`"}}`)), status: 413, code: "REQUEST_TOO_LARGE"},
		{name: "a batch of 1000 operations", do: raw(http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte("["+strings.TrimSuffix(strings.Repeat(`{"query":"{ articles(first: 100) { nodes { body } } }"},`, 1000), ",")+"]")), status: 400, code: "BAD_REQUEST"},
		{name: "invalid JSON", do: raw(http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte(`{"query": "{ __typename }"`)), status: 400, code: "BAD_REQUEST"},
		{name: "invalid UTF-8", do: raw(http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte("{\"query\": \"{ tags \xff\xfe { name } }\"}")), status: 400, code: "GRAPHQL_PARSE_FAILED"},
		{name: "a NUL in the query", do: gql("", "{ tags { name } }\x00", nil), status: 400, code: "GRAPHQL_PARSE_FAILED"},
		{name: "variables nested 20,000 deep", do: raw(http.MethodPost, e.URL+"/graphql", jsonHeader(""), []byte(`{"query":"{ __typename }","variables":{"x":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}}`)), status: 400, code: "BAD_REQUEST"},
		{name: "900 KB variables into a write", do: gql(alice.Token, `mutation($in: CreateArticleInput!) { createArticle(input: $in) { article { id } } }`, map[string]any{"in": map[string]any{"title": big, "description": "d", "body": "b"}}), status: 200, code: "BAD_USER_INPUT"},
		{name: "900 KB password", do: gql("", `mutation($p: String!) { signIn(input: {email: "alice@example.com", password: $p}) { accessToken } }`, map[string]any{"p": big}), status: 200, code: "UNAUTHENTICATED"},
		{name: "a text body", do: raw(http.MethodPost, e.URL+"/graphql", http.Header{"Content-Type": {"text/plain"}}, []byte(`{"query":"{ __typename }"}`)), status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "a mutation over GET", do: raw(http.MethodGet, e.URL+"/graphql?"+url.Values{"query": {`mutation { deleteArticle(input: {slug: "` + bobs.Slug + `"}) { deletedArticleId } }`}}.Encode(), http.Header{"Authorization": {"Bearer " + bob.Token}}, nil), status: 405, code: "METHOD_NOT_ALLOWED"},

		// Tokens.
		{name: "a token with alg none", do: withToken(forge(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims(nil), func(string) string { return "" })), status: 401, code: "UNAUTHENTICATED"},
		{name: "HS/RS confusion", do: withToken(forge(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claims(nil), hs256(key))), status: 401, code: "UNAUTHENTICATED"},
		{name: "an expired token", do: withToken(forge(t, hsHeader, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), hs256(key))), status: 401, code: "UNAUTHENTICATED"},
		{name: "a wrong issuer", do: withToken(forge(t, hsHeader, claims(func(c jwt.MapClaims) { c["iss"] = "mallory" }), hs256(key))), status: 401, code: "UNAUTHENTICATED"},
		{name: "a wrong audience", do: withToken(forge(t, hsHeader, claims(func(c jwt.MapClaims) { c["aud"] = "mallory" }), hs256(key))), status: 401, code: "UNAUTHENTICATED"},
		{name: "a tampered signature", do: withToken(validParts[0] + "." + validParts[1] + "." + strings.Repeat("A", len(validParts[2]))), status: 401, code: "UNAUTHENTICATED"},
		{name: "a tampered subject", do: withToken(func() string {
			c, _ := json.Marshal(claims(func(c jwt.MapClaims) { c["sub"] = strconv.Itoa(aliceID + 1) }))
			return validParts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + validParts[2]
		}()), status: 401, code: "UNAUTHENTICATED"},
		{name: "a token signed with another key", do: withToken(forge(t, hsHeader, claims(nil), hs256("mallory-key-0123456789abcdef-0123456789"))), status: 401, code: "UNAUTHENTICATED"},
		{name: "a garbage token", do: withToken(strings.Repeat("x", 5000)), status: 401, code: "UNAUTHENTICATED"},
		{name: "a signed-out session's unexpired token", do: withToken(third.SignIn.AccessToken), status: 401, code: "UNAUTHENTICATED"},
		{name: "a token without a session", do: withToken(forge(t, hsHeader, claims(func(c jwt.MapClaims) { delete(c, "sid") }), hs256(key))), status: 401, code: "UNAUTHENTICATED"},

		// Taking an account over with a stolen token, or passing for someone.
		{name: "a new password with only the token", do: gql(alice.Token, `mutation { updateViewer(input: {password: "mallory's password"}) { user { id } } }`, nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "a new email with only the token", do: gql(alice.Token, `mutation { updateViewer(input: {email: "mallory@example.com"}) { user { id } } }`, nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "a look-alike username", do: gql("", `mutation { signUp(input: {username: "a1ice", email: "a1ice@example.com", password: "password-a1ice"}) { accessToken } }`, nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "a full-width taken email", do: gql("", `mutation { signUp(input: {username: "mallory", email: "ａｌｉｃｅ@example.com", password: "password-mallory"}) { accessToken } }`, nil), status: 200, code: "BAD_USER_INPUT"},
		{name: "a login code without its client's verifier", do: gql("", `mutation { exchangeLoginCode(input: {code: "stolen", codeVerifier: "not-the-clients-verifier-0123456789-abcdefghij"}) { accessToken } }`, nil), status: 200, code: "UNAUTHENTICATED"},

		// Someone else's objects (alice acting on bob's).
		{name: "updating someone else's article", do: gql(alice.Token, `mutation($s: String!) { updateArticle(input: {slug: $s, title: "Pwned"}) { article { id } } }`, map[string]any{"s": bobs.Slug}), status: 200, code: "FORBIDDEN"},
		{name: "deleting someone else's article", do: gql(alice.Token, `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`, map[string]any{"s": bobs.Slug}), status: 200, code: "FORBIDDEN"},
		{name: "deleting someone else's comment", do: gql(alice.Token, `mutation($id: ID!) { deleteComment(input: {id: $id}) { deletedCommentId } }`, map[string]any{"id": bobsComment}), status: 200, code: "FORBIDDEN"},
		{name: "deleting someone else's comment on one's article", do: gql(alice.Token, `mutation($id: ID!) { deleteComment(input: {id: $id}) { deletedCommentId } }`, map[string]any{"id": bobsCommentOnAlices}), status: 200, code: "FORBIDDEN"},
		{name: "writing anonymously", do: gql("", `mutation($s: String!) { deleteArticle(input: {slug: $s}) { deletedArticleId } }`, map[string]any{"s": bobs.Slug}), status: 200, code: "UNAUTHENTICATED"},
		{name: "a replayed refresh token", do: gql("", `mutation($t: String!) { refreshSession(input: {refreshToken: $t}) { accessToken } }`, map[string]any{"t": spent}), status: 200, code: "UNAUTHENTICATED", changes: true},

		// Connections.
		{name: "oversized headers", do: raw(http.MethodPost, tightURL+"/graphql", http.Header{"Content-Type": {"application/json"}, "X-Padding": {strings.Repeat("p", 64<<10)}}, []byte(`{"query":"{ __typename }"}`)), status: 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := state(t, e)
			start := time.Now()
			out := tc.do(t)
			took := time.Since(start)
			t.Logf("%-50s %4d %-26s %v", tc.name, out.status, out.code, took.Round(time.Microsecond))
			if out.status != tc.status || out.code != tc.code {
				t.Errorf("got %d %q, want %d %q", out.status, out.code, tc.status, tc.code)
			}
			if out.errors > 10 {
				t.Errorf("%d errors, want at most 10", out.errors)
			}
			if took > refusalBound {
				t.Errorf("refused in %v, want under %v", took, refusalBound)
			}
			if after := state(t, e); !tc.changes && !maps.Equal(before, after) {
				t.Errorf("the database changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}

	t.Run("a replayed refresh token revokes its session", func(t *testing.T) {
		out := postGraphQL(t, e, "", `mutation($t: String!) { refreshSession(input: {refreshToken: $t}) { accessToken } }`,
			map[string]any{"t": rotated.RefreshSession.RefreshToken})
		if out.code != "UNAUTHENTICATED" {
			t.Errorf("the rotated token after a replay: %+v, want UNAUTHENTICATED", out)
		}
	})

	t.Run("headers sent byte by byte are cut off", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		start := time.Now()
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.Copy(io.Discard, conn)
		}()
		header := "POST /graphql HTTP/1.1\r\nHost: inkwell\r\nX-Slow: " + strings.Repeat("s", 100)
		for i := 0; i < len(header); i++ {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				break
			}
			select {
			case <-closed:
			case <-time.After(50 * time.Millisecond):
				continue
			}
			break
		}
		<-closed
		took := time.Since(start)
		t.Logf("slow-loris connection closed after %v", took.Round(time.Millisecond))
		if took > refusalBound {
			t.Errorf("closed after %v, want about the 500ms ReadHeaderTimeout", took)
		}
	})

	// The suite must also not have refused everything: the same server still serves.
	if out := postGraphQL(t, e, alice.Token, `{ viewer { username } }`, nil); out.status != http.StatusOK || out.code != "" {
		t.Errorf("a normal query after the abuse: %+v", out)
	}
}

func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"postgres://h/db", "postgres://h/db?statement_timeout=5000"},
		{"postgres://h/db?statement_timeout=100", "postgres://h/db?statement_timeout=100"},
		{"host=h dbname=db", "host=h dbname=db statement_timeout=5000"},
	} {
		if got := app.WithStatementTimeout(tc.in, 5*time.Second); got != tc.want {
			t.Errorf("WithStatementTimeout(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	db, err := sql.Open("postgres", app.WithStatementTimeout(app.DatabaseURL(pgtest.New(t)), 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	_, err = db.ExecContext(context.Background(), `SELECT pg_sleep(10)`)
	took := time.Since(start)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "57014" {
		t.Fatalf("err = %v, want query_canceled (57014)", err)
	}
	if took > 5*time.Second {
		t.Errorf("cancelled after %v, want about 200ms", took)
	}
	t.Logf("a 10 s statement was cancelled after %v", took.Round(time.Millisecond))
}
