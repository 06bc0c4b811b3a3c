package apperr

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// The media types of a GraphQL response over HTTP.
const (
	MediaJSON            = "application/json"
	MediaGraphQLResponse = "application/graphql-response+json"
)

// Write refuses r as a whole: a GraphQL response with one error of code and msg and no
// data, with the code's HTTP status from Table (500 for a code not in it). Every refusal
// before the GraphQL executor answers goes through here.
func Write(w http.ResponseWriter, r *http.Request, code Code, msg string) {
	status := http.StatusInternalServerError
	if i, ok := Lookup(code); ok && i.Status != 0 {
		status = i.Status
	}
	type gqlError struct {
		Message    string          `json:"message"`
		Extensions map[string]Code `json:"extensions"`
	}
	body, err := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{[]gqlError{{Message: msg, Extensions: map[string]Code{"code": code}}}})
	if err != nil {
		// Unreachable for strings; answer anyway rather than leave the client hanging.
		status = http.StatusInternalServerError
		body = []byte(`{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	WriteBody(w, Negotiate(r), status, body)
}

// WriteBody sends b, a JSON document, as media with status.
func WriteBody(w http.ResponseWriter, media string, status int, b []byte) {
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Negotiate picks the response media type: graphql-response+json when the client accepts
// it anywhere in Accept (and not with q=0), as the GraphQL over HTTP spec asks, else
// application/json, which every GraphQL client understands.
func Negotiate(r *http.Request) string {
	if r == nil {
		return MediaJSON
	}
	for _, accept := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(accept, ",") {
			media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || !strings.EqualFold(media, MediaGraphQLResponse) {
				continue
			}
			if q, err := strconv.ParseFloat(params["q"], 64); err == nil && q == 0 {
				continue // q=0 means "not this one"
			}
			return MediaGraphQLResponse
		}
	}
	return MediaJSON
}
