package dberr_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"

	"inkwell/internal/dberr"
)

func TestConnectionLost(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bad connection", driver.ErrBadConn, true},
		{"connection done", fmt.Errorf("query: %w", sql.ErrConnDone), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{"reset, wrapped", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"connection exception", &pq.Error{Code: "08006"}, true},
		{"admin shutdown", &pq.Error{Code: "57P01"}, false},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"deadline", context.DeadlineExceeded, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dberr.ConnectionLost(tt.err); got != tt.want {
				t.Errorf("ConnectionLost(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestUnavailable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{driver.ErrBadConn, true},
		{&pq.Error{Code: "57P01"}, true},
		{&pq.Error{Code: "57P03"}, true},
		{&pq.Error{Code: "53300"}, true},
		{&pq.Error{Code: "57014"}, false}, // query_canceled: the statement's own doing
		{&pq.Error{Code: "23505"}, false},
		{errors.New("boom"), false},
	} {
		if got := dberr.Unavailable(tt.err); got != tt.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
