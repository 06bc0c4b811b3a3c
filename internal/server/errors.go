package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"entgo.io/ent/privacy"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/ent"
	"inkwell/internal/apperr"
)

// The codes of apperr's Table this package sends, as gqlgen's extensions want them.
const (
	codeValidationFailed = errcode.ValidationFailed // GRAPHQL_VALIDATION_FAILED
	codeTooComplex       = string(apperr.CodeQueryTooComplex)
	codeBadRequest       = string(apperr.CodeBadRequest)
	codeInternal         = string(apperr.CodeInternal)

	// Document limits (see DocumentLimits), refused before validation.
	codeTooManyTokens     = string(apperr.CodeTooManyTokens)
	codeTooManyFields     = string(apperr.CodeTooManyFields)
	codeTooManyAliases    = string(apperr.CodeTooManyAliases)
	codeTooManyDirectives = string(apperr.CodeTooManyDirectives)
	codeTooManyAuthFields = string(apperr.CodeTooManyAuthFields)
	// The last error of a response whose other errors were dropped.
	codeTooManyErrors = string(apperr.CodeTooManyErrors)

	// gqlgen's code for extension.ComplexityLimit refusals, renamed to codeTooComplex so
	// that depth and complexity refusals share one code.
	gqlgenComplexityCode = "COMPLEXITY_LIMIT_EXCEEDED"

	msgInternal = "internal server error"
)

// PresentError turns any error a resolver or gqlgen raised into the error the client sees:
//
//   - an *apperr.Error keeps its Message and Code, and BAD_USER_INPUT adds
//     extensions.fields; INTERNAL_SERVER_ERROR always gets the generic message;
//   - ent's not-found is NOT_FOUND and an ent privacy denial FORBIDDEN, as a backstop for
//     code paths that did not translate them;
//   - an error saying the database could not be reached (or not before the request's
//     deadline) is DATABASE_UNAVAILABLE, unless an *apperr.Error gave it another code;
//   - a *gqlerror.Error that already has extensions.code (parse and validation errors,
//     limits, recovered panics) is kept, gqlgen's complexity code renamed QUERY_TOO_COMPLEX;
//   - anything else is INTERNAL_SERVER_ERROR with a generic message, its cause hidden.
//
// The path and locations of the original error are kept. PresentError does not log; the
// presenter New installs logs the hidden causes.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	out, _ := present(ctx, err)
	return out
}

// present is PresentError that also reports whether it hid err's message.
func present(ctx context.Context, err error) (out *gqlerror.Error, hidden bool) {
	if err == nil {
		return nil, false
	}
	gqlErr, _ := errors.AsType[*gqlerror.Error](err)

	// A database that cannot be reached is no fault of the operation: the client may
	// retry, so it gets its own code (and HTTP 503) rather than a hidden internal error.
	if apperr.CodeOf(err) == apperr.CodeInternal && databaseUnavailable(ctx, err) {
		return withCode(ctx, gqlErr, err, msgDatabaseUnavailable, codeDatabaseUnavailable), false
	}
	if ae, ok := errors.AsType[*apperr.Error](err); ok {
		if ae.Code == apperr.CodeInternal {
			return withCode(ctx, gqlErr, err, msgInternal, codeInternal), true
		}
		msg := ae.Message
		if msg == "" {
			msg = string(ae.Code)
		}
		out := withCode(ctx, gqlErr, err, msg, string(ae.Code))
		if ae.Code == apperr.CodeBadUserInput && len(ae.Fields) > 0 {
			out.Extensions["fields"] = ae.Fields
		}
		if ae.Code == apperr.CodeRateLimited {
			out.Extensions["retryAfter"] = retryAfterSeconds(ae.RetryAfter)
		}
		return out, false
	}
	if ent.IsNotFound(err) {
		return withCode(ctx, gqlErr, err, "not found", string(apperr.CodeNotFound)), false
	}
	if errors.Is(err, privacy.Deny) {
		return withCode(ctx, gqlErr, err, "you may not do this", string(apperr.CodeForbidden)), false
	}
	if gqlErr != nil {
		switch code, _ := gqlErr.Extensions["code"].(string); code {
		case "":
		case gqlgenComplexityCode:
			return withCode(ctx, gqlErr, err, gqlErr.Message, codeTooComplex), false
		default:
			return gqlErr, false
		}
	}
	return withCode(ctx, gqlErr, err, msgInternal, codeInternal), true
}

// withCode builds a fresh error rather than editing gqlErr, which may be shared.
func withCode(ctx context.Context, gqlErr *gqlerror.Error, cause error, msg, code string) *gqlerror.Error {
	out := &gqlerror.Error{
		Err:        cause,
		Message:    msg,
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": code},
	}
	if gqlErr != nil {
		if gqlErr.Path != nil {
			out.Path = gqlErr.Path
		}
		out.Locations = gqlErr.Locations
	}
	return out
}

// presenter is PresentError that logs the causes it hides, with the request ID a client
// can quote.
func presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		out, hidden := present(ctx, err)
		if hidden {
			attrs := []slog.Attr{
				slog.String("request_id", RequestID(ctx)),
				slog.String("error", err.Error()),
			}
			attrs = append(attrs, gqlerror.CollectAttrs(err)...)
			log.LogAttrs(ctx, slog.LevelError, "graphql error", attrs...)
		}
		return out
	}
}

// recoverFunc logs a resolver panic with its stack and answers a generic internal error,
// already coded so that the presenter passes it through without logging it again.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		log.LogAttrs(ctx, slog.LevelError, "graphql panic",
			slog.String("request_id", RequestID(ctx)),
			slog.String("path", graphql.GetPath(ctx).String()),
			slog.String("panic", fmt.Sprint(p)),
			slog.String("stack", string(debug.Stack())))
		return &gqlerror.Error{
			Message:    msgInternal,
			Extensions: map[string]any{"code": codeInternal},
		}
	}
}
