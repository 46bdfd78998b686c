package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/cbarchive/cbarchive/callback"
)

// fieldsFormatKey and fieldsFormatPrefix mark the record encoding this package writes when no
// received bytes exist (a record built in code rather than decoded from an API answer): a JSON
// object that starts with {"$cbarchive":"fields/1", followed by the 15 fields in the order of
// callback.FieldNames. A field that is valid UTF-8 is a JSON string (NUL as \u0000), which
// every JSON decoder returns byte for byte; a field that is not valid UTF-8 is an object
// {"base64":"…"} holding its exact bytes; a member "$received", {"base64":"…"}, holds the bytes
// the record was decoded from when those start with the prefix themselves (an answer spoofing
// it). The whole is valid JSON; the prefix tells it from bytes as received.
const fieldsFormatKey = "$cbarchive"

var fieldsFormatPrefix = []byte(`{"` + fieldsFormatKey + `":"fields/1"`)

// encodeFields writes the record's 15 fields in the fields/1 format (see fieldsFormatPrefix).
func encodeFields(rec *callback.Record) []byte {
	fields := rec.Fields()
	size := len(fieldsFormatPrefix) + 2
	for i, f := range fields {
		size += len(callback.FieldNames[i]) + len(f) + 8
	}
	b := make([]byte, 0, size)
	b = append(b, fieldsFormatPrefix...)
	for i, f := range fields {
		b = append(b, ',')
		b = callback.AppendJSONString(b, callback.FieldNames[i])
		b = append(b, ':')
		if utf8.ValidString(f) {
			b = callback.AppendJSONString(b, f)
			continue
		}
		b = append(b, `{"base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(f))
		b = append(b, `"}`...)
	}
	if rawDecodesToFields(rec) {
		// Received bytes that cannot stand for themselves (they start with this format's
		// prefix) ride along, so that the record comes back as received.
		b = append(b, `,"`+originalsReceived+`":{"base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, rec.Raw)
		b = append(b, `"}`...)
	}
	return append(b, '}')
}

// RecordFromRaw recovers a record from the previous layout's columns (migration 00050 reads
// them) or from a reject's raw column: from rawOriginal (the row's
// raw_original column) when it is non-nil, else from raw (the row's raw column). The 15
// fields come back byte for byte as Normalize saw them, so normalizing the result again
// gives the same hashes. rawOriginal may be either the bytes received from the API, which
// the returned record then carries as Raw, or this package's own fields/1 encoding. Reject.Raw
// can be passed as raw too.
func RecordFromRaw(raw []byte, rawOriginal []byte) (callback.Record, error) {
	b := raw
	if rawOriginal != nil {
		b = rawOriginal
	}
	if bytes.HasPrefix(b, fieldsFormatPrefix) {
		rec, err := decodeFields(b)
		if err != nil {
			return callback.Record{}, fmt.Errorf("recover record from %s encoding: %w", fieldsFormatKey, err)
		}
		return rec, nil
	}
	var rec callback.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return callback.Record{}, fmt.Errorf("recover record: %w", err)
	}
	if rawOriginal == nil {
		// The raw column is this package's own re-encoding, not bytes as received.
		rec.Raw = nil
	}
	return rec, nil
}

// decodeFields reads the fields/1 encoding written by encodeFields.
func decodeFields(b []byte) (callback.Record, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return callback.Record{}, err
	}
	var rec callback.Record
	ptrs := rec.FieldPtrs()
	for i, name := range callback.FieldNames {
		v, ok := m[name]
		if !ok {
			return callback.Record{}, fmt.Errorf("field %s missing", name)
		}
		switch {
		case len(v) > 0 && v[0] == '"':
			if err := json.Unmarshal(v, ptrs[i]); err != nil {
				return callback.Record{}, fmt.Errorf("field %s: %w", name, err)
			}
		case len(v) > 0 && v[0] == '{':
			var enc struct {
				Base64 *string `json:"base64"`
			}
			if err := json.Unmarshal(v, &enc); err != nil {
				return callback.Record{}, fmt.Errorf("field %s: %w", name, err)
			}
			if enc.Base64 == nil {
				return callback.Record{}, fmt.Errorf("field %s: object without base64", name)
			}
			dec, err := base64.StdEncoding.DecodeString(*enc.Base64)
			if err != nil {
				return callback.Record{}, fmt.Errorf("field %s: %w", name, err)
			}
			*ptrs[i] = string(dec)
		default:
			return callback.Record{}, fmt.Errorf("field %s: %w", name, errors.New("neither a string nor a base64 object"))
		}
	}
	if v, ok := m[originalsReceived]; ok {
		var enc struct {
			Base64 string `json:"base64"`
		}
		if err := json.Unmarshal(v, &enc); err != nil {
			return callback.Record{}, fmt.Errorf("%s: %w", originalsReceived, err)
		}
		raw, err := base64.StdEncoding.DecodeString(enc.Base64)
		if err != nil {
			return callback.Record{}, fmt.Errorf("%s: %w", originalsReceived, err)
		}
		rec.Raw = raw
	}
	return rec, nil
}

// originalBytes returns what raw_original stores for a sanitized record: the bytes received
// from the API (rec.Raw) when they decode to exactly the record's fields, else the fields/1
// encoding of the fields, so that RecordFromRow always gives the fields back.
func originalBytes(rec *callback.Record) []byte {
	if rawMatches(rec) {
		return bytes.Clone(rec.Raw)
	}
	return encodeFields(rec)
}

// rawMatches reports whether rec.Raw holds bytes received from the API that decode to exactly
// rec's fields and can stand where the fields/1 encoding may also stand (raw_original, a
// reject's raw): they must not start with its prefix.
func rawMatches(rec *callback.Record) bool {
	return !bytes.HasPrefix(rec.Raw, fieldsFormatPrefix) && rawDecodesToFields(rec)
}

// rawDecodesToFields reports whether rec.Raw holds bytes received from the API that decode to
// exactly rec's fields. Where the bytes are kept under a key of their own (originals'
// "$received"), nothing else can be mistaken for them, whatever they start with.
func rawDecodesToFields(rec *callback.Record) bool {
	if rec.Raw == nil {
		return false
	}
	var got callback.Record
	return json.Unmarshal(rec.Raw, &got) == nil && got.Fields() == rec.Fields()
}

// receivedTextLost reports whether decoding the received bytes raw already replaced text
// (invalid UTF-8, or a \u escape of an unpaired surrogate, both of which encoding/json turns
// into U+FFFD), so that the record's fields no longer hold what the API sent.
func receivedTextLost(raw []byte) bool {
	if raw == nil {
		return false
	}
	if !utf8.Valid(raw) {
		return true
	}
	for i := 0; ; {
		j := bytes.IndexByte(raw[i:], '\\')
		if j < 0 {
			return false
		}
		i += j
		if i+1 >= len(raw) {
			return false
		}
		if raw[i+1] != 'u' || i+6 > len(raw) {
			i += 2
			continue
		}
		r := hex4(raw[i+2 : i+6])
		switch {
		case isLowSurrogate(r):
			return true
		case isHighSurrogate(r):
			if i+12 > len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || !isLowSurrogate(hex4(raw[i+8:i+12])) {
				return true
			}
			i += 12
		default:
			i += 6
		}
	}
}
