package redact

import (
	"errors"
	"io/fs"
	"testing"
)

func TestURLMasksThePasswordAsWritten(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"http://user:secret@host:9091", "http://user:xxxxx@host:9091"},
		{"http://user:se@cret@host", "http://user:xxxxx@host"},
		{"http://user:se/cret@host/path", "http://user:xxxxx@host/path"},
		{"http://user:se%40cret@host", "http://user:xxxxx@host"},
		{"user:secret@host:9091", "user:xxxxx@host:9091"},
		{"http://user@host", "http://user@host"},
		{"http://host:9091/path", "http://host:9091/path"},
		{"u:a://b@host", "u:xxxxx@host"},
		{"postgres://u:pw@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"host=h user=u password='s3 cret' dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password=s3cret", "host=h password=xxxxx"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:s%40cret@h/db", "s@cret"},
		{"host=h password='a b c'", "a b c"},
		{"http://user:se/cret@host/path", "se/cret"},
		{"postgres://u@h/db", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Password(tt.in); got != tt.want {
			t.Errorf("Password(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTextMasksEveryFormOfASecret(t *testing.T) {
	t.Parallel()
	const secret = `s3c/r"et @x`
	tests := []struct{ in, want string }{
		{`plain s3c/r"et @x end`, "plain xxxxx end"},
		{`json "s3c/r\"et @x"`, `json "xxxxx"`},
		{"query s3c%2Fr%22et+%40x", "query xxxxx"},
		{"path s3c%2Fr%22et%20@x", "path xxxxx"},
		{"nothing here", "nothing here"},
	}
	for _, tt := range tests {
		if got := Text(tt.in, secret, "", "ab"); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Text("a ab b", "ab"); got != "a ab b" {
		t.Errorf("a two-character secret was replaced: %q", got)
	}
}

func TestErrorKeepsTheChain(t *testing.T) {
	t.Parallel()
	base := fs.ErrNotExist
	err := Error(errors.Join(errors.New("connect with password hunter2"), base), "hunter2")
	if got := err.Error(); got != "connect with password xxxxx\nfile does not exist" {
		t.Errorf("message %q", got)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is no longer reaches the cause")
	}
	plain := errors.New("no secret")
	if Error(plain, "hunter2") != plain {
		t.Error("an error without a secret was wrapped")
	}
	if Error(nil, "hunter2") != nil {
		t.Error("nil error became non-nil")
	}
}
