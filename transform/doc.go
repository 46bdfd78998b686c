// Package transform turns Volcengine Live call-back records (callback.Record) into
// callback_records rows (Row), or into callback_rejects entries (Reject) when a record cannot
// be stored at all.
//
// It is pure: no I/O, no clock, no logger, no package-level mutable state. The same record
// always gives the same row, byte for byte, so re-reading a record writes nothing and
// `cbarchive renormalize` can re-derive rows from their stored form with RecordFromRow and
// Normalize.
//
// # Rules (RulesVersion 1)
//
// The same rules, with examples, are in RULES.md beside this file.
//
// Times. CallbackTime and CallbackResponseTime are RFC3339 with any offset ("Z",
// "+08:00", "-05:00"), with or without fractional seconds; 'T', 't' or a space may separate
// date and time, 'z' stands for 'Z', and surrounding white space is ignored. They are stored
// as UTC instants. An empty or unparseable CallbackTime is an error (ErrCallbackTime): the
// record becomes a Reject. An empty or unparseable CallbackResponseTime is NULL (its text stays
// in Originals). A time without an offset is unparseable: guessing a zone would be wrong somewhere.
//
// Latency. latency_ms = response_time − callback_time in whole milliseconds, rounded toward
// zero, when both times are present; NULL otherwise. Negative or absurd values are kept as
// they are: they describe what the API reported, and are exact over the whole range of years
// 0000–9999.
//
// Response code. response_code is CallbackResponseCode, trimmed, when it is a decimal
// integer (optional sign, leading zeros allowed) that fits in int32; NULL otherwise
// (empty, "abc", "200.0", "99999999999").
//
// Headers. CallbackResponseHeader is parsed leniently by ParseHeaders: lines separated by
// "\r\n" or "\n", blank lines ignored. The first non-blank line is response_status_line when
// it starts with "HTTP/" and a digit ("HTTP/1.1 200 OK", "HTTP/2 204"), also when it is the
// only line; no other line can be a status line. Other lines are "name: value", split at the
// first colon, names trimmed and lower-cased, values trimmed; a repeated name has its values
// joined with ", " in order of appearance. Lines without a colon or with an empty name
// (": value") are kept, trimmed and joined with "\n", under the key "_unparsed"
// (UnparsedHeaderKey) rather than dropped. response_headers is a JSON object with sorted keys
// (HeadersJSON), "{}" for empty text.
//
// Bodies. request_body and response_body always hold the text, whole. request_body_json and
// response_body_json hold the trimmed text when it is one valid JSON value of any kind:
// object, array, string, number, true, false or null. The JSON literal null is stored as the
// jsonb value null, distinct from SQL NULL, which means "not JSON" (including empty text).
// jsonb refuses some valid JSON: a \u0000 escape or an unpaired surrogate escape (\ud800)
// is replaced by \ufffd in the JSON column (the text column keeps the escape) and the row is
// marked sanitized; a value nested deeper than 1000 levels, or with a number of more than
// 1000 digits or an exponent beyond ±1000, gets a NULL JSON column.
//
// Text PostgreSQL cannot hold. A NUL character (U+0000) or a byte of invalid UTF-8 becomes
// U+FFFD (one per byte) in every text and JSON column, raw included. Such a row has
// Sanitized = true and keeps the record as received in Originals ("$received"). SanitizeText is
// the one rule, also for what the loader stores outside a Row. Sanitized is also set when the
// received bytes themselves held text that decoding already replaced (invalid UTF-8, an
// unpaired surrogate escape), so that those bytes are kept.
//
// Stored form. Each value is stored once (stored.go): text columns, the two times with the
// layout that prints them back (Flags), the response code, and Originals for whatever those do
// not give back byte for byte. RecordFromRow rebuilds the record from them; StoreColumns lists
// the columns.
//
// Raw. Row.Raw is a JSON object of the 15 API fields, as JSON strings (sanitized), in the
// order of callback.FieldNames: what the view callback_records shows as raw. Row.RawOriginal is
// the previous layout's raw_original (the record as received, or this package's "fields/1"
// encoding); RecordFromRaw reads those columns.
//
// Size. Nothing is truncated: a multi-megabyte body is kept whole in every column.
//
// Open vocabularies. Event types, statuses and methods are stored as received, known or not.
//
// Identity and content. IdentityHash is sha256 over the raw text (not parsed, not
// sanitized) of Domain, App, Stream, CallbackEventType, CallbackTime, CallbackMethod,
// CallbackAddress and CallbackBody, each prefixed by its length as 8 bytes big-endian, so
// that newer rules never change a row's key and the response side never enters it.
// ContentHash is the same over all 15 fields. The stored identity_hash is IdentityKey, the
// first 8 bytes of IdentityHash. The loader numbers rows of equal
// (domain, callback_time, identity_hash) by ContentHash; this package computes no ordinal.
//
// Version. Every row carries RulesVersion; it changes whenever a rule changes what a column
// holds.
package transform
