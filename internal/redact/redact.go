// Package redact is the one place where secrets (the API secret key, database and Pushgateway
// passwords) are hidden from logs, errors and output. Every secret is replaced by Mask, in each
// form it can take in text: as written, JSON-escaped, URL query-escaped and URL path-escaped.
package redact

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Mask replaces every secret, as url.URL.Redacted does for a password.
const Mask = "xxxxx"

// minLen is the shortest secret replaced in free text: shorter ones would mask unrelated text
// (a one-letter password would hide every such letter); such a value is no secret anyway.
const minLen = 3

// Replacer replaces a fixed set of secrets with Mask. The zero value and nil replace nothing.
type Replacer struct {
	r *strings.Replacer
}

// New returns a Replacer for secrets; empty and too short values are ignored.
func New(secrets ...string) *Replacer {
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minLen {
			continue
		}
		js, _ := json.Marshal(s)
		for _, f := range []string{s, string(js[1 : len(js)-1]), url.QueryEscape(s), url.PathEscape(s)} {
			if !seen[f] {
				seen[f] = true
				pairs = append(pairs, f, Mask)
			}
		}
	}
	if len(pairs) == 0 {
		return &Replacer{}
	}
	return &Replacer{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced by Mask.
func (r *Replacer) String(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// Error returns err with every secret removed from its message; errors.Is and errors.As still
// reach err and what it wraps. A nil err, or one whose message holds no secret, is returned as is.
func (r *Replacer) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := r.String(msg)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// Text returns s with each of secrets replaced by Mask.
func Text(s string, secrets ...string) string { return New(secrets...).String(s) }

// Error returns err with each of secrets removed from its message (see Replacer.Error).
func Error(err error, secrets ...string) error { return New(secrets...).Error(err) }

// redactedError is an error whose message had secrets removed; Unwrap reaches the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

var keywordPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// Password returns the password of a connection string (URL or keyword/value form) or of a
// URL with user info, or "" when it has none. For a value that does not parse, it returns the
// password as written (see URL).
func Password(s string) string {
	if cfg, err := pgx.ParseConfig(s); err == nil && cfg.Password != "" && strings.Contains(s, cfg.Password) {
		return cfg.Password
	}
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
	}
	if m := keywordPassword.FindStringSubmatch(s); m != nil {
		return strings.Trim(m[1], "'")
	}
	if start, end, ok := userinfoBounds(s); ok {
		return s[start:end]
	}
	return ""
}

// URL returns s with the password of its user info (or its password=… keyword) replaced by
// Mask, also for values that do not parse.
func URL(s string) string {
	p := Password(s)
	if start, end, ok := userinfoBounds(s); ok {
		s = s[:start] + Mask + s[end:]
	}
	if m := keywordPassword.FindStringSubmatchIndex(s); m != nil {
		s = s[:m[2]] + Mask + s[m[3]:]
	}
	return Text(s, p)
}

// SplitScheme splits "scheme://rest". ok is false when s has no "://" after a valid scheme name
// (a letter, then letters, digits, '+', '-' or '.').
func SplitScheme(s string) (scheme, rest string, ok bool) {
	i := strings.Index(s, "://")
	if i <= 0 {
		return "", s, false
	}
	for j, c := range s[:i] {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (j == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", s, false
		}
	}
	return s[:i], s[i+3:], true
}

// userinfoBounds finds the password in s as written: from the first ':' of the user info to the
// last '@' before the path. It works on strings url.Parse refuses, and errs towards hiding too
// much (a port, a path) rather than too little.
func userinfoBounds(s string) (start, end int, ok bool) {
	offset := 0
	if scheme, _, found := SplitScheme(s); found {
		offset = len(scheme) + 3
	}
	rest := s[offset:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return 0, 0, false
	}
	colon := strings.Index(rest[:at], ":")
	if colon < 0 {
		return 0, 0, false
	}
	return offset + colon + 1, offset + at, true
}
