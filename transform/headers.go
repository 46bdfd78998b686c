package transform

import (
	"slices"
	"strings"

	"github.com/cbarchive/cbarchive/callback"
)

// UnparsedHeaderKey is the response_headers key under which ParseHeaders keeps header lines
// it could not read as "name: value" (no colon, or an empty name), joined with "\n".
const UnparsedHeaderKey = "_unparsed"

// ParseHeaders reads CallbackResponseHeader leniently.
//
// Lines are separated by "\r\n" or "\n"; blank lines are ignored. The first non-blank line is
// the status line when it starts with "HTTP/" and a digit (e.g. "HTTP/1.1 200 OK", "HTTP/2 204");
// it is returned trimmed, and nil when there is none. Only that line can be a status line.
// Every other line is "name: value", split at the first colon: names are trimmed and
// lower-cased, values trimmed, and a name seen again has its values joined with ", " in order
// of appearance. Lines without a colon, or with an empty name, are kept under
// UnparsedHeaderKey, trimmed and joined with "\n", rather than dropped.
//
// NUL characters and invalid UTF-8 in text become U+FFFD first, so every name and value is
// valid UTF-8 without NUL. The map is never nil.
func ParseHeaders(text string) (statusLine *string, headers map[string]string) {
	text, _ = sanitizeString(text)
	headers = make(map[string]string)
	first := true
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		line = strings.TrimSpace(line) // also drops the '\r' of "\r\n"
		if line == "" {
			continue
		}
		if first {
			first = false
			if isStatusLine(line) {
				statusLine = &line
				continue
			}
		}
		colon := strings.IndexByte(line, ':')
		var name string
		if colon >= 0 {
			name = strings.ToLower(strings.TrimSpace(line[:colon]))
		}
		if name == "" {
			appendHeader(headers, UnparsedHeaderKey, line, "\n")
			continue
		}
		appendHeader(headers, name, strings.TrimSpace(line[colon+1:]), ", ")
	}
	return statusLine, headers
}

func appendHeader(headers map[string]string, name, value, sep string) {
	if old, ok := headers[name]; ok {
		headers[name] = old + sep + value
		return
	}
	headers[name] = value
}

// isStatusLine reports whether line (trimmed) is an HTTP status line: "HTTP/" then a digit.
func isStatusLine(line string) bool {
	const prefix = "HTTP/"
	return len(line) > len(prefix) && strings.EqualFold(line[:len(prefix)], prefix) &&
		line[len(prefix)] >= '0' && line[len(prefix)] <= '9'
}

// HeadersJSON encodes headers as a JSON object with keys sorted bytewise, so equal maps give
// equal bytes. An empty or nil map gives "{}". Names and values are expected to be valid UTF-8
// without NUL (ParseHeaders guarantees it); other text is sanitized on the way.
func HeadersJSON(headers map[string]string) []byte {
	if len(headers) == 0 {
		return []byte("{}")
	}
	keys := make([]string, 0, len(headers))
	size := 2
	for k, v := range headers {
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		sk, _ := sanitizeString(k)
		sv, _ := sanitizeString(headers[k])
		b = callback.AppendJSONString(b, sk)
		b = append(b, ':')
		b = callback.AppendJSONString(b, sv)
	}
	return append(b, '}')
}
