package apptest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// socketWait bounds every wait on a socket: a missing message fails the test rather than
// hanging it.
const socketWait = 10 * time.Second

// Message is one graphql-transport-ws message.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Socket is a GraphQL-over-WebSocket client speaking graphql-transport-ws, the protocol
// of the graphql-ws library and Apollo Client's GraphQLWsLink. It answers pings itself.
type Socket struct {
	t      testing.TB
	conn   *websocket.Conn
	msgs   chan Message
	closed chan struct{}
	code   websocket.StatusCode // set before closed is closed
	reason string
	nextID int
}

// Dial opens a socket to e's /graphql with header added to the upgrade request, and
// fails the test when the upgrade is refused. It sends no connection_init: see Init.
func (e *Env) Dial(t testing.TB, header http.Header) *Socket {
	t.Helper()
	s, res, err := DialSocket(t, e.URL, header)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("websocket upgrade refused (HTTP %d): %v", status, err)
	}
	return s
}

// Connect is Dial, then connection_init with payload (nil sends none), then waits for the
// connection_ack.
func (e *Env) Connect(t testing.TB, payload map[string]any) *Socket {
	t.Helper()
	s := e.Dial(t, nil)
	s.Init(payload)
	s.Expect("", "connection_ack")
	return s
}

// DialSocket opens a socket to the server at baseURL (http://host:port), and returns the
// upgrade's response when it was refused. The socket is closed when the test ends.
func DialSocket(t testing.TB, baseURL string, header http.Header) (*Socket, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), socketWait)
	defer cancel()
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/graphql"
	conn, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   header,
	})
	if err != nil {
		return nil, res, err
	}
	s := &Socket{t: t, conn: conn, msgs: make(chan Message, 1000), closed: make(chan struct{})}
	t.Cleanup(func() { _ = conn.CloseNow() })
	go s.read()
	return s, res, nil
}

func (s *Socket) read() {
	defer close(s.closed)
	for {
		_, b, err := s.conn.Read(context.Background())
		if err != nil {
			s.code = websocket.CloseStatus(err)
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				s.reason = ce.Reason
			}
			return
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			m = Message{Type: "undecodable", Payload: b}
		}
		if m.Type == "ping" {
			_ = s.send(Message{Type: "pong"})
			continue
		}
		s.msgs <- m
	}
}

func (s *Socket) send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), socketWait)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, b)
}

// Send sends m and fails the test when it cannot.
func (s *Socket) Send(m Message) {
	s.t.Helper()
	if err := s.send(m); err != nil {
		s.t.Fatalf("send %s: %v", m.Type, err)
	}
}

// Init sends connection_init with payload; nil sends none.
func (s *Socket) Init(payload map[string]any) {
	s.t.Helper()
	m := Message{Type: "connection_init"}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			s.t.Fatal(err)
		}
		m.Payload = b
	}
	s.Send(m)
}

// Subscribe starts an operation and returns its id.
func (s *Socket) Subscribe(query string, vars map[string]any) string {
	s.t.Helper()
	s.nextID++
	id := strconv.Itoa(s.nextID)
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		s.t.Fatal(err)
	}
	s.Send(Message{ID: id, Type: "subscribe", Payload: b})
	return id
}

// Complete ends the operation id from the client's side.
func (s *Socket) Complete(id string) {
	s.t.Helper()
	s.Send(Message{ID: id, Type: "complete"})
}

// Receive returns the next message, and fails the test when none comes or the socket
// closes.
func (s *Socket) Receive() Message {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-s.closed:
		select {
		case m := <-s.msgs:
			return m
		default:
		}
		s.t.Fatalf("socket closed (%d %q) while a message was awaited", s.code, s.reason)
	case <-time.After(socketWait):
		s.t.Fatal("no message")
	}
	return Message{}
}

// Expect receives the next message and fails the test unless it has this id and type.
func (s *Socket) Expect(id, typ string) Message {
	s.t.Helper()
	m := s.Receive()
	if m.ID != id || m.Type != typ {
		s.t.Fatalf("got %s %q %s, want %s %q", m.Type, m.ID, m.Payload, typ, id)
	}
	return m
}

// Next receives the next message, which must be the next result of operation id, and
// returns it as a Response (data and errors).
func (s *Socket) Next(id string) *Response {
	s.t.Helper()
	m := s.Expect(id, "next")
	out := &Response{Body: m.Payload}
	if err := json.Unmarshal(m.Payload, out); err != nil {
		s.t.Fatalf("next payload: %v: %s", err, m.Payload)
	}
	return out
}

// Errors receives the next message, which must be an error message of operation id,
// and returns its errors.
func (s *Socket) Errors(id string) []Error {
	s.t.Helper()
	m := s.Expect(id, "error")
	var out []Error
	if err := json.Unmarshal(m.Payload, &out); err != nil {
		s.t.Fatalf("error payload: %v: %s", err, m.Payload)
	}
	return out
}

// Quiet fails the test when a message arrives within d.
func (s *Socket) Quiet(d time.Duration) {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		s.t.Fatalf("unexpected %s %q: %s", m.Type, m.ID, m.Payload)
	case <-time.After(d):
	}
}

// Collect returns the messages that arrive within d.
func (s *Socket) Collect(d time.Duration) []Message {
	var out []Message
	deadline := time.After(d)
	for {
		select {
		case m := <-s.msgs:
			out = append(out, m)
		case <-deadline:
			return out
		}
	}
}

// Closed waits until the server closes the socket and returns the close code and reason
// (-1 when the connection ended without a close frame). Messages not yet received are
// dropped.
func (s *Socket) Closed(within time.Duration) (code int, reason string) {
	s.t.Helper()
	_, code, reason = s.Closing(within)
	return code, reason
}

// Closing is Closed that also returns the messages that came before the close.
func (s *Socket) Closing(within time.Duration) (rest []Message, code int, reason string) {
	s.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-s.msgs:
			rest = append(rest, m)
		case <-s.closed:
			for {
				select {
				case m := <-s.msgs:
					rest = append(rest, m)
				default:
					return rest, int(s.code), s.reason
				}
			}
		case <-deadline:
			s.t.Fatalf("socket still open after %s", within)
		}
	}
}

// Close closes the socket from the client's side with a normal closure.
func (s *Socket) Close() { _ = s.conn.Close(websocket.StatusNormalClosure, "") }
