package transform

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/cbarchive/cbarchive/callback"
)

func TestIdentityHashIgnoresResponseSide(t *testing.T) {
	t.Parallel()
	base := typicalRecord()
	want := IdentityHash(&base)
	for name, mutate := range map[string]func(*callback.Record){
		"status":          func(r *callback.Record) { r.CallbackStatus = "fail" },
		"response code":   func(r *callback.Record) { r.CallbackResponseCode = "500" },
		"response header": func(r *callback.Record) { r.CallbackResponseHeader = "HTTP/1.1 500 Internal Server Error" },
		"response body":   func(r *callback.Record) { r.CallbackResponseBody = "oops" },
		"response time":   func(r *callback.Record) { r.CallbackResponseTime = "" },
		"error code":      func(r *callback.Record) { r.CallbackErrorCode = "timeout" },
		"error message":   func(r *callback.Record) { r.CallbackErrorMessage = "read timed out" },
		"raw bytes":       func(r *callback.Record) { r.Raw = []byte(`{}`) },
	} {
		rec := typicalRecord()
		mutate(&rec)
		if got := IdentityHash(&rec); !bytes.Equal(got, want) {
			t.Errorf("changing the %s changed IdentityHash", name)
		}
		if name != "raw bytes" && bytes.Equal(ContentHash(&rec), ContentHash(&base)) {
			t.Errorf("changing the %s did not change ContentHash", name)
		}
	}
}

func TestIdentityHashCoversIdentityFields(t *testing.T) {
	t.Parallel()
	base := typicalRecord()
	want := IdentityHash(&base)
	for name, mutate := range map[string]func(*callback.Record){
		"domain":                   func(r *callback.Record) { r.Domain += "x" },
		"app":                      func(r *callback.Record) { r.App += "x" },
		"stream":                   func(r *callback.Record) { r.Stream += "x" },
		"event type":               func(r *callback.Record) { r.CallbackEventType = "push_start" },
		"callback time":            func(r *callback.Record) { r.CallbackTime = "2025-03-18T23:30:53+08:00" },
		"same instant, other text": func(r *callback.Record) { r.CallbackTime = "2025-03-18T15:30:52Z" },
		"method":                   func(r *callback.Record) { r.CallbackMethod = "GET" },
		"address":                  func(r *callback.Record) { r.CallbackAddress += "/v2" },
		"request body":             func(r *callback.Record) { r.CallbackBody += " " },
		"NUL vs U+FFFD":            func(r *callback.Record) { r.App = "\x00" },
	} {
		rec := typicalRecord()
		mutate(&rec)
		if bytes.Equal(IdentityHash(&rec), want) {
			t.Errorf("changing the %s did not change IdentityHash", name)
		}
		if bytes.Equal(ContentHash(&rec), ContentHash(&base)) {
			t.Errorf("changing the %s did not change ContentHash", name)
		}
	}
	// Raw text, not sanitized text: NUL and U+FFFD differ.
	a, b := typicalRecord(), typicalRecord()
	a.App, b.App = "\x00", "\uFFFD"
	if bytes.Equal(IdentityHash(&a), IdentityHash(&b)) {
		t.Error("IdentityHash hashes sanitized text")
	}
}

func TestHashesLengthPrefixFieldBoundaries(t *testing.T) {
	t.Parallel()
	a, b := typicalRecord(), typicalRecord()
	a.Domain, a.App = "ab", "c"
	b.Domain, b.App = "a", "bc"
	if bytes.Equal(IdentityHash(&a), IdentityHash(&b)) {
		t.Error(`IdentityHash("ab","c") == IdentityHash("a","bc")`)
	}
	if bytes.Equal(ContentHash(&a), ContentHash(&b)) {
		t.Error(`ContentHash("ab","c") == ContentHash("a","bc")`)
	}
	// Moving text between the last identity field and the first response field.
	c, d := typicalRecord(), typicalRecord()
	c.CallbackErrorCode, c.CallbackErrorMessage = "x", ""
	d.CallbackErrorCode, d.CallbackErrorMessage = "", "x"
	if bytes.Equal(ContentHash(&c), ContentHash(&d)) {
		t.Error("ContentHash ignores which field holds the text")
	}
}

// TestIdentityHashLayout pins the documented byte layout, so that it can be reproduced
// elsewhere and never changes by accident: changing it re-keys every archived row.
func TestIdentityHashLayout(t *testing.T) {
	t.Parallel()
	rec := typicalRecord()
	rec.CallbackBody = string(bytes.Repeat([]byte("é"), 700)) // longer than the copy buffer
	var buf []byte
	for _, s := range []string{rec.Domain, rec.App, rec.Stream, rec.CallbackEventType, rec.CallbackTime,
		rec.CallbackMethod, rec.CallbackAddress, rec.CallbackBody} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	want := sha256.Sum256(buf)
	if got := IdentityHash(&rec); !bytes.Equal(got, want[:]) {
		t.Errorf("IdentityHash = %x, want %x", got, want)
	}
	buf = buf[:0]
	for _, s := range rec.Fields() {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	want = sha256.Sum256(buf)
	if got := ContentHash(&rec); !bytes.Equal(got, want[:]) {
		t.Errorf("ContentHash = %x, want %x", got, want)
	}
	empty := callback.Record{}
	if len(IdentityHash(&empty)) != sha256.Size {
		t.Error("IdentityHash is not 32 bytes")
	}
}
