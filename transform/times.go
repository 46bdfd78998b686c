package transform

import (
	"strings"
	"time"
)

// parseTime parses an API time: RFC3339 with any offset ("Z", "+08:00", "-05:00"), with or
// without fractional seconds, with 'T', 't' or a space between date and time, a 'Z' or 'z'
// zone, and spaces around it. It returns the instant in UTC.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02T15:04:05Z") || len(s) > 64 {
		return time.Time{}, false
	}
	if sep, last := s[10], s[len(s)-1]; sep != 'T' || last == 'z' {
		if sep != 'T' && sep != 't' && sep != ' ' {
			return time.Time{}, false
		}
		// Normalize the separator and zone letter in a stack buffer.
		var buf [64]byte
		b := buf[:copy(buf[:], s)]
		b[10] = 'T'
		if last == 'z' {
			b[len(b)-1] = 'Z'
		}
		s = string(b)
	}
	// In UTC rather than Local: no time zone database is consulted.
	t, err := time.ParseInLocation(time.RFC3339, s, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// latencyMS returns to − from in whole milliseconds, rounded toward zero. It is exact over
// the whole range of parseable times (years 0000 to 9999), where time.Time.Sub would saturate.
func latencyMS(from, to time.Time) int64 {
	sec := to.Unix() - from.Unix()
	nsec := int64(to.Nanosecond() - from.Nanosecond()) // in (-1e9, 1e9)
	// Give both parts the same sign so that truncating division rounds the sum toward zero.
	switch {
	case sec > 0 && nsec < 0:
		sec--
		nsec += 1e9
	case sec < 0 && nsec > 0:
		sec++
		nsec -= 1e9
	}
	return sec*1000 + nsec/1e6
}

// CallbackTime parses a record's CallbackTime as the archive does (see parseTime); extract
// uses it to keep the records of a window, so that the reader and the loader agree on every
// record's second.
func CallbackTime(s string) (time.Time, bool) { return parseTime(s) }
