package transform

import (
	"encoding/json"
	"maps"
	"testing"
)

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		wantStatus  string // "" means nil
		wantHeaders map[string]string
	}{
		{"empty", "", "", map[string]string{}},
		{"blank lines only", "\r\n\n  \r\n", "", map[string]string{}},
		{"crlf block", "Content-Type: application/json; charset=utf-8\r\nContent-Length: 29", "",
			map[string]string{"content-type": "application/json; charset=utf-8", "content-length": "29"}},
		{"lf block", "Content-Type: text/plain\nX-Id: 7\n", "",
			map[string]string{"content-type": "text/plain", "x-id": "7"}},
		{"mixed separators and trailing crlf", "A: 1\r\nB: 2\nC: 3\r\n", "",
			map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"status line only", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK", map[string]string{}},
		{"status line only with crlf", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK", map[string]string{}},
		{"http/2 status without reason", "HTTP/2 204", "HTTP/2 204", map[string]string{}},
		{"status line then headers", "HTTP/1.1 404 Not Found\r\nServer: nginx\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 404 Not Found",
			map[string]string{"server": "nginx", "content-length": "0"}},
		{"status line after leading blank line", "\r\nHTTP/1.0 500 Internal Server Error", "HTTP/1.0 500 Internal Server Error", map[string]string{}},
		{"status line with colon in reason", "HTTP/1.1 500 Error: upstream\r\nA: b", "HTTP/1.1 500 Error: upstream",
			map[string]string{"a": "b"}},
		{"status line not first goes to _unparsed", "A: 1\r\nHTTP/1.1 200 OK", "",
			map[string]string{"a": "1", "_unparsed": "HTTP/1.1 200 OK"}},
		{"second status line goes to _unparsed", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: 1", "HTTP/1.1 100 Continue",
			map[string]string{"a": "1", "_unparsed": "HTTP/1.1 200 OK"}},
		{"HTTP without version digit is not a status line", "HTTP/x 200", "",
			map[string]string{"_unparsed": "HTTP/x 200"}},
		{"names lower-cased, values and names trimmed", "  X-Request-ID :   abc def  \r\n", "",
			map[string]string{"x-request-id": "abc def"}},
		{"split at first colon", "Location: http://example.com:8080/x", "",
			map[string]string{"location": "http://example.com:8080/x"}},
		{"empty value", "X-Empty:", "", map[string]string{"x-empty": ""}},
		{"repeated names joined in order", "Set-Cookie: a=1\r\nX: y\r\nset-cookie: b=2\r\nSET-COOKIE: c=3", "",
			map[string]string{"set-cookie": "a=1, b=2, c=3", "x": "y"}},
		{"lines without colon kept under _unparsed", "garbage line\r\nA: 1\r\n  more garbage  ", "",
			map[string]string{"a": "1", "_unparsed": "garbage line\nmore garbage"}},
		{"empty name goes to _unparsed", ": value\r\n  : other", "",
			map[string]string{"_unparsed": ": value\n: other"}},
		{"NUL and invalid UTF-8 replaced", "X-\x00: a\xffb", "",
			map[string]string{"x-\uFFFD": "a\uFFFDb"}},
		{"unicode name lower-cased", "X-ÄÖ: 1", "", map[string]string{"x-äö": "1"}},
		{"a real _unparsed header shares the key", "_Unparsed: a\r\nno colon", "",
			map[string]string{"_unparsed": "a\nno colon"}},
		{"lone CR is not a separator", "A: 1\rB: 2", "", map[string]string{"a": "1\rB: 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, headers := ParseHeaders(tt.in)
			switch {
			case tt.wantStatus == "" && status != nil:
				t.Errorf("status line = %q, want nil", *status)
			case tt.wantStatus != "" && status == nil:
				t.Errorf("status line = nil, want %q", tt.wantStatus)
			case status != nil && *status != tt.wantStatus:
				t.Errorf("status line = %q, want %q", *status, tt.wantStatus)
			}
			if !maps.Equal(headers, tt.wantHeaders) {
				t.Errorf("headers = %q, want %q", headers, tt.wantHeaders)
			}
		})
	}
}

func TestHeadersJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"nil", nil, `{}`},
		{"empty", map[string]string{}, `{}`},
		{"sorted keys", map[string]string{"b": "2", "a": "1", "_unparsed": "x\ny", "content-type": "text/html; charset=<utf-8>"},
			`{"_unparsed":"x\ny","a":"1","b":"2","content-type":"text/html; charset=<utf-8>"}`},
		{"escapes", map[string]string{"q": "\"\\\t\x01"}, `{"q":"\"\\\t\u0001"}`},
		{"NUL sanitized", map[string]string{"k": "a\x00"}, `{"k":"a` + "\uFFFD" + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := HeadersJSON(tt.in)
			if string(got) != tt.want {
				t.Errorf("HeadersJSON = %s, want %s", got, tt.want)
			}
			var back map[string]string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("HeadersJSON output is not JSON: %v", err)
			}
		})
	}
}

func TestHeadersJSONDeterministic(t *testing.T) {
	t.Parallel()
	m := map[string]string{}
	for i := range 50 {
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	first := string(HeadersJSON(m))
	for range 20 {
		if got := string(HeadersJSON(maps.Clone(m))); got != first {
			t.Fatalf("HeadersJSON not deterministic:\n%s\n%s", got, first)
		}
	}
}
