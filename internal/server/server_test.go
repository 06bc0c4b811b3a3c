package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"inkwell/graph"
	"inkwell/internal/apperr"
	"inkwell/internal/buildinfo"
	"inkwell/internal/logtest"
	"inkwell/internal/server"
)

// The resolvers are being written elsewhere, so these tests send only what gqlgen answers
// without them (__typename, introspection, documents refused before execution) or stub the
// one field they need with stubSchema.

func newHandler(t *testing.T, cfg server.Config, deps server.Deps) (http.Handler, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	if deps.Schema == nil {
		deps.Schema = realSchema()
	}
	deps.Logger = slog.New(slog.NewTextHandler(logs, nil))
	return server.New(cfg, deps), logs
}

func realSchema() graphql.ExecutableSchema {
	return graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{}})
}

// stubSchema answers the named fields ("Query.viewer") itself, standing in for resolvers
// that are not written yet, through the resolver middleware gqlgen calls for every field.
type stubSchema struct {
	graphql.ExecutableSchema
	fields map[string]func(ctx context.Context) (any, error)
}

func (s stubSchema) Exec(ctx context.Context) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	next := oc.ResolverMiddleware
	oc.ResolverMiddleware = func(ctx context.Context, resolve graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if f, ok := s.fields[fc.Object+"."+fc.Field.Name]; ok {
			return f(ctx)
		}
		return next(ctx, resolve)
	}
	return s.ExecutableSchema.Exec(ctx)
}

func withViewer(f func(ctx context.Context) (any, error)) server.Deps {
	return server.Deps{Schema: stubSchema{
		ExecutableSchema: realSchema(),
		fields:           map[string]func(context.Context) (any, error){"Query.viewer": f},
	}}
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func post(query string) *http.Request {
	body, _ := json.Marshal(map[string]any{"query": query})
	r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func get(query string) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/graphql?"+url.Values{"query": {query}}.Encode(), nil)
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data    json.RawMessage
	HasData bool
	Errors  []gqlError
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) gqlResponse {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	var resp gqlResponse
	resp.Data, resp.HasData = raw["data"]
	if e, ok := raw["errors"]; ok {
		if err := json.Unmarshal(e, &resp.Errors); err != nil {
			t.Fatalf("errors %s: %v", e, err)
		}
	}
	return resp
}

// wantError checks that rec is a refusal with status and one error of code.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) gqlError {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	resp := decode(t, rec)
	if resp.HasData {
		t.Errorf("response has data %s, want none", resp.Data)
	}
	if len(resp.Errors) != 1 {
		t.Fatalf("errors = %+v, want one", resp.Errors)
	}
	if got := resp.Errors[0].Extensions["code"]; got != code {
		t.Errorf("code = %v, want %s (message %q)", got, code, resp.Errors[0].Message)
	}
	return resp.Errors[0]
}

// deepQuery nests viewer { followers { nodes { ... } } } to depth fields, counting the leaf.
func deepQuery(depth int) string {
	var b strings.Builder
	b.WriteString("{ viewer {")
	leaf := "id"
	for d := 2; d < depth; d++ {
		if d%2 == 0 {
			b.WriteString(" followers {")
			leaf = "totalCount"
		} else {
			b.WriteString(" nodes {")
			leaf = "id"
		}
	}
	b.WriteString(" " + leaf)
	b.WriteString(strings.Repeat(" }", depth))
	return b.String()
}

func TestGraphQL(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, server.DefaultConfig(), server.Deps{})

	t.Run("POST runs a query", func(t *testing.T) {
		t.Parallel()
		rec := serve(h, post("{ __typename }"))
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type = %q", ct)
		}
		if got := string(decode(t, rec).Data); got != `{"__typename":"Query"}` {
			t.Errorf("data = %s", got)
		}
	})

	t.Run("GET runs a query", func(t *testing.T) {
		t.Parallel()
		rec := serve(h, get("query Q { __typename }"))
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		if got := string(decode(t, rec).Data); got != `{"__typename":"Query"}` {
			t.Errorf("data = %s", got)
		}
	})

	t.Run("a parse error is 200 with application/json", func(t *testing.T) {
		t.Parallel()
		e := wantError(t, serve(h, post("{ __typename")), http.StatusOK, "GRAPHQL_PARSE_FAILED")
		if e.Message == "" {
			t.Error("message is empty")
		}
	})

	t.Run("a parse error is 400 with graphql-response+json", func(t *testing.T) {
		t.Parallel()
		r := post("{ __typename")
		r.Header.Set("Accept", "application/graphql-response+json")
		rec := serve(h, r)
		wantError(t, rec, http.StatusBadRequest, "GRAPHQL_PARSE_FAILED")
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/graphql-response+json") {
			t.Errorf("Content-Type = %q", ct)
		}
	})

	t.Run("graphql-response+json anywhere in Accept wins", func(t *testing.T) {
		t.Parallel()
		r := get("{ nope }")
		r.Header.Set("Accept", "application/json, application/graphql-response+json;q=0.9")
		rec := serve(h, r)
		wantError(t, rec, http.StatusBadRequest, "GRAPHQL_VALIDATION_FAILED")
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/graphql-response+json") {
			t.Errorf("Content-Type = %q", ct)
		}
	})

	t.Run("a validation error keeps its message", func(t *testing.T) {
		t.Parallel()
		e := wantError(t, serve(h, post("{ nope }")), http.StatusOK, "GRAPHQL_VALIDATION_FAILED")
		if !strings.Contains(e.Message, "nope") {
			t.Errorf("message = %q", e.Message)
		}
	})

	t.Run("an unknown operation name is a validation error", func(t *testing.T) {
		t.Parallel()
		body := `{"query":"query A { __typename }","operationName":"B"}`
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		wantError(t, serve(h, r), http.StatusOK, "GRAPHQL_VALIDATION_FAILED")
	})

	t.Run("too deep is refused before resolvers run", func(t *testing.T) {
		t.Parallel()
		// A refusal has no data: nothing was executed.
		e := wantError(t, serve(h, post(deepQuery(13))), http.StatusOK, "QUERY_TOO_COMPLEX")
		if !strings.Contains(e.Message, "depth 13") {
			t.Errorf("message = %q", e.Message)
		}
	})

	t.Run("depth counts fields inside fragments", func(t *testing.T) {
		t.Parallel()
		q := `{ viewer { ...F } }
		fragment F on User { followers { nodes { ...G } } }
		fragment G on User { followers { nodes { ... on User { followers { nodes { following { nodes { articles { nodes { author { id } } } } } } } } } } }`
		wantError(t, serve(h, post(q)), http.StatusOK, "QUERY_TOO_COMPLEX")
	})

	t.Run("introspection is not counted as depth", func(t *testing.T) {
		t.Parallel()
		q := `{ __type(name: "User") { fields { type {` + strings.Repeat(" ofType {", 12) + " name" + strings.Repeat(" }", 16)
		rec := serve(h, post(q))
		if rec.Code != http.StatusOK || len(decode(t, rec).Errors) != 0 {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
	})

	t.Run("a mutation over GET is 405", func(t *testing.T) {
		t.Parallel()
		rec := serve(h, get(`mutation { signOut(input: {refreshToken: "x"}) { __typename } }`))
		wantError(t, rec, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if got := rec.Header().Get("Allow"); got != "POST" {
			t.Errorf("Allow = %q, want POST", got)
		}
	})

	t.Run("PUT is 405", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodPut, "/graphql", strings.NewReader("{}"))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(h, r)
		wantError(t, rec, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if got := rec.Header().Get("Allow"); got != "GET, POST" {
			t.Errorf("Allow = %q", got)
		}
	})

	t.Run("a POST that is not JSON is 415", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader("{ __typename }"))
		r.Header.Set("Content-Type", "application/graphql")
		wantError(t, serve(h, r), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	})

	t.Run("JSON with a charset is fine", func(t *testing.T) {
		t.Parallel()
		r := post("{ __typename }")
		r.Header.Set("Content-Type", "application/json; charset=utf-8")
		if rec := serve(h, r); rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
	})

	t.Run("malformed JSON is 400 without echoing the body", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(`{"query": "secret-password`))
		r.Header.Set("Content-Type", "application/json")
		rec := serve(h, r)
		wantError(t, rec, http.StatusBadRequest, "BAD_REQUEST")
		if strings.Contains(rec.Body.String(), "secret-password") {
			t.Errorf("body echoes the request: %s", rec.Body)
		}
	})

	t.Run("malformed variables over GET are 400", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/graphql?"+url.Values{
			"query": {"{ __typename }"}, "variables": {"[1"},
		}.Encode(), nil)
		wantError(t, serve(h, r), http.StatusBadRequest, "BAD_REQUEST")
	})
}

func TestResolverErrors(t *testing.T) {
	t.Parallel()

	t.Run("a panic is an internal error, logged with its stack", func(t *testing.T) {
		t.Parallel()
		h, logs := newHandler(t, server.Config{}, withViewer(func(context.Context) (any, error) {
			panic("not implemented: Viewer")
		}))
		r := post("{ viewer { id } }")
		r.Header.Set("X-Request-Id", "panic-1")
		rec := serve(h, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		resp := decode(t, rec)
		if string(resp.Data) != `{"viewer":null}` || len(resp.Errors) != 1 {
			t.Fatalf("body %s", rec.Body)
		}
		if e := resp.Errors[0]; e.Message != "internal server error" || e.Extensions["code"] != "INTERNAL_SERVER_ERROR" {
			t.Errorf("error = %+v", e)
		}
		if strings.Contains(rec.Body.String(), "not implemented") {
			t.Errorf("body leaks the panic: %s", rec.Body)
		}
		l := logs.String()
		if !strings.Contains(l, "not implemented") || !strings.Contains(l, "request_id=panic-1") || !strings.Contains(l, "stack=") {
			t.Errorf("panic not logged with request id and stack:\n%s", l)
		}
		if strings.Count(l, "level=ERROR") != 1 {
			t.Errorf("want the panic logged once:\n%s", l)
		}
	})

	t.Run("a hidden cause is logged with the request id", func(t *testing.T) {
		t.Parallel()
		h, logs := newHandler(t, server.Config{}, withViewer(func(context.Context) (any, error) {
			return nil, errors.New("pq: password authentication failed")
		}))
		r := post("{ viewer { id } }")
		r.Header.Set("X-Request-Id", "hidden-1")
		rec := serve(h, r)
		resp := decode(t, rec)
		if len(resp.Errors) != 1 || resp.Errors[0].Message != "internal server error" {
			t.Fatalf("body %s", rec.Body)
		}
		if strings.Contains(rec.Body.String(), "pq:") {
			t.Errorf("body leaks the cause: %s", rec.Body)
		}
		l := logs.String()
		if !strings.Contains(l, "password authentication failed") || !strings.Contains(l, "request_id=hidden-1") {
			t.Errorf("cause not logged:\n%s", l)
		}
	})

	t.Run("UNAUTHENTICATED from a resolver is still 200", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, withViewer(func(context.Context) (any, error) {
			return nil, apperr.Unauthenticated("")
		}))
		r := post("{ viewer { id } }")
		r.Header.Set("Accept", "application/graphql-response+json")
		rec := serve(h, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		resp := decode(t, rec)
		if len(resp.Errors) != 1 {
			t.Fatalf("body %s", rec.Body)
		}
		e := resp.Errors[0]
		if e.Extensions["code"] != "UNAUTHENTICATED" || e.Message != "you must be signed in" {
			t.Errorf("error = %+v", e)
		}
		if len(e.Path) != 1 || e.Path[0] != "viewer" {
			t.Errorf("path = %v", e.Path)
		}
	})

	t.Run("BAD_USER_INPUT carries its fields", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, withViewer(func(context.Context) (any, error) {
			return nil, apperr.BadInput("email", "is already taken")
		}))
		rec := serve(h, post("{ viewer { id } }"))
		if !strings.Contains(rec.Body.String(), `"fields":{"email":["is already taken"]}`) {
			t.Errorf("body %s", rec.Body)
		}
	})
}

func TestGraphQLLimits(t *testing.T) {
	t.Parallel()

	t.Run("an oversize body is 413", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{MaxBodyBytes: 64}, server.Deps{})
		wantError(t, serve(h, post("{ "+strings.Repeat("__typename ", 20)+"}")),
			http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
	})

	t.Run("an oversize body of unknown length is 413", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{MaxBodyBytes: 64}, server.Deps{})
		r := post("{ " + strings.Repeat("__typename ", 20) + "}")
		r.ContentLength = -1
		wantError(t, serve(h, r), http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
	})

	t.Run("a lower depth limit applies", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{DepthLimit: 2}, server.Deps{})
		wantError(t, serve(h, post("{ viewer { followers { totalCount } } }")), http.StatusOK, "QUERY_TOO_COMPLEX")
	})

	t.Run("too complex is QUERY_TOO_COMPLEX", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{ComplexityLimit: 2}, server.Deps{})
		r := post("{ viewer { id username bio } }")
		r.Header.Set("Accept", "application/graphql-response+json")
		wantError(t, serve(h, r), http.StatusBadRequest, "QUERY_TOO_COMPLEX")
	})

	t.Run("introspection off refuses __schema", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{Introspection: false}, server.Deps{})
		e := wantError(t, serve(h, post("{ __schema { queryType { name } } }")), http.StatusOK, "GRAPHQL_VALIDATION_FAILED")
		if e.Message != "introspection is disabled" {
			t.Errorf("message = %q", e.Message)
		}
		// __typename is not introspection.
		if rec := serve(h, post("{ __typename }")); rec.Code != http.StatusOK || len(decode(t, rec).Errors) != 0 {
			t.Errorf("__typename: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("introspection on answers __schema", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.DefaultConfig(), server.Deps{})
		rec := serve(h, post("{ __schema { queryType { name } } }"))
		if got := string(decode(t, rec).Data); got != `{"__schema":{"queryType":{"name":"Query"}}}` {
			t.Errorf("data = %s", got)
		}
	})
}

func TestMiddleware(t *testing.T) {
	t.Parallel()

	t.Run("auth and per-request state run inside the deadline, in order", func(t *testing.T) {
		t.Parallel()
		type key struct{}
		var (
			mu       sync.Mutex
			deadline time.Time
			saw      []string
		)
		deps := server.Deps{
			Auth: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					saw = append(saw, "auth "+server.RequestID(r.Context()))
					mu.Unlock()
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key{}, "viewer")))
				})
			},
			PerRequest: func(ctx context.Context) context.Context {
				mu.Lock()
				defer mu.Unlock()
				deadline, _ = ctx.Deadline()
				saw = append(saw, "loaders for "+ctx.Value(key{}).(string))
				return ctx
			},
		}
		h, _ := newHandler(t, server.Config{RequestTimeout: time.Minute}, deps)
		r := post("{ __typename }")
		r.Header.Set("X-Request-Id", "abc")
		start := time.Now()
		if rec := serve(h, r); rec.Code != http.StatusOK {
			t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(saw, ", ") != "auth abc, loaders for viewer" {
			t.Errorf("calls = %q", saw)
		}
		if d := deadline.Sub(start); d < 59*time.Second || d > 61*time.Second {
			t.Errorf("deadline in %v, want about a minute", d)
		}
	})

	t.Run("auth does not guard health checks", func(t *testing.T) {
		t.Parallel()
		deny := func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
		}
		h, _ := newHandler(t, server.Config{}, server.Deps{Auth: deny})
		if rec := serve(h, httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != http.StatusOK {
			t.Errorf("healthz = %d", rec.Code)
		}
		if rec := serve(h, post("{ __typename }")); rec.Code != http.StatusUnauthorized {
			t.Errorf("graphql = %d, want the auth middleware's 401", rec.Code)
		}
	})

	t.Run("a panic in middleware is a logged 500", func(t *testing.T) {
		t.Parallel()
		boom := func(http.Handler) http.Handler {
			return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
		}
		h, logs := newHandler(t, server.Config{}, server.Deps{Auth: boom})
		r := post("{ __typename }")
		r.Header.Set("X-Request-Id", "req-500")
		rec := serve(h, r)
		e := wantError(t, rec, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR")
		if e.Message != "internal server error" {
			t.Errorf("message = %q", e.Message)
		}
		l := logs.String()
		if !strings.Contains(l, "panic=boom") || !strings.Contains(l, "request_id=req-500") || !strings.Contains(l, "stack=") {
			t.Errorf("panic not logged:\n%s", l)
		}
		if !strings.Contains(l, "status=500") {
			t.Errorf("access log misses the 500:\n%s", l)
		}
	})

	t.Run("the access log has no headers or bodies", func(t *testing.T) {
		t.Parallel()
		h, logs := newHandler(t, server.Config{}, server.Deps{})
		r := get(`{ __typename }`)
		r.Header.Set("Authorization", "Bearer tok-secret")
		r.Header.Set("X-Request-Id", "log-1")
		serve(h, r)
		l := logs.String()
		for _, want := range []string{"method=GET", "path=/graphql", "status=200", "duration_ms=", "request_id=log-1", "route=/graphql", "sql_statements=0"} {
			if !strings.Contains(l, want) {
				t.Errorf("log lacks %q:\n%s", want, l)
			}
		}
		if strings.Contains(l, "tok-secret") || strings.Contains(l, "__typename") {
			t.Errorf("log leaks the request:\n%s", l)
		}
	})
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, server.Config{}, server.Deps{})
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"a sane id is kept", "req-1.A_b", true},
		{"64 characters are kept", strings.Repeat("a", 64), true},
		{"65 characters are replaced", strings.Repeat("a", 65), false},
		{"spaces are replaced", "a b", false},
		{"a header injection is replaced", "a\r\nb", false},
		{"none gets one", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			if tc.sent != "" {
				r.Header["X-Request-Id"] = []string{tc.sent}
			}
			got := serve(h, r).Header().Get("X-Request-Id")
			switch {
			case tc.kept && got != tc.sent:
				t.Errorf("id = %q, want %q", got, tc.sent)
			case !tc.kept && (got == "" || got == tc.sent):
				t.Errorf("id = %q, want a new one", got)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example"
	h, _ := newHandler(t, server.Config{CORSOrigins: []string{app, "http://127.0.0.1:5173"}}, server.Deps{})
	allowHeaders := []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age",
		"Access-Control-Expose-Headers"}

	preflight := func(origin, method, headers string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, "/graphql", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", method)
		r.Header.Set("Access-Control-Request-Headers", headers)
		return serve(h, r)
	}
	// listed splits a comma-separated header into lower-case names.
	listed := func(v string) map[string]bool {
		out := map[string]bool{}
		for p := range strings.SplitSeq(v, ",") {
			out[strings.ToLower(strings.TrimSpace(p))] = true
		}
		return out
	}

	t.Run("a preflight from an allowed origin is 204 with the rules and credentials", func(t *testing.T) {
		t.Parallel()
		rec := preflight(app, "POST", "authorization, content-type")
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Fatalf("status = %d, body %q", rec.Code, rec.Body)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":      app,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, POST",
			"Access-Control-Max-Age":           "600",
		} {
			if got := rec.Header().Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		vary := listed(strings.Join(rec.Header().Values("Vary"), ","))
		for _, v := range []string{"origin", "access-control-request-method", "access-control-request-headers"} {
			if !vary[v] {
				t.Errorf("Vary = %q, want it to name %s", rec.Header().Values("Vary"), v)
			}
		}
	})

	t.Run("a preflight allows every header Apollo Client sends, for GET and POST", func(t *testing.T) {
		t.Parallel()
		requested := []string{"authorization", "content-type", "apollo-require-preflight",
			"x-apollo-operation-name", "x-request-id", "apollographql-client-name", "apollographql-client-version", "inkwell-cost", "inkwell-min-lsn"}
		for _, method := range []string{"GET", "POST"} {
			rec := preflight(app, method, strings.Join(requested, ","))
			if !listed(rec.Header().Get("Access-Control-Allow-Methods"))[strings.ToLower(method)] {
				t.Errorf("%s: Access-Control-Allow-Methods = %q", method, rec.Header().Get("Access-Control-Allow-Methods"))
			}
			allowed := listed(rec.Header().Get("Access-Control-Allow-Headers"))
			for _, hd := range requested {
				if !allowed[hd] {
					t.Errorf("%s: Access-Control-Allow-Headers = %q lacks %s", method, rec.Header().Get("Access-Control-Allow-Headers"), hd)
				}
			}
		}
	})

	for _, origin := range []string{"https://app.example.evil", "https://APP.example", "http://app.example", "null"} {
		t.Run("a preflight from "+origin+" gets no rules", func(t *testing.T) {
			t.Parallel()
			rec := preflight(origin, "POST", "authorization, content-type")
			for _, k := range allowHeaders {
				if got := rec.Header().Get(k); got != "" {
					t.Errorf("%s = %q", k, got)
				}
			}
		})
	}

	t.Run("a request from an allowed origin is allowed, with credentials", func(t *testing.T) {
		t.Parallel()
		for _, r := range []*http.Request{post("{ __typename }"), get("{ __typename }")} {
			r.Header.Set("Origin", app)
			r.Header.Set("Authorization", "Bearer x")
			rec := serve(h, r)
			for k, want := range map[string]string{
				"Access-Control-Allow-Origin":      app,
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Expose-Headers":    "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s %s = %q, want %q", r.Method, k, got, want)
				}
			}
			if !listed(strings.Join(rec.Header().Values("Vary"), ","))["origin"] {
				t.Errorf("%s Vary = %q", r.Method, rec.Header().Values("Vary"))
			}
		}
	})

	t.Run("a request from another origin is answered without CORS headers", func(t *testing.T) {
		t.Parallel()
		r := post("{ __typename }")
		r.Header.Set("Origin", "https://app.example.evil")
		rec := serve(h, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d", rec.Code)
		}
		for _, k := range allowHeaders {
			if got := rec.Header().Get(k); got != "" {
				t.Errorf("%s = %q", k, got)
			}
		}
		if got := rec.Header().Get("Vary"); got != "Origin" {
			t.Errorf("Vary = %q, want Origin so that caches keep the answers apart", got)
		}
	})

	t.Run("no origins configured means no CORS headers", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, server.Deps{})
		r := post("{ __typename }")
		r.Header.Set("Origin", app)
		rec := serve(h, r)
		for _, k := range allowHeaders {
			if got := rec.Header().Get(k); got != "" {
				t.Errorf("%s = %q", k, got)
			}
		}
	})
}

func TestPages(t *testing.T) {
	t.Parallel()

	t.Run("the playground is HTML", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, server.Deps{})
		rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("status = %d, Content-Type = %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		if !strings.Contains(rec.Body.String(), "/graphql") {
			t.Error("playground does not point at /graphql")
		}
	})

	t.Run("an unknown path is 404", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, server.Deps{})
		if rec := serve(h, httptest.NewRequest(http.MethodGet, "/nope", nil)); rec.Code != http.StatusNotFound {
			t.Errorf("status = %d", rec.Code)
		}
	})

	t.Run("healthz is ok even when not ready", func(t *testing.T) {
		t.Parallel()
		h, _ := newHandler(t, server.Config{}, server.Deps{Ready: func(context.Context) error { return errors.New("down") }})
		rec := serve(h, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		var body struct{ Status, Version, Commit string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusOK || err != nil ||
			body.Status != "ok" || body.Version != buildinfo.Get().Version || body.Commit != buildinfo.Get().Commit {
			t.Errorf("status = %d, body %q, want ok with the build's version and commit", rec.Code, rec.Body)
		}
	})

	for _, tc := range []struct {
		name   string
		ready  func(context.Context) error
		status int
		reason string
	}{
		{"readyz without a check is ready", nil, http.StatusOK, ""},
		{"readyz is ready when the check passes", func(context.Context) error { return nil }, http.StatusOK, ""},
		{"readyz is 503 when the check fails", func(context.Context) error {
			return errors.New("dial tcp 10.0.0.5:5432: connection refused")
		}, http.StatusServiceUnavailable, "dependency check failed"},
		{"readyz gives up after 2s", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, http.StatusServiceUnavailable, "dependency check timed out"},
		{"readyz gives up on a check that ignores its context", func(context.Context) error {
			time.Sleep(5 * time.Second)
			return nil
		}, http.StatusServiceUnavailable, "dependency check timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, logs := newHandler(t, server.Config{}, server.Deps{Ready: tc.ready})
			start := time.Now()
			rec := serve(h, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tc.status, rec.Body)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body["reason"] != tc.reason {
				t.Errorf("reason = %q, want %q", body["reason"], tc.reason)
			}
			if strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Errorf("body leaks the cause: %s", rec.Body)
			}
			if tc.status != http.StatusOK && !strings.Contains(logs.String(), "not ready") {
				t.Errorf("cause not logged:\n%s", logs)
			}
		})
	}
}
