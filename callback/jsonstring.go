package callback

import "slices"

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal: the one quoting rule of the project, used
// to store records (package transform) and to serve them (package livesim). Quotes,
// backslashes and control characters are escaped (NUL as \u0000); everything else, including
// non-ASCII text, is copied unchanged, so valid UTF-8 round-trips exactly through any JSON
// decoder. Bytes of invalid UTF-8 are copied unchanged too: callers that need valid JSON
// sanitize s first. HTML characters are not escaped: the output is for storage, not web pages.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendFieldsJSON appends the 15 field values f (in the order of FieldNames) as a JSON object
// keyed by FieldNames, each value quoted by AppendJSONString.
func AppendFieldsJSON(dst []byte, f *[15]string) []byte {
	size := 2
	for i, s := range f {
		size += len(FieldNames[i]) + len(s) + 6
	}
	// Slack for escapes (quotes in JSON bodies, CR LF in headers), so that a large body is
	// copied once, not again when the buffer grows.
	dst = slices.Grow(dst, size+size/16+64)
	dst = append(dst, '{')
	for i, s := range f {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, FieldNames[i])
		dst = append(dst, ':')
		dst = AppendJSONString(dst, s)
	}
	return append(dst, '}')
}
