package transform

import "time"

// RulesVersion is the version of the normalization rules in this package. Every row records
// the version that produced it; bump it whenever a rule changes what a column holds, so that
// `cbarchive renormalize` can find and re-derive older rows.
const RulesVersion = 1

// Row is one callback_records row, derived from one API record: the stored columns of
// callback_store and the analysts' columns the view callback_records derives from them. Nil pointers and nil byte
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

	ResponseCode *int32
	// ResponseHeader is CallbackResponseHeader as text (sanitized), stored whole;
	// ResponseStatusLine and ResponseHeaders are parsed from it.
	ResponseHeader     string
	ResponseStatusLine *string
	ResponseHeaders    []byte // JSON object, never nil ("{}" when empty)
	ResponseBody       string
	ResponseBodyJSON   []byte
	ResponseTime       *time.Time
	LatencyMS          *int64

	ErrorCode    string
	ErrorMessage string

	// Raw and RawOriginal are the previous layout's raw and raw_original columns (before
	// migration 00050): the 15 fields as a JSON object with text sanitized, and the record as
	// received (or in the fields/1 encoding) when Sanitized. They are not stored any more; the
	// view callback_records computes raw, and migration 00050's down direction writes both.
	// RecordFromRaw(Raw, RawOriginal) reads them.
	Raw         []byte
	RawOriginal []byte
	// Sanitized is true when any text had to be changed to be stored (NUL, invalid UTF-8).
	Sanitized bool

	// Flags and Originals complete the stored form (see stored.go): Flags names the layouts
	// that print callback_time and response_time back, whether a body's JSON column is its
	// text cast to jsonb, and Sanitized; Originals (JSON, nil for ordinary records) holds what
	// the columns cannot give back byte for byte. RecordFromRow rebuilds the record from them.
	Flags     int16
	Originals []byte

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
