// Package logtest keeps what a test's slog.Logger writes, for the sync
// tests that read their own logs back (a line logged once, a cause named).
package logtest

import (
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a log destination safe for concurrent writers.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count is how many times s was written so far.
func (l *Buffer) Count(s string) int { return strings.Count(l.String(), s) }

// Logger logs text lines into l, at opts' level (nil: info).
func (l *Buffer) Logger(opts *slog.HandlerOptions) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, opts))
}
