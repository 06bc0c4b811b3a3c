package model

import (
	"fmt"
	"io"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalDateTime writes t as the DateTime scalar: RFC 3339 in UTC, to the microsecond
// PostgreSQL keeps. Fields of this type are bound to the entities' time.Time fields, so
// gqlgen writes them inline with no resolver.
func MarshalDateTime(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		var buf [48]byte
		b := append(buf[:0], '"')
		b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		_, _ = w.Write(b) // a failed write surfaces where the response is sent
	})
}

// UnmarshalDateTime reads the DateTime scalar from a variable or literal.
func UnmarshalDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("DateTime must be an RFC 3339 string, got %T", v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("DateTime must be an RFC 3339 string: %w", err)
	}
	return t.UTC(), nil
}
