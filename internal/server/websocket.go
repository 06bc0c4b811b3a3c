package server

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/semaphore"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
	"inkwell/internal/ratelimit"
)

// The WebSocket subprotocol served, and the close codes it defines that we send
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
const (
	graphqlTransportWS = "graphql-transport-ws"

	// closeForbidden ends a connection whose token is invalid at connection_init, or
	// expired while it was open.
	closeForbidden = 4403
	// closeGoingAway (RFC 6455) ends connections when the server stops, so that clients
	// reconnect, to another instance if there is one.
	closeGoingAway = 1001
	// maxCloseReason is the most a close frame's reason may hold (RFC 6455).
	maxCloseReason = 123
)

const (
	// wsInitTimeout is how long a client may take to send connection_init.
	wsInitTimeout = 10 * time.Second
	// wsPingInterval is how often the server pings; a client that has not answered
	// two intervals later is disconnected, so dead peers do not hold subscriptions.
	wsPingInterval = 25 * time.Second
)

var (
	errTokenExpired = errors.New("access token expired")
	errShutdown     = errors.New("server shutting down")
)

// Subscriptions serves GraphQL over WebSocket on /graphql with the graphql-transport-ws
// protocol (the graphql-ws library's; Apollo Client's GraphQLWsLink).
type Subscriptions struct {
	// Authenticate checks the access token a client sent in the connection_init payload
	// and returns ctx carrying its viewer, and when the token expires (zero: never). An
	// error refuses the connection with close code 4403. When the returned ctx is
	// cancelled with an UNAUTHENTICATED *apperr.Error as its cause (the session ended),
	// the connection is closed with 4403 and that error's message.
	Authenticate func(ctx context.Context, token string) (context.Context, time.Time, error)
	// Connection installs per-connection state, such as the limit on active
	// subscriptions; nil installs nothing.
	Connection func(ctx context.Context) context.Context
	// PerOperation installs fresh per-request state (loaders) for each operation and
	// each subscription event on a connection; nil uses Deps.PerRequest.
	PerOperation func(ctx context.Context) context.Context
	// Stopped is cancelled when the server stops: open connections are then closed with
	// 1001 (going away). Nil never stops them.
	Stopped context.Context
}

// isWebSocketUpgrade reports whether r asks to open a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// unlessUpgrade sends WebSocket upgrades straight to next and everything else through
// h. A socket lives for hours, past any request timeout, and authenticates in its
// connection_init message rather than with a header.
func unlessUpgrade(h, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebSocketUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// websocketTransport is gqlgen's WebSocket transport with our origin check, token rules,
// close codes and shutdown.
type websocketTransport struct {
	ws      transport.Websocket
	origins []string
	subs    Subscriptions
	count   *socketCount
}

func newWebsocket(cfg Config, deps Deps, log *slog.Logger) *websocketTransport {
	if deps.Subscriptions == nil {
		return nil
	}
	t := &websocketTransport{origins: slices.Clone(cfg.CORSOrigins), subs: *deps.Subscriptions,
		count: newSocketCount(cfg.MaxConnections, cfg.MaxConnectionsPerAddress)}
	if t.subs.PerOperation == nil {
		t.subs.PerOperation = deps.PerRequest
	}
	limit := cfg.MaxBodyBytes
	t.ws = transport.Websocket{
		Implementation:   wsImplementation{},
		InitFunc:         t.init,
		InitTimeout:      wsInitTimeout,
		PingPongInterval: wsPingInterval,
		PayloadReadLimit: &limit,
		ErrorFunc: func(ctx context.Context, err error) {
			log.LogAttrs(ctx, slog.LevelDebug, "websocket",
				slog.String("request_id", RequestID(ctx)), slog.Any("error", err))
		},
	}
	return t
}

func (t *websocketTransport) Supports(r *http.Request) bool { return isWebSocketUpgrade(r) }

func (t *websocketTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if !t.originAllowed(r) {
		apperr.Write(w, r, apperr.CodeForbidden, "this origin may not open a WebSocket here")
		return
	}
	if !headerHasToken(r.Header, "Sec-WebSocket-Protocol", graphqlTransportWS) {
		apperr.Write(w, r, apperr.CodeBadRequest,
			"the WebSocket subprotocol must be "+graphqlTransportWS)
		return
	}
	addr := ratelimit.ClientFrom(r.Context())
	switch code := t.count.open(addr); code {
	case "":
		defer t.count.close(addr)
	case codeOverloaded:
		w.Header().Set("Retry-After", "1")
		apperr.Write(w, r, apperr.Code(code), "the server holds as many WebSockets as it may; retry shortly")
		return
	default:
		apperr.Write(w, r, apperr.Code(code), "this address holds as many WebSockets as it may; close one first")
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if t.subs.Stopped != nil {
		stop := context.AfterFunc(t.subs.Stopped, func() { cancel(errShutdown) })
		defer stop()
	}
	st := &wsState{ctx: ctx}
	defer st.release()
	t.ws.Do(w, r.WithContext(context.WithValue(ctx, wsStateKey{}, st)), exec)
}

// originAllowed accepts requests without Origin (not from a browser), from the server's
// own host, and from the configured CORS origins, compared exactly. Anything else could
// be a page riding on a user's cookies or network position.
func (t *websocketTransport) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || slices.Contains(t.origins, origin) {
		return true
	}
	_, host, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(host, r.Host)
}

// init authenticates a connection from its connection_init payload.
func (t *websocketTransport) init(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	st := stateFrom(ctx)
	token, err := initToken(payload)
	if err == nil && token != "" && t.subs.Authenticate == nil {
		err = apperr.Unauthenticated("this server takes no tokens")
	}
	if err == nil && token != "" {
		var expires time.Time
		ctx, expires, err = t.subs.Authenticate(ctx, token)
		if err == nil && !expires.IsZero() {
			ctx, st.cancel = context.WithDeadlineCause(ctx, expires, errTokenExpired)
		}
	}
	if err != nil {
		msg := clientMessage(err)
		if msg == "" {
			msg = "invalid access token"
		}
		ctx = transport.WithWebsocketCloseCode(ctx, closeForbidden)
		return transport.AppendCloseReason(ctx, forbiddenReason(msg)), nil, err
	}
	if t.subs.Connection != nil {
		ctx = t.subs.Connection(ctx)
	}
	ctx = context.WithValue(ctx, socketOpsKey{}, &socketOps{})
	st.setContext(ctx)
	return ctx, nil, nil
}

// forbiddenReason is the reason of a 4403 close, cut to what a close frame holds.
func forbiddenReason(msg string) string {
	reason := "Forbidden: " + msg
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	return reason
}

// clientMessage is err's message when it is safe to show a client (apperr's are), or "".
func clientMessage(err error) string {
	if out, hidden := present(context.Background(), err); !hidden && out != nil {
		return out.Message
	}
	return ""
}

// initToken reads the access token from a connection_init payload as Apollo clients send
// it, {"authorization": "Bearer <token>"} with the key in any case, or the bare token.
// No payload, no key or an empty value is anonymous.
func initToken(payload transport.InitPayload) (string, error) {
	var value string
	found := false
	for k, v := range payload {
		if !strings.EqualFold(k, "authorization") {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return "", apperr.Unauthenticated("authorization must be a string")
		}
		s = strings.TrimSpace(s)
		if found && s != value {
			return "", apperr.Unauthenticated("authorization is given twice")
		}
		value, found = s, true
	}
	if value == "" {
		return "", nil
	}
	scheme, token, spaced := strings.Cut(value, " ")
	if !spaced && !strings.EqualFold(value, "Bearer") {
		return value, nil
	}
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", apperr.Unauthenticated("malformed authorization, want Bearer token")
	}
	return token, nil
}

type wsStateKey struct{}

// wsState is one connection's: its context, whose cause names why it ended.
type wsState struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc // of the token's deadline
}

func stateFrom(ctx context.Context) *wsState {
	st, _ := ctx.Value(wsStateKey{}).(*wsState)
	return st
}

// onWebSocket reports whether ctx belongs to a WebSocket connection.
func onWebSocket(ctx context.Context) bool { return stateFrom(ctx) != nil }

func (s *wsState) setContext(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
}

// closeCode turns gqlgen's normal closure into the code the end deserves.
func (s *wsState) closeCode(code int, reason string) (int, string) {
	if code != transport.WebsocketCloseNormalClosure {
		return code, reason
	}
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTokenExpired):
		return closeForbidden, "Forbidden: access token expired"
	case errors.Is(cause, errShutdown):
		return closeGoingAway, errShutdown.Error()
	case apperr.CodeOf(cause) == apperr.CodeUnauthenticated:
		// The connection's credentials stopped working (its session ended): as at init.
		return closeForbidden, forbiddenReason(clientMessage(cause))
	}
	return code, reason
}

func (s *wsState) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

// wsImplementation is gqlgen's coder/websocket adapter, offering only
// graphql-transport-ws, with origins checked before (originAllowed) and close codes
// chosen by the connection's state.
type wsImplementation struct{}

func (wsImplementation) Accept(w http.ResponseWriter, r *http.Request, opts transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	opts.Subprotocols = []string{graphqlTransportWS}
	inner := transport.CoderWebsocketImplementation{AcceptOptions: coderws.AcceptOptions{
		Subprotocols:       []string{graphqlTransportWS},
		InsecureSkipVerify: true, // originAllowed has checked
	}}
	c, err := inner.Accept(w, r, opts)
	if err != nil {
		return nil, fmt.Errorf("accept websocket: %w", err)
	}
	return &wsConn{WebsocketConn: c, st: stateFrom(r.Context())}, nil
}

type wsConn struct {
	transport.WebsocketConn
	st *wsState
}

func (c *wsConn) WriteClose(code int, reason string) error {
	if c.st != nil {
		code, reason = c.st.closeCode(code, reason)
	}
	return c.WebsocketConn.WriteClose(code, reason)
}

func (c *wsConn) SetReadLimit(limit int64) {
	if l, ok := c.WebsocketConn.(transport.WebsocketReadLimiter); ok {
		l.SetReadLimit(limit)
	}
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	if d, ok := c.WebsocketConn.(transport.WebsocketReadDeadliner); ok {
		return d.SetReadDeadline(t)
	}
	return nil
}

// websocketOperations gives each operation, and each event of a subscription, on a
// WebSocket fresh per-request state (loaders): a connection lives for hours, and state
// kept that long would serve stale rows.
//
// A query or mutation on a socket is also held to what an HTTP request is: it takes one
// of the server's in-flight slots (or is refused OVERLOADED after the queue wait), runs
// under the request deadline, and one socket runs at most perSocket at once (more are
// TOO_MANY_OPERATIONS). Subscriptions are capped by their own limit.
type websocketOperations struct {
	install   func(ctx context.Context) context.Context
	slots     *semaphore.Weighted
	wait      time.Duration
	timeout   time.Duration
	perSocket int32
}

// codeTooManyOperations refuses an operation on a socket already running its share.
const codeTooManyOperations = string(apperr.CodeTooManyOperations)

// socketOps counts the queries and mutations running on one socket.
type socketOps struct{ n atomic.Int32 }

type socketOpsKey struct{}

func (websocketOperations) ExtensionName() string                   { return "WebSocketOperations" }
func (websocketOperations) Validate(graphql.ExecutableSchema) error { return nil }

func (e websocketOperations) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !onWebSocket(ctx) {
		return next(ctx)
	}
	if e.install != nil {
		ctx = e.install(ctx)
	}
	if isSubscription(ctx) || e.slots == nil {
		return next(ctx)
	}
	ops, _ := ctx.Value(socketOpsKey{}).(*socketOps)
	if ops != nil && ops.n.Add(1) > e.perSocket {
		ops.n.Add(-1)
		return once(limitError(codeTooManyOperations, "this connection already runs "+
			strconv.Itoa(int(e.perSocket))+" queries and mutations, the limit; wait for their answers"))
	}
	if !takeSlot(ctx, e.slots, e.wait) {
		if ops != nil {
			ops.n.Add(-1)
		}
		return once(limitError(codeOverloaded, "the server is busy; retry shortly"))
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	done := func() {
		cancel()
		e.slots.Release(1)
		if ops != nil {
			ops.n.Add(-1)
		}
	}
	var h graphql.ResponseHandler
	func() {
		defer func() {
			if h == nil { // next panicked
				done()
			}
		}()
		h = next(ctx)
	}()
	// A query or mutation answers once; the slot is held until then.
	var finished bool
	return func(ctx context.Context) *graphql.Response {
		if finished {
			return nil
		}
		finished = true
		defer done()
		return h(ctx)
	}
}

// once is a response handler that answers err, then nothing more.
func once(err *gqlerror.Error) graphql.ResponseHandler {
	var sent bool
	return func(context.Context) *graphql.Response {
		if sent {
			return nil
		}
		sent = true
		return &graphql.Response{Errors: gqlerror.List{err}}
	}
}

func (e websocketOperations) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if e.install != nil && onWebSocket(ctx) && isSubscription(ctx) {
		ctx = e.install(ctx)
	}
	return next(ctx)
}

func isSubscription(ctx context.Context) bool {
	if !graphql.HasOperationContext(ctx) {
		return false
	}
	op := graphql.GetOperationContext(ctx).Operation
	return op != nil && op.Operation == ast.Subscription
}

// subscriptionsOverWebSocket refuses subscriptions sent over HTTP, which would hold the
// request open until its timeout for one event.
type subscriptionsOverWebSocket struct{}

func (subscriptionsOverWebSocket) ExtensionName() string                   { return "SubscriptionsOverWebSocket" }
func (subscriptionsOverWebSocket) Validate(graphql.ExecutableSchema) error { return nil }

func (subscriptionsOverWebSocket) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription || onWebSocket(ctx) {
		return nil
	}
	return &gqlerror.Error{
		Message:    "subscriptions are served over WebSocket only: " + graphqlTransportWS + " on /graphql",
		Extensions: map[string]any{"code": codeBadRequest},
	}
}
