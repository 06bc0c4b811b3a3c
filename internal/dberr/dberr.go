// Package dberr classifies database errors that more than one layer must recognise
// alike: the server decides by them that a request met an unavailable database
// (503, retryable), and the read router that a replica, not the query, failed.
package dberr

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/lib/pq"
)

// ConnectionLost reports whether err says the connection to the server failed or broke:
// it could not be made, was closed under the statement, or PostgreSQL reported a
// connection exception (SQLSTATE class 08). Nothing about the statement itself is
// known to be wrong.
func ConnectionLost(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if pe, ok := errors.AsType[*pq.Error](err); ok {
		return pe.Code.Class() == "08"
	}
	return false
}

// Unavailable reports whether err says the server cannot answer now but may soon: the
// connection was lost (ConnectionLost), the server is shutting down, crashed or is
// starting up, or has no connection slot left. Another try, a moment later, may work.
func Unavailable(err error) bool {
	if ConnectionLost(err) {
		return true
	}
	if pe, ok := errors.AsType[*pq.Error](err); ok {
		switch pe.Code {
		case "57P01", // admin_shutdown
			"57P02", // crash_shutdown
			"57P03", // cannot_connect_now: starting up or shutting down
			"53300": // too_many_connections
			return true
		}
	}
	return false
}
