package callback

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// parseFlat decodes a JSON object whose values are all strings or null straight into r, the
// way encoding/json would decode it into Record's fields (keys matched exactly, else without
// regard to case; the last of repeated keys wins; invalid UTF-8 and unpaired surrogate escapes
// become U+FFFD, one per byte or escape), in one pass and without reflection. It reports false,
// having possibly written to r, for anything else (another value kind, bad syntax), and the
// caller then takes encoding/json's path. The differential fuzz test holds it to encoding/json.
func parseFlat(b []byte, r *Record) bool {
	p := flatParser{b: b}
	p.space()
	if !p.eat('{') {
		return false
	}
	ptrs := r.FieldPtrs()
	p.space()
	if p.eat('}') {
		return p.end()
	}
	for {
		p.space()
		key, ok := p.rawString()
		if !ok {
			return false
		}
		p.space()
		if !p.eat(':') {
			return false
		}
		p.space()
		var val string
		isNull := false
		switch {
		case p.peek('"'):
			if val, ok = p.stringValue(); !ok {
				return false
			}
		case bytes.HasPrefix(p.b[p.i:], []byte("null")):
			p.i += 4
			isNull = true
		default:
			return false
		}
		if i := fieldIndex(key); i >= 0 && !isNull {
			// encoding/json leaves a field unchanged on null.
			*ptrs[i] = val
		} else if i < 0 && bytes.IndexByte(key, '\\') >= 0 {
			return false // an escaped key: let encoding/json match it
		}
		p.space()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return p.end()
		}
		return false
	}
}

// fieldIndex returns the index in FieldNames of key, matched exactly or else case-insensitively
// (as encoding/json matches struct fields), or -1.
func fieldIndex(key []byte) int {
	for i, name := range FieldNames {
		if string(key) == name {
			return i
		}
	}
	for i, name := range FieldNames {
		if bytes.EqualFold(key, []byte(name)) {
			return i
		}
	}
	return -1
}

type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *flatParser) peek(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *flatParser) eat(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

func (p *flatParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// rawString returns a string's bytes between its quotes, unprocessed.
func (p *flatParser) rawString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\':
			p.i += 2
		case c < 0x20:
			return nil, false
		default:
			p.i++
		}
	}
	return nil, false
}

// stringValue decodes a JSON string as encoding/json does.
func (p *flatParser) stringValue() (string, bool) {
	raw, ok := p.rawString()
	if !ok {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			if i+1 >= len(raw) {
				return "", false
			}
			switch raw[i+1] {
			case '"', '\\', '/', '\'':
				if raw[i+1] == '\'' {
					return "", false
				}
				out = append(out, raw[i+1])
				i += 2
			case 'b':
				out, i = append(out, '\b'), i+2
			case 'f':
				out, i = append(out, '\f'), i+2
			case 'n':
				out, i = append(out, '\n'), i+2
			case 'r':
				out, i = append(out, '\r'), i+2
			case 't':
				out, i = append(out, '\t'), i+2
			case 'u':
				r1, ok := hex4(raw, i+2)
				if !ok {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r1) {
					if r2, ok := hex4(raw, i+2); ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
							out = utf8.AppendRune(out, dec)
							i += 6
							continue
						}
					}
					r1 = utf8.RuneError
				}
				out = utf8.AppendRune(out, r1)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
		}
	}
	return string(out), true
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}
