package main

import (
	"io"
	"sync"

	"github.com/cbarchive/cbarchive/internal/redact"
)

// redactingWriter redacts every write. Writers of logs write whole lines at a time.
type redactingWriter struct {
	mu sync.Mutex
	w  io.Writer
	r  *redact.Replacer
}

func (w *redactingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.w, w.r.String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *redactingWriter) Sync() error { return nil }
