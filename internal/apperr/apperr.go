// Package apperr defines the errors a client can act on, each with a stable code that
// reaches the wire as extensions.code.
package apperr

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Code is a stable, documented error class. Codes are part of the public contract.
type Code string

// The codes a client may see.
const (
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeBadUserInput    Code = "BAD_USER_INPUT"
	CodeConflict        Code = "CONFLICT"
	CodeInternal        Code = "INTERNAL_SERVER_ERROR"
	// CodeRateLimited: too many attempts; extensions.retryAfter says when to try again.
	CodeRateLimited Code = "RATE_LIMITED"
)

// Error is an error with a code, a message safe to show a client, the fields at fault
// (BAD_USER_INPUT) and the cause, which is logged and never shown.
type Error struct {
	Code    Code
	Message string
	Fields  map[string][]string
	Err     error
	// RetryAfter is, for RATE_LIMITED, how long until the client may try again.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the code of err: its *Error's code, or INTERNAL_SERVER_ERROR for any
// other non-nil error, or "" for nil.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Unauthenticated is for a missing, bad or expired credential.
func Unauthenticated(msg string) *Error {
	if msg == "" {
		msg = "you must be signed in"
	}
	return &Error{Code: CodeUnauthenticated, Message: msg}
}

// Forbidden is for a signed-in viewer who may not do this.
func Forbidden(msg string) *Error { return &Error{Code: CodeForbidden, Message: msg} }

// NotFound says that the named thing does not exist.
func NotFound(what string) *Error {
	return &Error{Code: CodeNotFound, Message: what + " not found"}
}

// RateLimited refuses an attempt over its budget; the client may retry after retryAfter.
func RateLimited(retryAfter time.Duration) *Error {
	return &Error{Code: CodeRateLimited, Message: "too many attempts; try again later", RetryAfter: retryAfter}
}

// Conflict is for a write that lost a race or clashes with the current state.
func Conflict(msg string) *Error { return &Error{Code: CodeConflict, Message: msg} }

// Internal hides cause from the client behind a generic message.
func Internal(cause error) *Error {
	return &Error{Code: CodeInternal, Message: "internal server error", Err: cause}
}

// Fields collects input problems so that one error can report all of them at once.
type Fields map[string][]string

// Add records a problem with field.
func (f Fields) Add(field, problem string) { f[field] = append(f[field], problem) }

// Err returns nil when there are no problems, else a BAD_USER_INPUT error naming them.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		parts = append(parts, name+" "+strings.Join(f[name], ", "))
	}
	return &Error{Code: CodeBadUserInput, Message: "invalid input: " + strings.Join(parts, "; "), Fields: f}
}

// BadInput is a BAD_USER_INPUT error about one field.
func BadInput(field, problem string) error {
	f := Fields{}
	f.Add(field, problem)
	return f.Err()
}
