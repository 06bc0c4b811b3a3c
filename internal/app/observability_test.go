package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"inkwell/internal/app"
	"inkwell/internal/config"
	"inkwell/internal/logtest"
	"inkwell/internal/pgtest"
	"inkwell/internal/service"
	"inkwell/internal/telemetry"
)

// observed is a server whose logs, metrics and spans the test can read.
type observed struct {
	app   *app.App
	url   string
	logs  *logtest.Buffer
	spans *tracetest.SpanRecorder
}

func newObserved(t *testing.T) *observed {
	t.Helper()
	dsn := app.DatabaseURL(pgtest.New(t))
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg, err := config.FromEnv(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = dsn
	cfg.SigningKey = "test-signing-key-0123456789abcdef-0123456789"
	cfg.StorageDir = t.TempDir()
	logs := &logtest.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	a, err := app.New(db, cfg, log, app.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return &observed{app: a, url: srv.URL, logs: logs, spans: spans}
}

// post sends one GraphQL request and returns the decoded body.
func (o *observed) post(t *testing.T, token, query string, vars map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, o.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// field walks the decoded response along path.
func field(v any, path ...string) string {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// accessLines are the access log's lines, decoded.
func (o *observed) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(o.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == "http request" {
			out = append(out, m)
		}
	}
	return out
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	o := newObserved(t)
	const (
		email    = "secret.person@example.com"
		password = "correct-horse-battery-staple"
	)
	secrets := []string{email, password, "secret.person@"}

	up := o.post(t, "", `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { accessToken refreshToken } }`,
		map[string]any{"in": map[string]any{"username": "secretperson", "email": email, "password": password}})
	access, refresh := field(up, "data", "signUp", "accessToken"), field(up, "data", "signUp", "refreshToken")
	if access == "" || refresh == "" {
		t.Fatalf("signUp gave %v", up)
	}
	secrets = append(secrets, access, refresh)

	// Failures too: a wrong password, a taken email, an inline literal password.
	o.post(t, "", `mutation SignIn($in: SignInInput!) { signIn(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"email": email, "password": password + "-wrong"}})
	o.post(t, "", `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"username": "someoneelse", "email": email, "password": password}})
	in := o.post(t, "", `mutation { signIn(input: {email: "`+email+`", password: "`+password+`"}) { accessToken refreshToken } }`, nil)
	secrets = append(secrets, field(in, "data", "signIn", "accessToken"), field(in, "data", "signIn", "refreshToken"), password+"-wrong")

	ref := o.post(t, access, `mutation Refresh($in: RefreshSessionInput!) { refreshSession(input: $in) { accessToken refreshToken } }`,
		map[string]any{"in": map[string]any{"refreshToken": refresh}})
	secrets = append(secrets, field(ref, "data", "refreshSession", "accessToken"), field(ref, "data", "refreshSession", "refreshToken"))
	// Spent: replaying it revokes the session, an error path that logs.
	o.post(t, "", `mutation Refresh($in: RefreshSessionInput!) { refreshSession(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"refreshToken": refresh}})

	code, err := o.app.Service.LoginCode(context.Background(), service.ExternalIdentity{
		Provider: "github", Subject: "4242", Email: "social.person@example.com", EmailVerified: true, Login: "socialperson",
	}, oaChallenge)
	if err != nil {
		t.Fatal(err)
	}
	ex := o.post(t, "", `mutation Exchange($in: ExchangeLoginCodeInput!) { exchangeLoginCode(input: $in) { accessToken refreshToken } }`,
		map[string]any{"in": map[string]any{"code": code, "codeVerifier": oaVerifier}})
	if field(ex, "data", "exchangeLoginCode", "accessToken") == "" {
		t.Fatalf("exchangeLoginCode gave %v", ex)
	}
	secrets = append(secrets, code, "social.person@", field(ex, "data", "exchangeLoginCode", "accessToken"),
		field(ex, "data", "exchangeLoginCode", "refreshToken"))
	o.post(t, "", `mutation Exchange($in: ExchangeLoginCodeInput!) { exchangeLoginCode(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"code": code, "codeVerifier": oaVerifier}})

	logs := o.logs.String()
	for _, s := range secrets {
		if s == "" {
			t.Fatal("a request the test relies on failed")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold %q:\n%s", s, logs)
		}
	}
	lines := o.accessLines(t)
	if len(lines) != 8 {
		t.Fatalf("%d access lines for 8 requests:\n%s", len(lines), logs)
	}
	ops := map[string]bool{}
	for _, l := range lines {
		ops[l["operation"].(string)] = true
		if l["request_id"] == "" || l["status"] != 200.0 || l["path"] != "/graphql" || l["bytes"].(float64) <= 0 {
			t.Errorf("access line %v", l)
		}
	}
	for _, want := range []string{"SignUp", "SignIn", "Refresh", "Exchange", ""} {
		if !ops[want] {
			t.Errorf("no access line for operation %q; got %v", want, ops)
		}
	}
}

func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	o := newObserved(t)
	req, _ := http.NewRequest(http.MethodPost, o.url+"/graphql?token=should-not-appear",
		strings.NewReader(`{"query":"query Tags { tags { nodes { name } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-Id", "req-abc.123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lines := o.accessLines(t)
	if len(lines) != 1 {
		t.Fatalf("access lines: %v", lines)
	}
	l := lines[0]
	t.Logf("access line: %s", strings.TrimSpace(o.logs.String()))
	for k, want := range map[string]any{
		"request_id": "req-abc.123", "method": "POST", "path": "/graphql", "route": "/graphql",
		"status": 200.0, "operation": "Tags", "sql_statements": 1.0,
	} {
		if l[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, l[k], want, l)
		}
	}
	for _, k := range []string{"duration_ms", "bytes", "remote_addr", "trace_id", "level", "time"} {
		if _, ok := l[k]; !ok {
			t.Errorf("no %s in %v", k, l)
		}
	}
	if strings.Contains(o.logs.String(), "should-not-appear") {
		t.Errorf("the query string was logged: %s", o.logs.String())
	}
}

func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	o := newObserved(t)
	up := o.post(t, "", `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"username": "metrics", "email": "metrics@example.com", "password": "password-metrics"}})
	token := field(up, "data", "signUp", "accessToken")
	for _, title := range []string{"One", "Two", "Three"} {
		o.post(t, token, `mutation Publish($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`,
			map[string]any{"in": map[string]any{"title": title, "description": "d", "body": "b", "tags": []string{"x"}}})
	}
	o.post(t, "", `query Articles { articles(first: 10) { edges { node { title author { username } tags { name } } } } }`, nil)
	o.post(t, "", `{ tags { nodes { name } } }`, nil)
	o.post(t, "", `query Broken { nope }`, nil)
	o.post(t, "", `mutation Publish($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`,
		map[string]any{"in": map[string]any{"title": "x", "description": "d", "body": "b", "tags": []string{}}})

	scrape := httptest.NewServer(telemetry.Handler(o.app.Metrics.Registry))
	t.Cleanup(scrape.Close)
	resp, err := http.Get(scrape.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`inkwell_http_request_duration_seconds_count{method="POST",route="/graphql",status="200"} 8`,
		`inkwell_graphql_operation_duration_seconds_count{operation="Articles",type="query"} 1`,
		`inkwell_graphql_operation_duration_seconds_count{operation="Publish",type="mutation"} 4`,
		`inkwell_graphql_operation_duration_seconds_count{operation="anonymous",type="query"} 1`,
		`inkwell_graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1`,
		`inkwell_graphql_errors_total{code="UNAUTHENTICATED"} 1`,
		`inkwell_sql_statements_per_operation_count{operation="Articles"} 1`,
		`inkwell_dataloader_batch_size_count{loader="UserByID"}`,
		`inkwell_dataloader_batch_size_sum{loader="TagsByArticle"} 3`,
		`go_sql_open_connections{db_name="inkwell"}`,
		`inkwell_sql_statements_total`,
		"inkwell_subscriptions 0",
		"inkwell_subscriptions_catching_up 0",
		"inkwell_events_replayed_total 0",
		"inkwell_subscriptions_dropped_total 0",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepLines(text, "inkwell_"))
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) && !strings.HasPrefix(line, "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestTraceNestsHTTPOperationResolverSQL(t *testing.T) {
	t.Parallel()
	o := newObserved(t)
	up := o.post(t, "", `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		map[string]any{"in": map[string]any{"username": "tracer", "email": "tracer@example.com", "password": "password-tracer"}})
	token := field(up, "data", "signUp", "accessToken")
	o.post(t, token, `mutation Publish($in: CreateArticleInput!) { createArticle(input: $in) { article { slug } } }`,
		map[string]any{"in": map[string]any{"title": "Traced", "description": "d", "body": "b", "tags": []string{}}})
	before := len(o.spans.Ended())
	out := o.post(t, "", `query Traced { articles(first: 5) { edges { node { title author { username email } } } } }`, nil)
	if field(out, "data") == "" && out["data"] == nil {
		t.Fatalf("query failed: %v", out)
	}
	spans := o.spans.Ended()[before:]
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
	}
	find := func(name string) sdktrace.ReadOnlySpan {
		for _, s := range spans {
			if s.Name() == name {
				return s
			}
		}
		var names []string
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("no span %q among %v", name, names)
		return nil
	}
	httpSpan := find("POST /graphql")
	op := find("query Traced")
	articles := find("Query.articles")
	email := find("User.email") // a resolver: the service's visibility rule needs the viewer
	parent := func(s sdktrace.ReadOnlySpan) string { return s.Parent().SpanID().String() }
	if httpSpan.Parent().IsValid() {
		t.Errorf("the HTTP span has a parent")
	}
	if parent(op) != httpSpan.SpanContext().SpanID().String() {
		t.Errorf("the operation span is not under the HTTP span")
	}
	under := func(s, ancestor sdktrace.ReadOnlySpan) bool {
		for s != nil {
			if parent(s) == ancestor.SpanContext().SpanID().String() {
				return true
			}
			s = byID[parent(s)]
		}
		return false
	}
	if !under(articles, op) || !under(email, articles) {
		t.Errorf("resolver spans are not nested: articles under %v, email under %v",
			byID[parent(articles)], byID[parent(email)])
	}
	// Each statement's span sits under a resolver: the list's page (ids), its articles and
	// their authors, which the list loads ahead for its items, under Query.articles.
	var sqlUnder = map[string]int{}
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "db ") {
			p, ok := byID[parent(s)]
			if !ok {
				t.Errorf("SQL span %s has no parent in the trace", s.Name())
				continue
			}
			sqlUnder[p.Name()]++
			if q := attr(s, "db.query.text"); !strings.Contains(q, "SELECT") {
				t.Errorf("SQL span text %q", q)
			}
		}
	}
	if sqlUnder["Query.articles"] != 3 || len(sqlUnder) != 1 {
		t.Errorf("SQL spans by parent: %v", sqlUnder)
	}
	trace := httpSpan.SpanContext().TraceID()
	for _, s := range spans {
		if s.SpanContext().TraceID() != trace {
			t.Errorf("span %s is in trace %s, not %s", s.Name(), s.SpanContext().TraceID(), trace)
		}
	}
	for _, s := range spans {
		t.Logf("span %s %q parent %s trace %s", s.SpanContext().SpanID(), s.Name(), s.Parent().SpanID(), s.SpanContext().TraceID())
	}
	// Fields without a resolver of their own get no span, whether bound to a struct field
	// or to a method that reads through the loaders.
	for _, s := range spans {
		if s.Name() == "Article.title" || s.Name() == "User.username" || s.Name() == "Article.author" {
			t.Errorf("span for a plain field: %s", s.Name())
		}
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}
