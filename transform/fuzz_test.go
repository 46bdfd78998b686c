package transform

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cbarchive/cbarchive/callback"
)

// FuzzParseHeaders proves that no header text, however malformed, panics the parser, and
// that its output keeps the documented guarantees.
func FuzzParseHeaders(f *testing.F) {
	f.Add("Content-Type: application/json; charset=utf-8\r\nContent-Length: 29")
	f.Add("HTTP/1.1 200 OK")
	f.Add("HTTP/2 204\nA: 1\na: 2\n\nno colon\n: empty name")
	f.Fuzz(func(t *testing.T, text string) {
		status, headers := ParseHeaders(text)
		if headers == nil {
			t.Fatal("nil map")
		}
		if status != nil {
			s := *status
			if !isStatusLine(s) || s != strings.TrimSpace(s) || strings.ContainsAny(s, "\n\x00") || !utf8.ValidString(s) {
				t.Errorf("bad status line %q", s)
			}
		}
		for name, value := range headers {
			if name == "" || name != strings.TrimSpace(name) || name != strings.ToLower(name) {
				t.Errorf("name %q is empty, untrimmed or not lower-case", name)
			}
			if !isStorableText(name) || !isStorableText(value) {
				t.Errorf("name %q or value %q not valid UTF-8 without NUL", name, value)
			}
			if name != UnparsedHeaderKey && strings.Contains(value, "\n") {
				t.Errorf("value of %q spans lines: %q", name, value)
			}
		}
		js := HeadersJSON(headers)
		var back map[string]string
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatalf("HeadersJSON gave invalid JSON %q: %v", js, err)
		}
		if !maps.Equal(back, headers) {
			t.Errorf("HeadersJSON round trip: got %q, want %q", back, headers)
		}
	})
}

// fuzzRecord builds a record from fuzz data: text starting with '{' is decoded as an API
// record (Raw set, as the extractor does); anything else is split at 0x1e into the 15
// fields in the order of callback.FieldNames (Raw nil, as for records built in code).
func fuzzRecord(data []byte) (callback.Record, bool) {
	var rec callback.Record
	if len(data) > 0 && data[0] == '{' {
		return rec, json.Unmarshal(data, &rec) == nil
	}
	ptrs := rec.FieldPtrs()
	for i, part := range strings.SplitN(string(data), "\x1e", len(ptrs)) {
		*ptrs[i] = part
	}
	return rec, true
}

// FuzzNormalize proves that no record panics Normalize, and that every row it returns is
// storable and gives the original record back.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte("d\x1ea\x1es\x1e2025-03-18T23:30:52+08:00\x1epush_end\x1ePOST\x1ehttp://x\x1esuccess\x1e{\"a\":1}\x1e200\x1eA: 1\x1eok\x1e2025-03-18T23:30:53+08:00\x1e\x1e"))
	f.Add([]byte(`{"Domain":"d\u0000","CallbackTime":"2025-03-18T23:30:52Z","CallbackBody":"\"\\u0000\""}`))
	f.Add([]byte("d\x00\xff\x1e\x1e\x1e2025-03-18 23:30:52Z\x1e\x1e\x1e\x1e\x1e[\"\\ud800\"]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, ok := fuzzRecord(data)
		if !ok {
			return
		}
		row, err := Normalize(rec)
		if err != nil {
			rej := NewReject(rec, err)
			if sum := sha256.Sum256(rej.Raw); !bytes.Equal(rej.Hash, sum[:]) {
				t.Error("reject Hash is not sha256(Raw)")
			}
			if !isStorableText(rej.Domain) || !isStorableText(rej.Reason) {
				t.Errorf("reject text not storable: %q %q", rej.Domain, rej.Reason)
			}
			back, err := RecordFromRaw(rej.Raw, nil)
			if err != nil || back.Fields() != rec.Fields() {
				t.Errorf("reject Raw does not give the record back: %v", err)
			}
			return
		}
		if row.CallbackTime.IsZero() && rec.CallbackTime == "" {
			t.Error("row without a callback time")
		}
		assertStorable(t, row)
		assertRecoverable(t, rec, row)
	})
}
