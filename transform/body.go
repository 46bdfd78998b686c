package transform

import (
	"encoding/json"
	"strings"
)

// Limits beyond which PostgreSQL's jsonb may refuse a JSON value that is otherwise valid. They
// are far from anything a call-back body holds; a body past them keeps its text column only.
const (
	// maxJSONDepth bounds nesting of arrays and objects (PostgreSQL's parser recurses and
	// stops at its stack depth limit).
	maxJSONDepth = 1000
	// maxNumberDigits and maxNumberExponent bound a JSON number so that it fits numeric:
	// at most this many mantissa digits and an exponent of at most this magnitude.
	maxNumberDigits   = 1000
	maxNumberExponent = 1000
)

// bodyJSON returns the JSON column for a body text that is already free of NUL characters and
// invalid UTF-8: the trimmed text when it is one valid JSON value of any kind (object, array,
// string, number, true, false, null), else nil. Escapes jsonb refuses (\u0000 and unpaired
// surrogates) are replaced by \ufffd, which keeps the length, and reported as sanitized. A
// value jsonb cannot hold for other reasons (see the limits above) gives nil.
func bodyJSON(text string) (js []byte, sanitized bool) {
	text = strings.TrimSpace(text)
	if text == "" || !mayStartJSON(text[0]) {
		return nil, false
	}
	b := []byte(text)
	if !json.Valid(b) {
		return nil, false
	}
	sanitized, ok := fixJSONForJSONB(b)
	if !ok {
		return nil, false
	}
	return b, sanitized
}

func mayStartJSON(c byte) bool {
	switch c {
	case '{', '[', '"', '-', 't', 'f', 'n':
		return true
	}
	return c >= '0' && c <= '9'
}

// fixJSONForJSONB scans valid JSON text b and, in place, replaces every \u escape jsonb
// refuses (\u0000, and a surrogate escape that is not a high surrogate directly followed by
// a low one) with \ufffd. It reports whether it changed b, and ok = false when b nests deeper
// than maxJSONDepth or holds a number outside the limits.
func fixJSONForJSONB(b []byte) (changed, ok bool) {
	depth := 0
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] != '\\' {
					i++
					continue
				}
				if b[i+1] != 'u' {
					i += 2
					continue
				}
				// b is valid JSON: four hex digits follow.
				r := hex4(b[i+2 : i+6])
				switch {
				case r == 0, isLowSurrogate(r):
					copy(b[i:i+6], `\ufffd`)
					changed = true
				case isHighSurrogate(r):
					if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' && isLowSurrogate(hex4(b[i+8:i+12])) {
						i += 12
						continue
					}
					copy(b[i:i+6], `\ufffd`)
					changed = true
				}
				i += 6
			}
			i++ // closing quote
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return changed, false
			}
			i++
		case c == '}' || c == ']':
			depth--
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			n, good := scanNumber(b[i:])
			if !good {
				return changed, false
			}
			i += n
		default:
			i++
		}
	}
	return changed, true
}

// scanNumber measures the valid JSON number at the start of b and checks it against the
// limits. It returns the number's length.
func scanNumber(b []byte) (n int, ok bool) {
	digits := 0
	i := 0
	if b[i] == '-' {
		i++
	}
	for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '.') {
		if b[i] != '.' {
			digits++
		}
		i++
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if exp <= maxNumberExponent {
				exp = exp*10 + int(b[i]-'0')
			}
			i++
		}
	}
	return i, digits <= maxNumberDigits && exp <= maxNumberExponent
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

func isHighSurrogate(r rune) bool { return r >= 0xD800 && r < 0xDC00 }
func isLowSurrogate(r rune) bool  { return r >= 0xDC00 && r < 0xE000 }
