package main

import (
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"sync"
)

// redactor replaces secrets in text: the API secret key and the database password, in plain,
// JSON-escaped and URL-escaped forms.
type redactor struct {
	r *strings.Replacer
}

func newRedactor(secrets ...string) *redactor {
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < 3 { // too short to replace safely; such a secret is not a secret
			continue
		}
		js, _ := json.Marshal(s)
		forms := []string{s, string(js[1 : len(js)-1]), url.QueryEscape(s), url.PathEscape(s)}
		for _, f := range forms {
			if !seen[f] {
				seen[f] = true
				pairs = append(pairs, f, "[REDACTED]")
			}
		}
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}

func (r *redactor) redact(s string) string { return r.r.Replace(s) }

// redactingWriter redacts every write. Writers of logs write whole lines at a time.
type redactingWriter struct {
	mu sync.Mutex
	w  io.Writer
	r  *redactor
}

func (w *redactingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := io.WriteString(w.w, w.r.redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *redactingWriter) Sync() error { return nil }
