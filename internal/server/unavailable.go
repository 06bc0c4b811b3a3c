package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"inkwell/internal/apperr"
	"inkwell/internal/dberr"
)

// codeDatabaseUnavailable is the error code of an operation that could not reach the
// database, or not in time: the server is fine and the request may be sent again.
const codeDatabaseUnavailable = string(apperr.CodeDatabaseUnavailable)

const (
	msgDatabaseUnavailable = "the database is unavailable; retry later"
	// unavailableWait is how long a DATABASE_UNAVAILABLE answer asks the client to wait
	// (Retry-After): a restarting database is usually back within seconds.
	unavailableWait = 2 * time.Second
)

// retryAfterUnavailable is unavailableWait as the Retry-After header carries it.
var retryAfterUnavailable = strconv.Itoa(retryAfterSeconds(unavailableWait))

// DatabaseUnavailable is err as the client sees it when it says the database could not be
// reached, or not in time (see databaseUnavailable): DATABASE_UNAVAILABLE, for work done
// before the GraphQL executor (the bearer middleware's session check); nil otherwise.
func DatabaseUnavailable(ctx context.Context, err error) *apperr.Error {
	if err == nil || apperr.CodeOf(err) != apperr.CodeInternal || !databaseUnavailable(ctx, err) {
		return nil
	}
	return &apperr.Error{Code: apperr.CodeDatabaseUnavailable, Message: msgDatabaseUnavailable, Err: err,
		RetryAfter: unavailableWait}
}

// databaseUnavailable reports whether err says the database could not be reached or
// did not answer before the request's deadline, rather than that the operation was wrong:
// refused, reset or closed connections, a server shutting down or starting up, too many
// connections, and a deadline that ran out while waiting for a connection or a statement.
func databaseUnavailable(ctx context.Context, err error) bool {
	if dberr.Unavailable(err) {
		return true
	}
	if pe, ok := errors.AsType[*pq.Error](err); ok {
		switch pe.Code {
		// read_only_sql_transaction: a write reached a node that is a standby now,
		// during a failover (the old primary demoted, or a multi-host URL that connected
		// before the promotion). Nothing was written; another try finds the new primary.
		case "25006":
			return true
		case "57014": // query_canceled
			// Canceled because the request's deadline passed, not by statement_timeout,
			// which says the statement itself is too slow.
			return ctx.Err() != nil || !strings.Contains(pe.Message, "statement timeout")
		}
		return false
	}
	// The deadline ran out inside the database layer: waiting for a free connection of
	// an exhausted pool, or for an answer.
	return errors.Is(err, context.DeadlineExceeded)
}

// statusForErrors is the HTTP status of a response carrying errs, with its Retry-After
// (empty for none): 503 when the database was unavailable to any part of the operation,
// so that clients and proxies retry later instead of taking a partial answer for good;
// 0 when errs do not decide the status.
func statusForErrors(errs gqlerror.List) (status int, retryAfter string) {
	for _, e := range errs {
		if code, _ := e.Extensions["code"].(string); code == codeDatabaseUnavailable {
			return http.StatusServiceUnavailable, retryAfterUnavailable
		}
	}
	return 0, ""
}

// closeWhenDraining asks clients to close their connection after each response once the
// server drains: a proxy then stops reusing its keep-alive connections to this instance
// while the instance still answers, so none is left idle for the final shutdown to cut
// under a request in flight.
func closeWhenDraining(draining func() bool, next http.Handler) http.Handler {
	if draining == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
