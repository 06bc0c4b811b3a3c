package apperr

import (
	"fmt"
	"net/http"
	"strings"
)

// The codes a client may see, besides the six of every operation above. Each is in Table
// with its HTTP status and meaning, and README.md's table of errors is Table (Markdown).
const (
	CodeGraphQLParseFailed      Code = "GRAPHQL_PARSE_FAILED"
	CodeGraphQLValidationFailed Code = "GRAPHQL_VALIDATION_FAILED"
	CodeQueryTooComplex         Code = "QUERY_TOO_COMPLEX"
	CodeResponseTooLarge        Code = "RESPONSE_TOO_LARGE"
	CodeBadRequest              Code = "BAD_REQUEST"
	CodeMethodNotAllowed        Code = "METHOD_NOT_ALLOWED"
	CodeUnsupportedMediaType    Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeRequestTooLarge         Code = "REQUEST_TOO_LARGE"
	CodePersistedNotFound       Code = "PERSISTED_QUERY_NOT_FOUND"
	CodePersistedHashMismatch   Code = "PERSISTED_QUERY_HASH_MISMATCH"
	CodePersistedNotAllowed     Code = "PERSISTED_QUERY_NOT_ALLOWED"
	CodePersistedNotSupported   Code = "PERSISTED_QUERY_NOT_SUPPORTED"
	CodeTooManyTokens           Code = "TOO_MANY_TOKENS"
	CodeTooManyFields           Code = "TOO_MANY_FIELDS"
	CodeTooManyAliases          Code = "TOO_MANY_ALIASES"
	CodeTooManyDirectives       Code = "TOO_MANY_DIRECTIVES"
	CodeTooManyAuthFields       Code = "TOO_MANY_AUTH_FIELDS"
	CodeTooManyErrors           Code = "TOO_MANY_ERRORS"
	CodeOverloaded              Code = "OVERLOADED"
	CodeDatabaseUnavailable     Code = "DATABASE_UNAVAILABLE"
	CodeTooManySubscriptions    Code = "TOO_MANY_SUBSCRIPTIONS"
	CodeTooManyConnections      Code = "TOO_MANY_CONNECTIONS"
	CodeTooManyOperations       Code = "TOO_MANY_OPERATIONS"
	CodeSlowConsumer            Code = "SLOW_CONSUMER"
)

// Info is what a client's developer needs to know about a code.
type Info struct {
	Code Code
	// Status is the HTTP status of a request refused as a whole with this code; 0 when
	// the code only comes with a field's error, in a response with data (HTTP 200), or
	// over a WebSocket. A refusal before execution (parse, validation, document limits,
	// persisted queries) has its status only for clients that accept
	// application/graphql-response+json; application/json gets 200.
	Status int
	// Meaning says when the code comes and what to do, in Markdown.
	Meaning string
}

// Table is every code a client may see, in the order README.md lists them.
var Table = []Info{
	{CodeUnauthenticated, http.StatusUnauthorized, "not signed in, bad credentials, or a bad, expired or ended session's token (HTTP 401 with `WWW-Authenticate` when it is the token)"},
	{CodeForbidden, http.StatusForbidden, "signed in, but not allowed (e.g. editing someone else's article); HTTP 403 for a WebSocket from an origin not allowed"},
	{CodeNotFound, 0, "a mutation named something that does not exist (reads return `null` instead)"},
	{CodeBadUserInput, 0, "invalid input; `extensions.fields` maps each field to its problems, e.g. `{\"email\": [\"is already taken\"]}`"},
	{CodeConflict, 0, "the write clashed with the current state"},
	{CodeInternal, http.StatusInternalServerError, "a fault on our side; the message is generic and the cause is logged with the request id"},
	{CodeGraphQLParseFailed, http.StatusBadRequest, "the document is not valid GraphQL"},
	{CodeGraphQLValidationFailed, http.StatusBadRequest, "the document is not valid for this schema, or its variables do not fit it"},
	{CodeQueryTooComplex, http.StatusBadRequest, "the operation nests deeper than 12 levels (`INKWELL_MAX_DEPTH`) or costs more than 10000 (`INKWELL_MAX_COMPLEXITY`): a field costs 1, a text field by its size class (`description`, `excerpt`, `bio`, a comment's `body` 3; an article's `body` 40, `bodyHTML` 80), and a list multiplies its selection by `first`/`last` (default 20, at most 100)"},
	{CodeResponseTooLarge, 0, "the data of a query or mutation would pass 4 MiB (`INKWELL_MAX_RESPONSE_BYTES`); the answer is this error with `\"data\": null` (a mutation's write itself stands, and the message says so). Ask for fewer items or fields, or page"},
	{CodeBadRequest, http.StatusBadRequest, "the HTTP request is malformed: not one JSON object, invalid UTF-8, variables or extensions not objects"},
	{CodeMethodNotAllowed, http.StatusMethodNotAllowed, "not GET or POST, or a mutation sent with GET"},
	{CodeUnsupportedMediaType, http.StatusUnsupportedMediaType, "a POST body that is not `application/json`"},
	{CodeRequestTooLarge, http.StatusRequestEntityTooLarge, "the body is over 1 MiB (`INKWELL_MAX_BODY_BYTES`)"},
	{CodePersistedNotFound, http.StatusBadRequest, "a persisted query's hash the server does not know yet (message `PersistedQueryNotFound`); send it again with the text"},
	{CodePersistedHashMismatch, http.StatusBadRequest, "`extensions.persistedQuery.sha256Hash` is not the SHA-256 of the query text sent with it"},
	{CodePersistedNotAllowed, http.StatusBadRequest, "allow-list mode: the operation is not in the persisted query list"},
	{CodePersistedNotSupported, http.StatusBadRequest, "persisted queries are off; send the full query"},
	{CodeTooManyTokens, http.StatusBadRequest, "the document has more than 5000 tokens (`INKWELL_MAX_TOKENS`)"},
	{CodeTooManyFields, http.StatusBadRequest, "an operation or fragment has more than 1000 fields with its fragments expanded (`INKWELL_MAX_FIELDS`)"},
	{CodeTooManyAliases, http.StatusBadRequest, "more than 30 aliased fields, fragments expanded (`INKWELL_MAX_ALIASES`)"},
	{CodeTooManyDirectives, http.StatusBadRequest, "more than 50 directives, fragments expanded (`INKWELL_MAX_DIRECTIVES`)"},
	{CodeTooManyAuthFields, http.StatusBadRequest, "a request selects more than one of `signIn`, `signUp`, `refreshSession`, `exchangeLoginCode` (`INKWELL_MAX_AUTH_FIELDS`), so aliases cannot multiply attempts under one rate limit"},
	{CodeTooManyErrors, 0, "the last error of a response that had more than 10 (`INKWELL_MAX_ERRORS`): the first 9 are kept, this one says how many were dropped"},
	{CodeRateLimited, http.StatusTooManyRequests, "too many attempts (`signIn`, `signUp`, `refreshSession`, a wrong `currentPassword`) or writes; `Retry-After` and `extensions.retryAfter` in seconds"},
	{CodeOverloaded, http.StatusServiceUnavailable, "the server is already serving as many requests as it may; `Retry-After: 1`; send it again (a proxy may send it to another instance)"},
	{CodeDatabaseUnavailable, http.StatusServiceUnavailable, "the database could not be reached, or not in time; `Retry-After`; retry later"},
	{CodeTooManySubscriptions, 0, "a WebSocket already has the most active subscriptions allowed (`INKWELL_MAX_SUBSCRIPTIONS_PER_CONNECTION`)"},
	{CodeTooManyConnections, http.StatusTooManyRequests, "the client's address already holds the most WebSockets allowed (`INKWELL_MAX_CONNECTIONS_PER_ADDRESS`), on the upgrade"},
	{CodeTooManyOperations, 0, "a WebSocket already runs the most queries and mutations at once allowed (`INKWELL_MAX_OPERATIONS_PER_CONNECTION`)"},
	{CodeSlowConsumer, 0, "the client read a subscription's events too slowly; it was ended, subscribe again"},
}

var byCode = func() map[Code]Info {
	m := make(map[Code]Info, len(Table))
	for _, i := range Table {
		m[i.Code] = i
	}
	return m
}()

// Lookup returns code's entry in Table.
func Lookup(code Code) (Info, bool) {
	i, ok := byCode[code]
	return i, ok
}

// Markdown is Table as README.md shows it.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| code | HTTP | meaning |\n|---|---|---|\n")
	for _, i := range Table {
		status := "–"
		if i.Status != 0 {
			status = fmt.Sprint(i.Status)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", i.Code, status, i.Meaning)
	}
	return b.String()
}
