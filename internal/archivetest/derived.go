package archivetest

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cbarchive/cbarchive/callback"
)

// derived is what callback_records should hold in its derived columns for one record,
// worked out here from transform/RULES.md for the plain records livesim generates, with the
// standard library only: never by package transform, whose output is what is checked.
type derived struct {
	callbackTime time.Time
	responseTime *time.Time
	latencyMS    *int64
	responseCode *int32
	statusLine   *string
	headers      string // a JSON object
	requestJSON  *string
	responseJSON *string
}

// derive returns the expected derived columns of r, and false for a record outside the
// plain shapes this oracle knows (text PostgreSQL cannot hold, times without an offset,
// headers it would have to guess about): those are checked by raw only.
func derive(r callback.Record) (derived, bool) {
	for _, f := range r.Fields() {
		if !utf8.ValidString(f) || strings.ContainsRune(f, 0) || strings.Contains(f, `\u0000`) || strings.Contains(f, `\ud`) || strings.Contains(f, `\uD`) {
			return derived{}, false
		}
	}
	var d derived
	ct, err := time.Parse(time.RFC3339Nano, r.CallbackTime)
	if err != nil {
		return derived{}, false
	}
	d.callbackTime = ct.UTC()
	if r.CallbackResponseTime != "" {
		rt, err := time.Parse(time.RFC3339Nano, r.CallbackResponseTime)
		if err != nil {
			return derived{}, false
		}
		rt = rt.UTC()
		d.responseTime = &rt
		ms := rt.Sub(ct).Milliseconds() // truncated toward zero
		d.latencyMS = &ms
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(r.CallbackResponseCode), 10, 32); err == nil {
		c := int32(n)
		d.responseCode = &c
	}
	headers := map[string]string{}
	for i, line := range strings.Split(r.CallbackResponseHeader, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if i == 0 && strings.HasPrefix(line, "HTTP/1.1 ") {
			l := line
			d.statusLine = &l
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return derived{}, false
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if _, seen := headers[name]; seen {
			return derived{}, false
		}
		headers[name] = strings.TrimSpace(value)
	}
	hb, _ := json.Marshal(headers)
	d.headers = string(hb)
	d.requestJSON = jsonOrNil(r.CallbackBody)
	d.responseJSON = jsonOrNil(r.CallbackResponseBody)
	return d, true
}

func jsonOrNil(s string) *string {
	s = strings.TrimSpace(s)
	if s == "" || !json.Valid([]byte(s)) {
		return nil
	}
	return &s
}
