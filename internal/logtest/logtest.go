// Package logtest collects what a logger writes, for tests that check what was logged.
package logtest

import (
	"bytes"
	"sync"
)

// Buffer is a log's destination that many goroutines may write to at once (a server logs
// from every request's), read whole with String.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
