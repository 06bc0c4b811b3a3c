package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"inkwell/ent"
	"inkwell/graph/model"
	"inkwell/internal/apperr"
	"inkwell/internal/apptest"
	"inkwell/internal/server"
)

type tokenKey struct{}

// wsServer serves a schema whose Query.viewer is named after the token the connection
// authenticated with ("" when anonymous). Tokens "bad" are refused, and "short" expires
// after 300ms.
func wsServer(t *testing.T, cfg server.Config, subs server.Subscriptions) *httptest.Server {
	t.Helper()
	deps := withViewer(func(ctx context.Context) (any, error) {
		name, _ := ctx.Value(tokenKey{}).(string)
		return model.NewUser(ctx, &ent.User{Username: name}), nil
	})
	if subs.Authenticate == nil {
		subs.Authenticate = func(ctx context.Context, token string) (context.Context, time.Time, error) {
			switch token {
			case "bad":
				return ctx, time.Time{}, apperr.Unauthenticated("invalid access token")
			case "short":
				return context.WithValue(ctx, tokenKey{}, token), time.Now().Add(300 * time.Millisecond), nil
			}
			return context.WithValue(ctx, tokenKey{}, token), time.Now().Add(time.Hour), nil
		}
	}
	deps.Subscriptions = &subs
	h, _ := newHandler(t, cfg, deps)
	srv := httptest.NewUnstartedServer(h)
	// As in production: connection deadlines, which net/http lifts when the socket
	// takes the connection over.
	srv.Config.ReadTimeout = cfg.RequestTimeout
	srv.Config.WriteTimeout = cfg.RequestTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func connect(t *testing.T, srv *httptest.Server, payload map[string]any) *apptest.Socket {
	t.Helper()
	s, _, err := apptest.DialSocket(t, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Init(payload)
	return s
}

// viewerName runs { viewer { username } } over s.
func viewerName(t *testing.T, s *apptest.Socket) string {
	t.Helper()
	id := s.Subscribe(`{ viewer { username } }`, nil)
	r := s.Next(id)
	var out struct{ Viewer struct{ Username string } }
	r.Decode(t, &out)
	s.Expect(id, "complete")
	return out.Viewer.Username
}

func TestWebSocketToken(t *testing.T) {
	t.Parallel()
	srv := wsServer(t, server.DefaultConfig(), server.Subscriptions{})
	for _, tc := range []struct {
		name    string
		payload map[string]any
		want    string // the token the connection authenticated with; "" is anonymous
		refused bool
	}{
		{"no payload", nil, "", false},
		{"empty payload", map[string]any{}, "", false},
		{"empty authorization", map[string]any{"authorization": ""}, "", false},
		{"apollo style", map[string]any{"authorization": "Bearer tok"}, "tok", false},
		{"header case", map[string]any{"Authorization": "Bearer tok"}, "tok", false},
		{"any case", map[string]any{"AUTHORIZATION": "bearer tok"}, "tok", false},
		{"bare token", map[string]any{"authorization": "tok"}, "tok", false},
		{"other keys ignored", map[string]any{"authorization": "Bearer tok", "client": "web"}, "tok", false},
		{"invalid token", map[string]any{"authorization": "Bearer bad"}, "", true},
		{"other scheme", map[string]any{"authorization": "Basic tok"}, "", true},
		{"bearer without token", map[string]any{"authorization": "Bearer "}, "", true},
		{"two tokens", map[string]any{"authorization": "Bearer a b"}, "", true},
		{"not a string", map[string]any{"authorization": 7}, "", true},
		{"two different keys", map[string]any{"authorization": "Bearer a", "Authorization": "Bearer b"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := connect(t, srv, tc.payload)
			if tc.refused {
				code, reason := s.Closed(5 * time.Second)
				if code != 4403 {
					t.Fatalf("close code %d (%q), want 4403", code, reason)
				}
				return
			}
			s.Expect("", "connection_ack")
			if got := viewerName(t, s); got != tc.want {
				t.Fatalf("authenticated as %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWebSocketClosesWhenTokenExpires(t *testing.T) {
	t.Parallel()
	srv := wsServer(t, server.DefaultConfig(), server.Subscriptions{})
	s := connect(t, srv, map[string]any{"authorization": "Bearer short"})
	start := time.Now()
	s.Expect("", "connection_ack")
	if got := viewerName(t, s); got != "short" {
		t.Fatalf("viewer %q", got)
	}
	code, reason := s.Closed(5 * time.Second)
	if code != 4403 {
		t.Fatalf("close code %d (%q), want 4403", code, reason)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the token expired", waited)
	}
}

// The socket outlives the request timeout and the HTTP server's read and write timeouts.
func TestWebSocketOutlivesRequestTimeout(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	cfg.RequestTimeout = 100 * time.Millisecond
	srv := wsServer(t, cfg, server.Subscriptions{})
	s := connect(t, srv, map[string]any{"authorization": "Bearer tok"})
	s.Expect("", "connection_ack")
	time.Sleep(3 * cfg.RequestTimeout)
	if got := viewerName(t, s); got != "tok" {
		t.Fatalf("viewer %q", got)
	}
	// Plain requests still have the timeout.
	slow := withViewer(func(ctx context.Context) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	h, _ := newHandler(t, cfg, slow)
	rec := serve(h, post(`{ viewer { username } }`))
	if resp := decode(t, rec); len(resp.Errors) == 0 {
		t.Fatalf("a request outlived its timeout: %s", rec.Body)
	}
}

func TestWebSocketShutdown(t *testing.T) {
	t.Parallel()
	stopped, stop := context.WithCancel(context.Background())
	defer stop()
	srv := wsServer(t, server.DefaultConfig(), server.Subscriptions{Stopped: stopped})
	s := connect(t, srv, nil)
	s.Expect("", "connection_ack")
	stop()
	if code, reason := s.Closed(5 * time.Second); code != 1001 {
		t.Fatalf("close code %d (%q), want 1001 going away", code, reason)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	t.Parallel()
	cfg := server.DefaultConfig()
	cfg.CORSOrigins = []string{"https://app.example"}
	srv := wsServer(t, cfg, server.Subscriptions{})
	host := srv.Listener.Addr().String()
	for _, tc := range []struct {
		name   string
		header http.Header
		status int // 0: upgraded
	}{
		{"no origin", nil, 0},
		{"same origin", http.Header{"Origin": {"http://" + host}}, 0},
		{"allowed origin", http.Header{"Origin": {"https://app.example"}}, 0},
		{"other origin", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"allowed host, other scheme", http.Header{"Origin": {"http://app.example"}}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, res, err := apptest.DialSocket(t, srv.URL, tc.header)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				s.Init(nil)
				s.Expect("", "connection_ack")
				return
			}
			if err == nil {
				t.Fatal("upgraded")
			}
			if res == nil || res.StatusCode != tc.status {
				t.Fatalf("response %v, want status %d", res, tc.status)
			}
		})
	}

	// Only graphql-transport-ws is spoken.
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "graphql-ws",
	} {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("legacy subprotocol: status %d, want 400", res.StatusCode)
	}
}

func TestSubscriptionOverHTTPIsRefused(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t, server.DefaultConfig(), server.Deps{})
	rec := serve(h, post(`subscription { feedArticleAdded { id } }`))
	resp := decode(t, rec)
	if len(resp.Errors) != 1 || resp.Errors[0].Extensions["code"] != "BAD_REQUEST" {
		t.Fatalf("got %s, want one BAD_REQUEST error", rec.Body)
	}
}

func TestWebSocketPerOperationState(t *testing.T) {
	t.Parallel()
	var installs atomic.Int32
	type stateKey struct{}
	srv := wsServer(t, server.DefaultConfig(), server.Subscriptions{
		PerOperation: func(ctx context.Context) context.Context {
			return context.WithValue(ctx, stateKey{}, installs.Add(1))
		},
	})
	s := connect(t, srv, nil)
	s.Expect("", "connection_ack")
	for i := 0; i < 3; i++ {
		viewerName(t, s)
	}
	if got := installs.Load(); got != 3 {
		t.Fatalf("state installed %d times for 3 operations", got)
	}
}

func TestWebSocketInitRefusalMessage(t *testing.T) {
	t.Parallel()
	srv := wsServer(t, server.DefaultConfig(), server.Subscriptions{
		Authenticate: func(ctx context.Context, _ string) (context.Context, time.Time, error) {
			return ctx, time.Time{}, errors.New("database at 10.0.0.7 is down")
		},
	})
	s := connect(t, srv, map[string]any{"authorization": "Bearer tok"})
	code, reason := s.Closed(5 * time.Second)
	if code != 4403 {
		t.Fatalf("close code %d", code)
	}
	// A cause that is not a client error stays out of the close reason.
	if want := "Forbidden: invalid access token"; reason != want {
		b, _ := json.Marshal(reason)
		t.Fatalf("reason %s, want %q", b, want)
	}
}
