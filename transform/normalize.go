package transform

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// ErrCallbackTime means a record's CallbackTime is empty or not an RFC3339 time: the record
// has no place in the time-partitioned archive and goes to callback_rejects (see NewReject).
var ErrCallbackTime = errors.New("CallbackTime is empty or not an RFC3339 time")

// maxReasonValue bounds how much of an offending value a reject reason quotes.
const maxReasonValue = 200

// Normalize turns one API record into a row, following the rules in the package
// documentation. It fails only when the record cannot be stored at all (today: CallbackTime
// empty or unparseable, ErrCallbackTime); the caller then stores NewReject(rec, err).
// It never fails or truncates because of text PostgreSQL cannot hold: such text is replaced
// and the original kept in RawOriginal.
func Normalize(rec callback.Record) (Row, error) {
	callbackTime, ok := parseTime(rec.CallbackTime)
	if !ok {
		return Row{}, fmt.Errorf("%w: %s", ErrCallbackTime, quoteValue(rec.CallbackTime))
	}

	var f [15]string
	sanitized := receivedTextLost(rec.Raw)
	for i, s := range rec.Fields() {
		var changed bool
		f[i], changed = sanitizeString(s)
		sanitized = sanitized || changed
	}
	const (
		iDomain = iota
		iApp
		iStream
		iCallbackTime
		iEventType
		iMethod
		iAddress
		iStatus
		iBody
		iResponseCode
		iResponseHeader
		iResponseBody
		iResponseTime
		iErrorCode
		iErrorMessage
	)

	row := Row{
		Domain:       f[iDomain],
		App:          f[iApp],
		Stream:       f[iStream],
		EventType:    f[iEventType],
		CallbackTime: callbackTime,
		Method:       f[iMethod],
		Address:      f[iAddress],
		Status:       f[iStatus],
		RequestBody:  f[iBody],
		ResponseBody: f[iResponseBody],
		ErrorCode:    f[iErrorCode],
		ErrorMessage: f[iErrorMessage],
		RulesVersion: RulesVersion,
	}

	var changed bool
	row.RequestBodyJSON, changed = bodyJSON(f[iBody])
	sanitized = sanitized || changed
	row.ResponseBodyJSON, changed = bodyJSON(f[iResponseBody])
	sanitized = sanitized || changed

	if code, err := strconv.ParseInt(strings.TrimSpace(f[iResponseCode]), 10, 32); err == nil {
		c := int32(code)
		row.ResponseCode = &c
	}

	var headers map[string]string
	row.ResponseHeader = f[iResponseHeader]
	row.ResponseStatusLine, headers = ParseHeaders(f[iResponseHeader])
	row.ResponseHeaders = HeadersJSON(headers)

	row.ResponseTime, row.LatencyMS = responseTime(callbackTime, f[iResponseTime])

	row.Raw = encodeRaw(&f)
	row.Sanitized = sanitized
	if sanitized {
		row.RawOriginal = originalBytes(&rec)
	}
	row.IdentityHash = IdentityHash(&rec)
	row.ContentHash = ContentHash(&rec)
	storedForm(&rec, &row)
	return row, nil
}

// responseTime parses a record's (sanitized) CallbackResponseTime and gives the response_time
// and latency_ms columns: both nil when the text is empty or not a time. It is the one rule for
// latency_ms: Normalize and StoredLatencyMS use it.
func responseTime(callbackTime time.Time, text string) (*time.Time, *int64) {
	t, ok := parseTime(text)
	if !ok {
		return nil, nil
	}
	ms := latencyMS(callbackTime, t)
	return &t, &ms
}

// encodeRaw writes the raw column: a JSON object of the 15 (sanitized) fields as strings, in
// the order of callback.FieldNames.
func encodeRaw(f *[15]string) []byte {
	return callback.AppendFieldsJSON(nil, f)
}

// NewReject builds the callback_rejects entry for a record Normalize refused with err.
// Raw is the record as received (rec.Raw) or, for a record not decoded from an answer (or
// changed since), the fields/1 encoding; either way RecordFromRow(Raw, nil) gives the record
// back. Hash is sha256(Raw); Reason is err's text and
// Domain the record's domain, both made storable as text.
func NewReject(rec callback.Record, err error) Reject {
	raw := originalBytes(&rec)
	sum := sha256.Sum256(raw)
	reason := "rejected"
	if err != nil {
		reason, _ = sanitizeString(err.Error())
	}
	domain, _ := sanitizeString(rec.Domain)
	return Reject{Domain: domain, Raw: raw, Reason: reason, Hash: sum[:]}
}

// quoteValue quotes s for an error message, cut to maxReasonValue bytes.
func quoteValue(s string) string {
	if len(s) > maxReasonValue {
		return strconv.Quote(s[:maxReasonValue]) + "…"
	}
	return strconv.Quote(s)
}
