package transform

import "time"

// RulesVersion is the version of the normalization rules in this package. Every row records
// the version that produced it; bump it whenever a rule changes what a column holds, so that
// `cbarchive renormalize` can find and re-derive older rows.
const RulesVersion = 1

// Row is one callback_records row, derived from one API record. Nil pointers and nil byte
// slices are SQL NULLs. JSON columns hold JSON text.
type Row struct {
	Domain       string
	App          string
	Stream       string
	EventType    string
	CallbackTime time.Time // UTC
	Method       string
	Address      string
	Status       string

	RequestBody     string
	RequestBodyJSON []byte // nil when the body is not a JSON value

	ResponseCode       *int32
	ResponseStatusLine *string
	ResponseHeaders    []byte // JSON object, never nil ("{}" when empty)
	ResponseBody       string
	ResponseBodyJSON   []byte
	ResponseTime       *time.Time
	LatencyMS          *int64

	ErrorCode    string
	ErrorMessage string

	// Raw is the record's 15 fields as a JSON object (jsonb), with text PostgreSQL cannot
	// hold replaced like in the other columns.
	Raw []byte
	// RawOriginal holds the exact bytes of the record as received when Sanitized is true,
	// so the original is always recoverable; nil otherwise. A record that was not decoded from
	// an answer (Record.Raw nil, or not matching the fields) is kept in this package's
	// "fields/1" encoding instead. RecordFromRow(Raw, RawOriginal) reads either.
	RawOriginal []byte
	// Sanitized is true when any text had to be changed to be stored (NUL, invalid UTF-8).
	Sanitized bool

	// IdentityHash identifies the record by the contract's identity fields (domain, app,
	// stream, event_type, callback_time, method, address, request_body). Records equal in
	// all of these share it; the loader numbers them with an ordinal.
	IdentityHash []byte
	// ContentHash covers all 15 fields as received: equal hashes mean nothing changed.
	ContentHash []byte

	RulesVersion int16
}

// Reject is a record that cannot become a Row (for example an unparseable CallbackTime).
type Reject struct {
	Domain string
	// Raw is the record as received (exact bytes).
	Raw []byte
	// Reason says what was wrong, with the offending value.
	Reason string
	// Hash identifies the reject for de-duplication across runs (sha256 of Raw).
	Hash []byte
}
