package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
	"inkwell/internal/cache"
	"inkwell/internal/respcache"
)

// The response media types of GraphQL over HTTP
// (https://graphql.github.io/graphql-over-http/draft/).
const (
	mediaJSON            = apperr.MediaJSON
	mediaGraphQLResponse = apperr.MediaGraphQLResponse
)

// postTransport serves POST /graphql with a JSON body {query, operationName, variables,
// extensions}. checkGraphQLRequest has already refused other content types.
type postTransport struct {
	responses *respcache.Cache
	// costAlways adds the cost receipt to every answer, not only to those asked for.
	costAlways bool
}

func (postTransport) Supports(r *http.Request) bool { return r.Method == http.MethodPost }

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	body, err := readBody(r)
	if err != nil {
		apperr.Write(w, r, apperr.CodeBadRequest, "could not read the request body")
		return
	}
	// A kept answer was built from these very bytes, so it is looked up before they are
	// decoded: most of what a hit cost was the decoding.
	a := answerKept(w, r, nil, t.responses, body, t.costAlways)
	if a.done {
		return
	}
	var params graphql.RawParams
	if err := decodeJSON(body, &params); err != nil {
		// The decoder's message is kept out: it may quote the body back.
		apperr.Write(w, r, apperr.CodeBadRequest,
			"request body must be a JSON object with query, operationName, variables and extensions")
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	run(w, r, exec, &params, nil, a)
}

// readBody is r's body, without a copy when limitBody has read it already.
func readBody(r *http.Request) ([]byte, error) {
	if b, ok := r.Body.(readBodyBytes); ok {
		return b.b, nil
	}
	return io.ReadAll(r.Body)
}

// getTransport serves GET /graphql?query=...&operationName=...&variables=...&extensions=...,
// for queries only: a GET may be repeated or prefetched, so it must not write. With a
// persisted query's hash instead of the text, the URL is short and stable, so an HTTP
// cache can keep the answer: publicMaxAge, when positive, allows that for anonymous
// answers without errors.
type getTransport struct {
	publicMaxAge time.Duration
	responses    *respcache.Cache
	costAlways   bool
}

func (getTransport) Supports(r *http.Request) bool { return r.Method == http.MethodGet }

func (t getTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	start := graphql.Now()
	// The answer depends on the token and on the negotiated media type, so a cache must
	// key on both; until execute knows the answer may be shared, nothing is stored.
	w.Header().Add("Vary", "Authorization")
	w.Header().Add("Vary", "Accept")
	w.Header().Set("Cache-Control", noStore(r))
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		apperr.Write(w, r, apperr.CodeBadRequest, "query string is malformed")
		return
	}
	for _, name := range []string{"query", "operationName", "variables", "extensions"} {
		if !utf8.ValidString(q.Get(name)) {
			apperr.Write(w, r, apperr.CodeBadRequest, name+" is not valid UTF-8")
			return
		}
	}
	params := graphql.RawParams{
		Query:         q.Get("query"),
		OperationName: q.Get("operationName"),
		Headers:       r.Header,
	}
	if v := q.Get("variables"); v != "" {
		if err := decodeJSON([]byte(v), &params.Variables); err != nil {
			apperr.Write(w, r, apperr.CodeBadRequest, "variables must be a JSON object")
			return
		}
	}
	if v := q.Get("extensions"); v != "" {
		if err := decodeJSON([]byte(v), &params.Extensions); err != nil {
			apperr.Write(w, r, apperr.CodeBadRequest, "extensions must be a JSON object")
			return
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	execute(w, r, exec, &params, &t, t.responses, []byte(r.URL.RawQuery), t.costAlways)
}

// noStore is the Cache-Control of a GET answer that no cache may keep. private also
// keeps an answer to a request with a token out of shared caches that ignore no-store.
func noStore(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return "private, no-store"
	}
	return "no-store"
}

// publicCacheControl is the Cache-Control of an answer to r when it carried no errors,
// or "" when it must stay no-store: only an anonymous request's answer is the same for
// everyone.
func (t getTransport) publicCacheControl(r *http.Request) string {
	secs := int64(t.publicMaxAge / time.Second)
	if secs <= 0 || r.Header.Get("Authorization") != "" {
		return ""
	}
	return "public, max-age=" + strconv.FormatInt(secs, 10)
}

// allowSharing lets HTTP caches keep the answer to r, an answer without errors, when t
// (the GET transport; nil for POST) allows it.
func (t *getTransport) allowSharing(w http.ResponseWriter, r *http.Request) {
	if t == nil {
		return
	}
	if cc := t.publicCacheControl(r); cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
}

// execute parses, validates and runs one operation and writes its response. get is the
// GET transport, which allows queries only, or nil for POST. A query's answer is looked
// up in, and kept in, kept (nil for none) under the request's bytes, raw. An executed
// operation's answer carries the cost receipt when costAlways or the request asks for it.
func execute(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, get *getTransport,
	kept *respcache.Cache, raw []byte, costAlways bool,
) {
	if a := answerKept(w, r, get, kept, raw, costAlways); !a.done {
		run(w, r, exec, params, get, a)
	}
}

// lookup is what answerKept found out about a request, for run.
type lookup struct {
	done    bool             // answered from the response cache
	kept    *respcache.Cache // where to keep the answer; nil: not to be kept
	key     respcache.Key
	media   string
	receipt bool // the answer carries the cost receipt
}

// answerKept answers the request from kept when it can (done), else says how run is
// to answer and keep it.
func answerKept(w http.ResponseWriter, r *http.Request, get *getTransport, kept *respcache.Cache, raw []byte, costAlways bool) lookup {
	ctx := r.Context()
	if cache.Bypassed(ctx) {
		// The caches may not have heard of the changes this request must see.
		kept = nil
	}
	a := lookup{receipt: costAlways, media: apperr.Negotiate(r)}
	if costRequested(r) {
		// A kept answer ran nothing: whoever asks for the receipt wants the operation's
		// cost, so it is executed.
		a.receipt, kept = true, nil
	}
	if kept == nil {
		return a
	}
	transport := http.MethodPost
	if get != nil {
		transport = http.MethodGet
	}
	a.kept, a.key = kept, respcache.MakeKey(ctx, transport, a.media, raw)
	// A kept answer may be sent compressed: caches between must key on that too.
	w.Header().Add("Vary", "Accept-Encoding")
	buf := keptBuffers.Get().(*[]byte)
	b, ok := keptAnswer(w, r, kept, a.key, buf)
	if ok {
		// Only answers without errors are kept: what the end of run would write for them.
		get.allowSharing(w, r)
		apperr.WriteBody(w, a.media, http.StatusOK, b)
		a.done = true
	}
	if cap(*buf) <= maxKeptBuffer {
		keptBuffers.Put(buf)
	}
	return a
}

// run executes the operation of params and writes its answer, keeping it as a says.
func run(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, get *getTransport, a lookup) {
	ctx := r.Context()
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		// Refused before execution: parse, validation, variables, depth or complexity.
		// application/json answers 200 whatever the errors; graphql-response+json tells
		// the client with a 4xx.
		status := http.StatusOK
		if a.media == mediaGraphQLResponse {
			status = http.StatusBadRequest
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		writeJSON(w, a.media, status, requestError{Errors: resp.Errors, Extensions: resp.Extensions})
		return
	}
	if get != nil && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", "POST")
		apperr.Write(w, r, apperr.CodeMethodNotAllowed,
			"only queries may be sent with GET; send "+string(opCtx.Operation.Operation)+"s with POST")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	status := http.StatusOK
	if resp != nil {
		if s, retryAfter := errorsStatus(resp.Errors); s != 0 {
			status = s
			w.Header().Set("Retry-After", retryAfter)
		}
	}
	// A receipt is this request's, not an answer for a shared cache to hand others.
	if resp != nil && len(resp.Errors) == 0 && !a.receipt {
		get.allowSharing(w, r)
	}
	cacheable := a.kept != nil && opCtx.Operation.Operation == ast.Query && status == http.StatusOK && resp != nil &&
		len(resp.Errors) == 0 && len(resp.Extensions) == 0
	if a.receipt && resp != nil {
		addCost(ctx, resp)
	}

	b, err := marshalResponse(resp)
	if err != nil {
		writeJSON(w, a.media, status, resp) // writeJSON's own fallback reports the failure
		return
	}
	if cacheable {
		keep := b
		if a.receipt {
			// Kept without the receipt, which belongs to this request alone.
			delete(resp.Extensions, "cost")
			if keep, err = marshalResponse(resp); err != nil {
				keep = nil
			}
		}
		if keep != nil {
			a.kept.Put(ctx, a.key, keep)
		}
	}
	apperr.WriteBody(w, a.media, status, b)
}

// keptBuffers hold kept answers while they are sent: a hit copies the answer out of the
// cache, and a fresh buffer for each was a fifth of what a kept W1 feed allocated.
var keptBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptBuffer: fastcache keeps no entry above 64 KB, so no buffer grows much past it.
const maxKeptBuffer = 128 << 10

// keptAnswer is the answer kept for key, compressed (with its Content-Encoding set on w)
// when r accepts gzip. It is read into buf and may be a part of it.
func keptAnswer(w http.ResponseWriter, r *http.Request, kept *respcache.Cache, key respcache.Key, buf *[]byte) ([]byte, bool) {
	v, b, gz, ok := kept.GetAppend((*buf)[:0], key)
	*buf = v[:0]
	if !ok || !gz {
		return b, ok
	}
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		return b, true
	}
	b, err := respcache.Gunzip(b)
	return b, err == nil
}

// acceptsGzip reports whether r's Accept-Encoding lists gzip (or *) without q=0.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			name = strings.TrimSpace(name)
			if !strings.EqualFold(name, "gzip") && name != "*" {
				continue
			}
			q, found := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q=")
			if !found {
				return true
			}
			if f, err := strconv.ParseFloat(q, 64); err == nil && f > 0 {
				return true
			}
		}
	}
	return false
}

// marshalResponse is an executed operation's response as JSON. Through encoding/json,
// its data (JSON that gqlgen already wrote) would be copied through the validating
// compactor byte by byte, several per cent of a feed request's CPU; here it is copied as
// it is, and only the errors and extensions around it go through encoding/json. The keys
// keep graphql.Response's order.
func marshalResponse(r *graphql.Response) ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	var errs, ext []byte
	var err error
	if len(r.Errors) > 0 {
		if errs, err = json.Marshal(r.Errors); err != nil {
			return nil, err
		}
	}
	if len(r.Extensions) > 0 {
		if ext, err = json.Marshal(r.Extensions); err != nil {
			return nil, err
		}
	}
	data := []byte(r.Data)
	if data == nil {
		data = []byte("null")
	}
	b := make([]byte, 0, len(data)+len(errs)+len(ext)+32)
	b = append(b, '{')
	if errs != nil {
		b = append(append(append(b, `"errors":`...), errs...), ',')
	}
	b = append(append(b, `"data":`...), data...)
	if ext != nil {
		b = append(append(b, `,"extensions":`...), ext...)
	}
	return append(b, '}'), nil
}

// errorsStatus is the HTTP status and Retry-After of a response carrying errs, or 0
// when they leave it 200: 503 when the database was unavailable (statusForErrors), else
// 429 when an attempt was over its budget, so that proxies and clients that never read
// the body still back off. Retry-After is the longest wait any error asks for.
func errorsStatus(errs gqlerror.List) (int, string) {
	if status, retryAfter := statusForErrors(errs); status != 0 {
		return status, retryAfter
	}
	wait := 0
	for _, e := range errs {
		if code, _ := e.Extensions["code"].(string); code == string(apperr.CodeRateLimited) {
			secs, _ := e.Extensions["retryAfter"].(int)
			wait = max(wait, secs, 1)
		}
	}
	if wait == 0 {
		return 0, ""
	}
	return http.StatusTooManyRequests, strconv.Itoa(wait)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1, as Retry-After carries it.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// requestError is a response to a request refused before execution. Unlike
// graphql.Response it has no data entry, as the GraphQL spec requires.
type requestError struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func writeJSON(w http.ResponseWriter, media string, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a broken marshaler in generated code gets here; nothing was written yet.
		status = http.StatusInternalServerError
		b, _ = json.Marshal(requestError{Errors: gqlerror.List{{
			Message:    msgInternal,
			Extensions: map[string]any{"code": apperr.CodeInternal},
		}}})
	}
	apperr.WriteBody(w, media, status, b)
}

func isJSON(contentType string) bool {
	media, _, err := mime.ParseMediaType(contentType)
	return err == nil && media == mediaJSON
}

// decodeJSON keeps numbers as json.Number, as gqlgen's transports do, so that large Int
// and Float variables are not rounded through float64. Anything but white space after
// the value is refused: a body that is not one JSON document was not meant as one.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingData
	}
	return nil
}

var errTrailingData = errors.New("data after the JSON value")
