// Package callback defines the call-back record exactly as the Volcengine Live API returns it.
//
// It is the one type shared by the extractor, the transformer and the simulator. It holds no
// logic beyond decoding: every field is the API's text, unchanged.
package callback

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Record is one item of DescribeLiveCallbackData's CallbackInfoList: 15 string fields.
//
// Raw holds the exact bytes of the JSON object as received (when the record was decoded
// from an answer); it is never marshalled.
type Record struct {
	Domain                 string `json:"Domain"`
	App                    string `json:"App"`
	Stream                 string `json:"Stream"`
	CallbackTime           string `json:"CallbackTime"`
	CallbackEventType      string `json:"CallbackEventType"`
	CallbackMethod         string `json:"CallbackMethod"`
	CallbackAddress        string `json:"CallbackAddress"`
	CallbackStatus         string `json:"CallbackStatus"`
	CallbackBody           string `json:"CallbackBody"`
	CallbackResponseCode   string `json:"CallbackResponseCode"`
	CallbackResponseHeader string `json:"CallbackResponseHeader"`
	CallbackResponseBody   string `json:"CallbackResponseBody"`
	CallbackResponseTime   string `json:"CallbackResponseTime"`
	CallbackErrorCode      string `json:"CallbackErrorCode"`
	CallbackErrorMessage   string `json:"CallbackErrorMessage"`

	Raw json.RawMessage `json:"-"`
}

// FieldNames lists the 15 API field names in a fixed order, the order of Fields.
var FieldNames = [15]string{
	"Domain", "App", "Stream", "CallbackTime", "CallbackEventType", "CallbackMethod",
	"CallbackAddress", "CallbackStatus", "CallbackBody", "CallbackResponseCode",
	"CallbackResponseHeader", "CallbackResponseBody", "CallbackResponseTime",
	"CallbackErrorCode", "CallbackErrorMessage",
}

// Fields returns the 15 field values in the order of FieldNames.
func (r *Record) Fields() (f [15]string) {
	for i, p := range r.FieldPtrs() {
		f[i] = *p
	}
	return f
}

// FieldPtrs returns pointers to the 15 fields in the order of FieldNames: the one place that
// pairs the API's field names with Record's fields.
func (r *Record) FieldPtrs() [15]*string {
	return [15]*string{
		&r.Domain, &r.App, &r.Stream, &r.CallbackTime, &r.CallbackEventType, &r.CallbackMethod,
		&r.CallbackAddress, &r.CallbackStatus, &r.CallbackBody, &r.CallbackResponseCode,
		&r.CallbackResponseHeader, &r.CallbackResponseBody, &r.CallbackResponseTime,
		&r.CallbackErrorCode, &r.CallbackErrorMessage,
	}
}

// UnmarshalJSON decodes a record leniently: the API documents every field as a string, but
// a null becomes "" and a number, boolean, object or array is kept as its JSON text, so
// that no record fails to decode. Unknown fields are ignored. Raw keeps the input bytes.
func (r *Record) UnmarshalJSON(b []byte) error {
	// Fastest path: a flat object of strings, parsed in one pass.
	var f Record
	if parseFlat(b, &f) {
		*r = f
		r.Raw = append(json.RawMessage(nil), b...)
		return nil
	}
	// Fast path: every field a string (or null), as the API documents.
	var p plainRecord
	if err := json.Unmarshal(b, &p); err == nil {
		*r = Record(p)
		r.Raw = append(json.RawMessage(nil), b...)
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("decode callback record: %w", err)
	}
	*r = Record{}
	ptrs := r.FieldPtrs()
	for i, name := range FieldNames {
		v, ok := m[name]
		if !ok {
			continue
		}
		s, err := fieldText(v)
		if err != nil {
			return fmt.Errorf("decode callback record field %s: %w", name, err)
		}
		*ptrs[i] = s
	}
	r.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// plainRecord has Record's fields without its UnmarshalJSON method, for the fast path.
type plainRecord Record

func fieldText(v json.RawMessage) (string, error) {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
		return "", nil
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	default:
		return string(v), nil
	}
}
