// Package devdb gives development tools a scratch PostgreSQL database.
package devdb

import (
	"context"
	"fmt"
	"os"

	"inkwell/internal/localpg"
)

// Scratch returns url unchanged when it is set (the caller vouches that it is empty), or
// starts a throw-away local PostgreSQL and returns its URL. stop releases what was started.
func Scratch(ctx context.Context, url string) (dsn string, stop func(), err error) {
	if url != "" {
		return url, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "inkwell-scratch-")
	if err != nil {
		return "", nil, err
	}
	srv, err := localpg.Start(ctx, localpg.Options{Dir: dir, Fast: true})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start scratch postgres: %w", err)
	}
	return srv.URL("postgres"), func() {
		_ = srv.Stop()
		_ = os.RemoveAll(dir)
	}, nil
}
