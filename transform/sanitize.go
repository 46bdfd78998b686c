package transform

import (
	"strings"
	"unicode/utf8"
)

// replacement is U+FFFD, what NUL characters and invalid UTF-8 become.
const replacement = "\uFFFD"

// sanitizeString returns s with every NUL character and every byte of an invalid UTF-8
// sequence replaced by U+FFFD (one per byte, as encoding/json does), and whether anything
// changed. Clean text, the common case, is returned as is without allocating.
func sanitizeString(s string) (string, bool) {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c := s[i]
		if c != 0 && c < utf8.RuneSelf {
			b.WriteByte(c)
			i++
			continue
		}
		if c == 0 {
			b.WriteString(replacement)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(replacement)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String(), true
}

// isStorableText reports whether PostgreSQL can hold s in a text column of a UTF8 database:
// valid UTF-8 without NUL characters.
func isStorableText(s string) bool {
	return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}

// SanitizeText makes s storable in a text column by the one rule of this package: every NUL
// character and every byte of an invalid UTF-8 sequence becomes U+FFFD. The loader applies it
// to what it stores outside a Row (a reject's raw_text, reason and domain).
func SanitizeText(s string) string {
	out, _ := sanitizeString(s)
	return out
}
