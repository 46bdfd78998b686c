package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// The stored form (callback_store). Every value of a record is stored once: the text fields in
// their columns, CallbackTime and CallbackResponseTime as timestamptz plus the number of the
// layout that prints them back (Flags), CallbackResponseCode as an integer. What the columns
// cannot give back byte for byte (text PostgreSQL cannot hold, a time or code written in an
// unusual way, bytes that decoding changed) goes to Originals, a small JSON object that is
// NULL for ordinary records. RecordFromRow rebuilds the record from these; the view
// callback_records computes the analysts' columns (raw, *_json, sanitized) from the same
// columns in SQL; latency_ms is stored (migration 00053), as Normalize derives it.

// Flag bits of Row.Flags (the flags column).
const (
	// FlagCallbackTimeLayout (bits 0-1) is the TimeLayouts index that prints callback_time
	// back as CallbackTime.
	FlagCallbackTimeLayout = 0x3
	// FlagResponseTimeLayout (bits 2-3) is the TimeLayouts index that prints response_time
	// back as CallbackResponseTime (shifted by 2).
	FlagResponseTimeLayout = 0xC
	// FlagRequestBodyJSON: request_body_json is request_body::jsonb.
	FlagRequestBodyJSON = 0x10
	// FlagResponseBodyJSON: response_body_json is response_body::jsonb.
	FlagResponseBodyJSON = 0x20
	// FlagSanitized: some text had to be changed to be stored (Row.Sanitized).
	FlagSanitized = 0x40
)

// timeLayout is one way of printing a time: a Go layout in a fixed zone. SQL's
// cbarchive_time_text(t, layout) prints the same (migrations/00050).
type timeLayout struct {
	layout string
	zone   *time.Location
}

// cst is +08:00, the zone the API writes its times in.
var cst = time.FixedZone("+08:00", 8*3600)

// TimeLayouts are the printings of a time that the flags column can name, by index. A time
// text that none of them gives back is kept in Originals.
var timeLayouts = [4]timeLayout{
	{"2006-01-02T15:04:05Z07:00", cst},     // 0: 2025-03-18T23:30:52+08:00 (the API's CallbackTime)
	{"2006-01-02T15:04:05.000Z07:00", cst}, // 1: 2025-03-18T23:30:52.042+08:00 (its CallbackResponseTime)
	{"2006-01-02T15:04:05Z07:00", time.UTC},
	{"2006-01-02T15:04:05.000Z07:00", time.UTC},
}

// formatTime prints t with layout i of timeLayouts.
func formatTime(t time.Time, i int) string {
	l := timeLayouts[i]
	return t.In(l.zone).Format(l.layout)
}

// layoutOf returns the index of the layout that prints t back as text, or -1. Years outside
// 1..9999 are never matched (SQL prints them differently).
func layoutOf(t time.Time, text string) int {
	if y := t.Year(); y < 1 || y > 9999 {
		return -1
	}
	for i := range timeLayouts {
		if formatTime(t, i) == text {
			return i
		}
	}
	return -1
}

// Keys of Originals besides the API field names.
const (
	// originalsReceived holds a sanitized record as received (base64): the fields alone are not
	// the original when decoding changed text (invalid UTF-8, an unpaired surrogate escape), and
	// the bytes are what the previous layout's raw_original kept.
	originalsReceived = "$received"
	// originalsRequestJSON and originalsResponseJSON hold a body's JSON column when it is not
	// simply the body's text cast to jsonb (an escape jsonb refuses was replaced, or the text
	// has white space around it that jsonb does not skip).
	originalsRequestJSON  = "$request_body_json"
	originalsResponseJSON = "$response_body_json"
)

// originalsBuilder collects the entries of the originals column.
type originalsBuilder struct{ b []byte }

func (o *originalsBuilder) key(k string) {
	if o.b == nil {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = callback.AppendJSONString(o.b, k)
	o.b = append(o.b, ':')
}

// text adds k as a JSON string when s is storable in jsonb, else as {"base64": …}.
func (o *originalsBuilder) text(k, s string) {
	o.key(k)
	if isStorableText(s) {
		o.b = callback.AppendJSONString(o.b, s)
		return
	}
	o.b = append(o.b, `{"base64":"`...)
	o.b = base64.StdEncoding.AppendEncode(o.b, []byte(s))
	o.b = append(o.b, `"}`...)
}

func (o *originalsBuilder) bytes() []byte {
	if o.b == nil {
		return nil
	}
	return append(o.b, '}')
}

// storedForm fills row's Flags and Originals for rec, whose other columns row already holds
// (Sanitized included). A sanitized record decoded from an answer keeps its bytes as received
// ("$received", which also gives back its fields); any other record keeps the original text of
// each text field the columns changed.
func storedForm(rec *callback.Record, row *Row) {
	var o originalsBuilder
	var flags int16
	received := row.Sanitized && rawDecodesToFields(rec)
	if received {
		o.key(originalsReceived)
		o.b = append(o.b, `{"base64":"`...)
		o.b = base64.StdEncoding.AppendEncode(o.b, rec.Raw)
		o.b = append(o.b, `"}`...)
	}
	// Text columns: the original when it is storable as it is.
	for _, f := range [...]struct {
		name       string
		orig, kept string
	}{
		{"Domain", rec.Domain, row.Domain}, {"App", rec.App, row.App}, {"Stream", rec.Stream, row.Stream},
		{"CallbackEventType", rec.CallbackEventType, row.EventType}, {"CallbackMethod", rec.CallbackMethod, row.Method},
		{"CallbackAddress", rec.CallbackAddress, row.Address}, {"CallbackStatus", rec.CallbackStatus, row.Status},
		{"CallbackBody", rec.CallbackBody, row.RequestBody},
		{"CallbackResponseHeader", rec.CallbackResponseHeader, row.ResponseHeader},
		{"CallbackResponseBody", rec.CallbackResponseBody, row.ResponseBody},
		{"CallbackErrorCode", rec.CallbackErrorCode, row.ErrorCode},
		{"CallbackErrorMessage", rec.CallbackErrorMessage, row.ErrorMessage},
	} {
		if f.orig != f.kept && !received {
			o.text(f.name, f.orig)
		}
	}
	// Times: a layout that prints the column back, else the text.
	if i := layoutOf(row.CallbackTime, rec.CallbackTime); i >= 0 {
		flags |= int16(i)
	} else {
		o.text("CallbackTime", rec.CallbackTime)
	}
	switch {
	case row.ResponseTime == nil && rec.CallbackResponseTime == "":
	case row.ResponseTime != nil && layoutOf(*row.ResponseTime, rec.CallbackResponseTime) >= 0:
		flags |= int16(layoutOf(*row.ResponseTime, rec.CallbackResponseTime) << 2)
	default:
		o.text("CallbackResponseTime", rec.CallbackResponseTime)
	}
	if codeText(row.ResponseCode) != rec.CallbackResponseCode {
		o.text("CallbackResponseCode", rec.CallbackResponseCode)
	}
	// Bodies' JSON columns: a flag when jsonb reads the text as it is.
	if row.RequestBodyJSON != nil {
		if castsToJSON(row.RequestBody, row.RequestBodyJSON) {
			flags |= FlagRequestBodyJSON
		} else {
			o.text(originalsRequestJSON, string(row.RequestBodyJSON))
		}
	}
	if row.ResponseBodyJSON != nil {
		if castsToJSON(row.ResponseBody, row.ResponseBodyJSON) {
			flags |= FlagResponseBodyJSON
		} else {
			o.text(originalsResponseJSON, string(row.ResponseBodyJSON))
		}
	}
	if row.Sanitized {
		flags |= FlagSanitized
	}
	row.Flags = flags
	row.Originals = o.bytes()
}

// castsToJSON reports whether text::jsonb gives the JSON column js: js is text with only JSON
// white space (which jsonb skips) around it.
func castsToJSON(text string, js []byte) bool {
	i := bytes.Index([]byte(text), js)
	if i < 0 {
		return false
	}
	return isJSONSpace(text[:i]) && isJSONSpace(text[i+len(js):])
}

func isJSONSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return false
		}
	}
	return true
}

// codeText prints response_code back as CallbackResponseCode: its decimal digits, "" for NULL.
func codeText(code *int32) string {
	if code == nil {
		return ""
	}
	return strconv.FormatInt(int64(*code), 10)
}

// IdentityKey is the identity_hash column: the first 8 bytes of IdentityHash as a signed
// big-endian integer. Two identities sharing it within one domain and callback_time would only
// be numbered together (ordinals 0..n-1 over both); every record still keeps its own row.
func (r *Row) IdentityKey() int64 {
	if len(r.IdentityHash) < 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(r.IdentityHash[:8]))
}

// RecordFromRow rebuilds the record a stored row came from, byte for byte: from the text
// columns, callback_time and response_time printed with the layouts of Flags, response_code,
// and Originals, which overrides any of them (and, with "$received", gives the bytes as
// received, which the record then carries as Raw). Only the stored columns are read: Domain,
// App, Stream, EventType, CallbackTime, Method, Address, Status, RequestBody, ResponseCode,
// ResponseHeader, ResponseBody, ResponseTime, ErrorCode, ErrorMessage, Flags, Originals.
func RecordFromRow(row *Row) (callback.Record, error) {
	rec := callback.Record{
		Domain: row.Domain, App: row.App, Stream: row.Stream, CallbackEventType: row.EventType,
		CallbackTime:   formatTime(row.CallbackTime, int(row.Flags&FlagCallbackTimeLayout)),
		CallbackMethod: row.Method, CallbackAddress: row.Address, CallbackStatus: row.Status,
		CallbackBody: row.RequestBody, CallbackResponseCode: codeText(row.ResponseCode),
		CallbackResponseHeader: row.ResponseHeader, CallbackResponseBody: row.ResponseBody,
		CallbackErrorCode: row.ErrorCode, CallbackErrorMessage: row.ErrorMessage,
	}
	if row.ResponseTime != nil {
		rec.CallbackResponseTime = formatTime(*row.ResponseTime, int(row.Flags&FlagResponseTimeLayout)>>2)
	}
	if row.Originals == nil {
		return rec, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(row.Originals, &m); err != nil {
		return callback.Record{}, fmt.Errorf("read originals %.200q: %w", row.Originals, err)
	}
	if v, ok := m[originalsReceived]; ok {
		b, err := decodeOriginal(v)
		if err != nil {
			return callback.Record{}, fmt.Errorf("read originals %s: %w", originalsReceived, err)
		}
		var got callback.Record
		if err := json.Unmarshal([]byte(b), &got); err != nil {
			return callback.Record{}, fmt.Errorf("decode the record as received: %w", err)
		}
		return got, nil
	}
	ptrs := rec.FieldPtrs()
	for i, name := range callback.FieldNames {
		v, ok := m[name]
		if !ok {
			continue
		}
		s, err := decodeOriginal(v)
		if err != nil {
			return callback.Record{}, fmt.Errorf("read originals field %s: %w", name, err)
		}
		*ptrs[i] = s
	}
	return rec, nil
}

// StoredLatencyMS returns the latency_ms a stored row's record gives under Normalize's rule,
// from the times as received (RecordFromRow: a time kept in Originals may be finer than the
// microseconds of timestamptz). Only CallbackTime, ResponseTime, Flags and Originals of stored
// are read. A row whose times are not its record's (written by hand, not by Normalize: a
// layout in Flags that does not print the column back) gets the same rule over its columns.
// Migration 00053 fills the column of rows archived before it with it.
func StoredLatencyMS(stored *Row) (*int64, error) {
	rec, err := RecordFromRow(stored)
	if err != nil {
		return nil, err
	}
	callbackTime, ok := parseTime(rec.CallbackTime)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrCallbackTime, quoteValue(rec.CallbackTime))
	}
	text, _ := sanitizeString(rec.CallbackResponseTime)
	responseTime, ms := responseTime(callbackTime, text)
	stored1 := func(t time.Time, col *time.Time) bool { return col != nil && t.Truncate(time.Microsecond).Equal(*col) }
	if stored1(callbackTime, &stored.CallbackTime) && (responseTime == nil) == (stored.ResponseTime == nil) &&
		(responseTime == nil || stored1(*responseTime, stored.ResponseTime)) {
		return ms, nil
	}
	if stored.ResponseTime == nil {
		return nil, nil
	}
	v := latencyMS(stored.CallbackTime, *stored.ResponseTime)
	return &v, nil
}

// decodeOriginal reads an originals entry: a JSON string, or {"base64": "…"}.
func decodeOriginal(v json.RawMessage) (string, error) {
	if len(v) > 0 && v[0] == '"' {
		var s string
		err := json.Unmarshal(v, &s)
		return s, err
	}
	var enc struct {
		Base64 *string `json:"base64"`
	}
	if err := json.Unmarshal(v, &enc); err != nil {
		return "", err
	}
	if enc.Base64 == nil {
		return "", fmt.Errorf("neither a string nor a base64 object: %.100s", v)
	}
	b, err := base64.StdEncoding.DecodeString(*enc.Base64)
	return string(b), err
}
