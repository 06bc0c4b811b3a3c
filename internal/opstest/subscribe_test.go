//go:build opstest

package opstest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// commentWatcher is a commentAdded subscription on one instance, over
// graphql-transport-ws, counting the comment bodies it receives.
type commentWatcher struct {
	base string

	mu     sync.Mutex
	bodies map[string]int
	ended  error // why the subscription ended or sent an error, if it did
}

// watchComments subscribes to the comments of slug on the instance at base. The
// subscription lasts until the test ends.
func watchComments(t *testing.T, base, slug string) *commentWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dial, dialCancel := context.WithTimeout(ctx, 10*time.Second)
	defer dialCancel()
	conn, _, err := websocket.Dial(dial, "ws"+strings.TrimPrefix(base, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("subscribe on %s: %v", base, err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	send := func(ctx context.Context, msg map[string]any) error {
		b, _ := json.Marshal(msg)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if err := send(dial, map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct{ Type string }
		_, b, err := conn.Read(dial)
		if err != nil {
			t.Fatalf("connection_init on %s: %v", base, err)
		}
		if json.Unmarshal(b, &m) == nil && m.Type == "connection_ack" {
			break
		}
	}
	if err := send(dial, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
		"query":     `subscription($s: String!) { commentAdded(articleSlug: $s) { body } }`,
		"variables": map[string]any{"s": slug},
	}}); err != nil {
		t.Fatal(err)
	}
	w := &commentWatcher{base: base, bodies: map[string]int{}}
	go func() {
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				w.end(fmt.Errorf("connection: %w", err))
				return
			}
			var m struct {
				Type    string
				Payload json.RawMessage // an object for next, a list of errors for error
			}
			if err := json.Unmarshal(b, &m); err != nil {
				w.end(fmt.Errorf("undecodable message %s", b))
				continue
			}
			var next struct {
				Data struct {
					CommentAdded *struct{ Body string }
				}
				Errors json.RawMessage
			}
			if m.Type == "next" {
				if err := json.Unmarshal(m.Payload, &next); err != nil {
					w.end(fmt.Errorf("undecodable next %s", b))
					continue
				}
			}
			switch m.Type {
			case "ping":
				_ = send(ctx, map[string]any{"type": "pong"})
			case "next":
				if len(next.Errors) > 0 {
					w.end(fmt.Errorf("errors: %s", next.Errors))
				}
				if c := next.Data.CommentAdded; c != nil {
					w.mu.Lock()
					w.bodies[c.Body]++
					w.mu.Unlock()
				}
			case "error", "complete":
				w.end(fmt.Errorf("%s: %s", m.Type, b))
				return
			}
		}
	}()
	return w
}

func (w *commentWatcher) end(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended == nil {
		w.ended = err
	}
}

// has tells how many times body arrived.
func (w *commentWatcher) has(body string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bodies[body]
}

// awaitAll waits up to timeout for every one of bodies to arrive, and returns those
// that did not, those that arrived more than once, and why the subscription ended (nil
// if it did not).
func (w *commentWatcher) awaitAll(bodies []string, timeout time.Duration) (missing, twice []string, ended error) {
	deadline := time.Now().Add(timeout)
	for {
		missing, twice = missing[:0], twice[:0]
		for _, b := range bodies {
			switch w.has(b) {
			case 0:
				missing = append(missing, b)
			case 1:
			default:
				twice = append(twice, b)
			}
		}
		w.mu.Lock()
		ended = w.ended
		w.mu.Unlock()
		if len(missing) == 0 || ended != nil || time.Now().After(deadline) {
			return missing, twice, ended
		}
		time.Sleep(100 * time.Millisecond)
	}
}
