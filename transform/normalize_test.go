package transform

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cbarchive/cbarchive/callback"
)

// typicalRecord is a record as the API documents it.
func typicalRecord() callback.Record {
	return callback.Record{
		Domain:                 "push.example.com",
		App:                    "live",
		Stream:                 "room-1001",
		CallbackTime:           "2025-03-18T23:30:52+08:00",
		CallbackEventType:      "push_end",
		CallbackMethod:         "POST",
		CallbackAddress:        "https://hooks.example.com/live/callback",
		CallbackStatus:         "success",
		CallbackBody:           `{"event":"push_end","app":"live","stream":"room-1001","timestamp":1742311852}`,
		CallbackResponseCode:   "200",
		CallbackResponseHeader: "Content-Type: application/json; charset=utf-8\r\nContent-Length: 29",
		CallbackResponseBody:   `{"code":0,"message":"success"}`,
		CallbackResponseTime:   "2025-03-18T23:30:52.137+08:00",
		CallbackErrorCode:      "",
		CallbackErrorMessage:   "",
	}
}

func TestNormalizeTypicalRecord(t *testing.T) {
	t.Parallel()
	rec := typicalRecord()
	row, err := Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 3, 18, 15, 30, 52, 0, time.UTC); !row.CallbackTime.Equal(want) || row.CallbackTime.Location() != time.UTC {
		t.Errorf("CallbackTime = %v, want %v", row.CallbackTime, want)
	}
	if row.LatencyMS == nil || *row.LatencyMS != 137 {
		t.Errorf("LatencyMS = %v, want 137", row.LatencyMS)
	}
	if row.ResponseCode == nil || *row.ResponseCode != 200 {
		t.Errorf("ResponseCode = %v, want 200", row.ResponseCode)
	}
	if row.ResponseStatusLine != nil {
		t.Errorf("ResponseStatusLine = %q, want nil", *row.ResponseStatusLine)
	}
	if got, want := string(row.ResponseHeaders), `{"content-length":"29","content-type":"application/json; charset=utf-8"}`; got != want {
		t.Errorf("ResponseHeaders = %s, want %s", got, want)
	}
	if string(row.RequestBodyJSON) != rec.CallbackBody || string(row.ResponseBodyJSON) != rec.CallbackResponseBody {
		t.Errorf("body JSON = %s / %s", row.RequestBodyJSON, row.ResponseBodyJSON)
	}
	if row.Sanitized || row.RawOriginal != nil {
		t.Errorf("Sanitized = %v, RawOriginal = %q; want false, nil", row.Sanitized, row.RawOriginal)
	}
	if row.RulesVersion != RulesVersion {
		t.Errorf("RulesVersion = %d, want %d", row.RulesVersion, RulesVersion)
	}
	if len(row.IdentityHash) != 32 || len(row.ContentHash) != 32 {
		t.Errorf("hash lengths %d, %d; want 32", len(row.IdentityHash), len(row.ContentHash))
	}
	var raw map[string]string
	if err := json.Unmarshal(row.Raw, &raw); err != nil {
		t.Fatalf("Raw is not a JSON object of strings: %v", err)
	}
	if len(raw) != 15 {
		t.Errorf("Raw has %d fields, want 15", len(raw))
	}
	for i, name := range callback.FieldNames {
		if raw[name] != rec.Fields()[i] {
			t.Errorf("Raw[%s] = %q, want %q", name, raw[name], rec.Fields()[i])
		}
	}
	again, _ := Normalize(rec)
	if !rowsEqual(row, again) {
		t.Error("Normalize is not deterministic")
	}
}

func TestNormalizeCallbackTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"rfc3339 offset", "2025-03-18T23:30:52+08:00", false},
		{"utc Z with fraction", "2025-03-18T15:30:52.999Z", false},
		{"space separator", "2025-03-18 23:30:52+08:00", false},
		{"empty", "", true},
		{"no zone", "2025-03-18 23:30:52", true},
		{"garbage", "not a time", true},
		{"NUL", "\x00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := typicalRecord()
			rec.CallbackTime = tt.in
			_, err := Normalize(rec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Normalize err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrCallbackTime) {
				t.Errorf("err = %v, want ErrCallbackTime", err)
			}
			rej := NewReject(rec, err)
			if !strings.Contains(rej.Reason, "CallbackTime") || !utf8.ValidString(rej.Reason) || strings.IndexByte(rej.Reason, 0) >= 0 {
				t.Errorf("Reason = %q", rej.Reason)
			}
			if sum := sha256.Sum256(rej.Raw); !bytes.Equal(rej.Hash, sum[:]) {
				t.Error("Hash is not sha256(Raw)")
			}
			if rej.Domain != rec.Domain {
				t.Errorf("Domain = %q", rej.Domain)
			}
			back, err := RecordFromRaw(rej.Raw, nil)
			if err != nil || back.Fields() != rec.Fields() {
				t.Errorf("reject Raw does not give the record back: %v", err)
			}
		})
	}
}

func TestNewRejectKeepsReceivedBytes(t *testing.T) {
	t.Parallel()
	in := []byte(`{"Domain":"d\u0000","CallbackTime":"bad","Extra":1}`)
	var rec callback.Record
	if err := json.Unmarshal(in, &rec); err != nil {
		t.Fatal(err)
	}
	_, err := Normalize(rec)
	rej := NewReject(rec, err)
	if !bytes.Equal(rej.Raw, in) {
		t.Errorf("Raw = %s, want the received bytes %s", rej.Raw, in)
	}
	if rej.Domain != "d\uFFFD" {
		t.Errorf("Domain = %q, want sanitized", rej.Domain)
	}
	if !strings.Contains(rej.Reason, `"bad"`) {
		t.Errorf("Reason %q does not quote the value", rej.Reason)
	}
	long := NewReject(callback.Record{CallbackTime: strings.Repeat("x", 10000)}, errors.New(strings.Repeat("y", 10)))
	if long.Reason != "yyyyyyyyyy" {
		t.Errorf("Reason = %q", long.Reason)
	}
	rec.CallbackTime = strings.Repeat("9", 10000)
	if _, err := Normalize(rec); err == nil || len(err.Error()) > 400 {
		t.Errorf("error for a long value should quote a bounded prefix: %d bytes", len(err.Error()))
	}
}

func TestNormalizeResponseCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *int32
	}{
		{"plain", "200", ptr[int32](200)},
		{"surrounding spaces", " 200 ", ptr[int32](200)},
		{"negative", "-1", ptr[int32](-1)},
		{"plus sign", "+204", ptr[int32](204)},
		{"leading zeros", "0200", ptr[int32](200)},
		{"max int32", "2147483647", ptr[int32](2147483647)},
		{"min int32", "-2147483648", ptr[int32](-2147483648)},
		{"empty", "", nil},
		{"letters", "abc", nil},
		{"too large", "99999999999", nil},
		{"just too large", "2147483648", nil},
		{"decimal", "200.0", nil},
		{"hex", "0xC8", nil},
		{"inner space", "2 00", nil},
		{"with reason", "200 OK", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := typicalRecord()
			rec.CallbackResponseCode = tt.in
			row, err := Normalize(rec)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && row.ResponseCode != nil:
				t.Errorf("ResponseCode = %d, want nil", *row.ResponseCode)
			case tt.want != nil && (row.ResponseCode == nil || *row.ResponseCode != *tt.want):
				t.Errorf("ResponseCode = %v, want %d", row.ResponseCode, *tt.want)
			}
		})
	}
}

func TestNormalizeResponseTimeAndLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		wantTime    *time.Time
		wantLatency *int64
	}{
		{"other offset", "2025-03-18T10:30:53.25-05:00", ptr(time.Date(2025, 3, 18, 15, 30, 53, 250000000, time.UTC)), ptr[int64](1250)},
		{"Z", "2025-03-18T15:30:52Z", ptr(time.Date(2025, 3, 18, 15, 30, 52, 0, time.UTC)), ptr[int64](0)},
		{"before the callback: negative latency kept", "2025-03-18T23:30:50.5+08:00", ptr(time.Date(2025, 3, 18, 15, 30, 50, 500000000, time.UTC)), ptr[int64](-1500)},
		{"years later: absurd latency kept", "2035-03-18T15:30:52Z", ptr(time.Date(2035, 3, 18, 15, 30, 52, 0, time.UTC)), ptr[int64](315532800000)},
		{"empty", "", nil, nil},
		{"unparseable", "soon", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := typicalRecord()
			rec.CallbackResponseTime = tt.in
			row, err := Normalize(rec)
			if err != nil {
				t.Fatal(err)
			}
			if (row.ResponseTime == nil) != (tt.wantTime == nil) || (row.ResponseTime != nil && !row.ResponseTime.Equal(*tt.wantTime)) {
				t.Errorf("ResponseTime = %v, want %v", row.ResponseTime, tt.wantTime)
			}
			if (row.LatencyMS == nil) != (tt.wantLatency == nil) || (row.LatencyMS != nil && *row.LatencyMS != *tt.wantLatency) {
				t.Errorf("LatencyMS = %v, want %v", deref(row.LatencyMS), deref(tt.wantLatency))
			}
		})
	}
}

func TestNormalizeBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		body          string
		wantJSON      string // "" for NULL
		wantSanitized bool
	}{
		{"object", `{"a":1}`, `{"a":1}`, false},
		{"array", `[1,2]`, `[1,2]`, false},
		{"scalar string", `"done"`, `"done"`, false},
		{"scalar number", `0`, `0`, false},
		{"null literal", `null`, `null`, false},
		{"non-JSON", `OK`, "", false},
		{"empty", ``, "", false},
		{"raw NUL in JSON text", "{\"a\":\"x\x00\"}", "{\"a\":\"x\uFFFD\"}", true},
		{"escaped NUL in JSON", `{"a":"\u0000"}`, `{"a":"\ufffd"}`, true},
		{"invalid UTF-8 in JSON text", "[\"\xff\"]", "[\"\uFFFD\"]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := typicalRecord()
			rec.CallbackBody = tt.body
			rec.CallbackResponseBody = tt.body
			row, err := Normalize(rec)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range [][]byte{row.RequestBodyJSON, row.ResponseBodyJSON} {
				if tt.wantJSON == "" && got != nil {
					t.Errorf("body JSON = %s, want NULL", got)
				}
				if tt.wantJSON != "" && string(got) != tt.wantJSON {
					t.Errorf("body JSON = %s, want %s", got, tt.wantJSON)
				}
			}
			wantText, _ := sanitizeString(tt.body)
			if row.RequestBody != wantText || row.ResponseBody != wantText {
				t.Errorf("body text = %q / %q, want %q", row.RequestBody, row.ResponseBody, wantText)
			}
			if row.Sanitized != tt.wantSanitized {
				t.Errorf("Sanitized = %v, want %v", row.Sanitized, tt.wantSanitized)
			}
			assertRecoverable(t, rec, row)
		})
	}
}

func TestNormalizeKeepsLargeBodiesWhole(t *testing.T) {
	t.Parallel()
	rec := typicalRecord()
	big := `{"data":"` + strings.Repeat("x", 4<<20) + `"}`
	rec.CallbackBody = big
	rec.CallbackResponseBody = strings.Repeat("y", 3<<20)
	row, err := Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if row.RequestBody != big || string(row.RequestBodyJSON) != big || row.ResponseBody != rec.CallbackResponseBody {
		t.Error("large bodies were changed")
	}
	var raw map[string]string
	if err := json.Unmarshal(row.Raw, &raw); err != nil || raw["CallbackBody"] != big {
		t.Errorf("Raw does not hold the whole body: %v", err)
	}
}

func TestNormalizeOpenVocabularies(t *testing.T) {
	t.Parallel()
	rec := typicalRecord()
	rec.CallbackEventType = "stream_transcode_event"
	rec.CallbackStatus = "timeout"
	rec.CallbackMethod = "PATCH"
	row, err := Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if row.EventType != rec.CallbackEventType || row.Status != rec.CallbackStatus || row.Method != rec.CallbackMethod {
		t.Errorf("got %q %q %q", row.EventType, row.Status, row.Method)
	}
}

func TestNormalizeErrorFieldsNotSwapped(t *testing.T) {
	t.Parallel()
	rec := typicalRecord()
	rec.CallbackErrorCode = "connection refused"
	rec.CallbackErrorMessage = "E1001"
	row, err := Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if row.ErrorCode != "connection refused" || row.ErrorMessage != "E1001" {
		t.Errorf("ErrorCode = %q, ErrorMessage = %q", row.ErrorCode, row.ErrorMessage)
	}
}

func TestNormalizeSanitizesAndRecovers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		mutate        func(*callback.Record)
		wantSanitized bool
	}{
		{"clean", func(*callback.Record) {}, false},
		{"NUL in app", func(r *callback.Record) { r.App = "li\x00ve" }, true},
		{"NUL in domain and identity", func(r *callback.Record) { r.Domain = "\x00" }, true},
		{"invalid UTF-8 in stream", func(r *callback.Record) { r.Stream = "room\xff\xfe" }, true},
		{"truncated multibyte sequence", func(r *callback.Record) { r.CallbackErrorMessage = "caf\xc3" }, true},
		{"encoded surrogate (invalid UTF-8)", func(r *callback.Record) { r.CallbackResponseBody = "\xed\xa0\x80" }, true},
		{"NUL in header", func(r *callback.Record) { r.CallbackResponseHeader = "A: \x00" }, true},
		{"every field dirty", func(r *callback.Record) {
			for _, p := range r.FieldPtrs() {
				*p += "\x00\xff"
			}
			r.CallbackTime = "2025-03-18T23:30:52+08:00"
		}, true},
		{"escaped NUL text only in a non-JSON body is fine", func(r *callback.Record) { r.CallbackBody = `x \u0000` }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := typicalRecord()
			tt.mutate(&rec)
			row, err := Normalize(rec)
			if err != nil {
				t.Fatal(err)
			}
			if row.Sanitized != tt.wantSanitized {
				t.Errorf("Sanitized = %v, want %v", row.Sanitized, tt.wantSanitized)
			}
			if row.Sanitized != (row.RawOriginal != nil) {
				t.Errorf("RawOriginal set = %v with Sanitized = %v", row.RawOriginal != nil, row.Sanitized)
			}
			assertStorable(t, row)
			assertRecoverable(t, rec, row)
		})
	}
}

// TestNormalizeReceivedBytes covers records decoded from an answer (Raw set).
func TestNormalizeReceivedBytes(t *testing.T) {
	t.Parallel()
	const tm = `"CallbackTime":"2025-03-18T23:30:52+08:00"`
	tests := []struct {
		name              string
		in                string
		wantSanitized     bool
		wantOriginalIsRaw bool
	}{
		{"clean", `{"Domain":"d",` + tm + `}`, false, false},
		{"escaped NUL keeps received bytes", `{"Domain":"d","App":"a\u0000",` + tm + `}`, true, true},
		{"invalid UTF-8 in received bytes", "{\"Domain\":\"d\xff\"," + tm + "}", true, true},
		{"unpaired surrogate escape in received bytes", `{"Domain":"\ud800",` + tm + `}`, true, true},
		{"surrogate pair is fine", `{"Domain":"\ud83d\ude00",` + tm + `}`, false, false},
		{"escaped backslash u is fine", `{"Domain":"\\ud800",` + tm + `}`, false, false},
		{"non-string values decoded leniently", `{"Domain":"d","CallbackResponseCode":200,"App":null,` + tm + `}`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rec callback.Record
			if err := json.Unmarshal([]byte(tt.in), &rec); err != nil {
				t.Fatal(err)
			}
			row, err := Normalize(rec)
			if err != nil {
				t.Fatal(err)
			}
			if row.Sanitized != tt.wantSanitized {
				t.Errorf("Sanitized = %v, want %v", row.Sanitized, tt.wantSanitized)
			}
			if got := bytes.Equal(row.RawOriginal, []byte(tt.in)); got != tt.wantOriginalIsRaw {
				t.Errorf("RawOriginal = %q, want received bytes: %v", row.RawOriginal, tt.wantOriginalIsRaw)
			}
			assertStorable(t, row)
			assertRecoverable(t, rec, row)
		})
	}
}

func TestNormalizeRawChangedAfterDecoding(t *testing.T) {
	t.Parallel()
	var rec callback.Record
	if err := json.Unmarshal([]byte(`{"Domain":"d","CallbackTime":"2025-03-18T23:30:52+08:00"}`), &rec); err != nil {
		t.Fatal(err)
	}
	rec.App = "a\x00" // Raw no longer matches the fields
	row, err := Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(row.RawOriginal, fieldsFormatPrefix) {
		t.Errorf("RawOriginal = %s, want the fields/1 encoding", row.RawOriginal)
	}
	assertRecoverable(t, rec, row)
}

func TestRecordFromRowErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `nope`, `[1]`, `{"$cbarchive":"fields/1"}`, `{"$cbarchive":"fields/1","Domain":1}`} {
		if _, err := RecordFromRaw([]byte(in), nil); err == nil {
			t.Errorf("RecordFromRaw(%q) succeeded", in)
		}
	}
}

func TestEncodeFieldsRoundTrip(t *testing.T) {
	t.Parallel()
	rec := callback.Record{Domain: "\x00\x01\x1f\"\\/<>&\u2028", App: "\xff", Stream: "é\xc3", CallbackBody: "\r\n\t"}
	enc := encodeFields(&rec)
	if !json.Valid(enc) {
		t.Fatalf("fields/1 encoding is not valid JSON: %s", enc)
	}
	back, err := RecordFromRaw(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Fields() != rec.Fields() {
		t.Errorf("round trip: got %q, want %q", back.Fields(), rec.Fields())
	}
}

// assertRecoverable checks the promise that the original fields come back from the row, and
// that normalizing them again gives the same row (what renormalize relies on).
func assertRecoverable(t *testing.T, rec callback.Record, row Row) {
	t.Helper()
	assertStoredFormRecovers(t, rec, row)
	back, err := RecordFromRaw(row.Raw, row.RawOriginal)
	if err != nil {
		t.Fatalf("RecordFromRow: %v", err)
	}
	if back.Fields() != rec.Fields() {
		t.Fatalf("RecordFromRow fields = %q, want %q", back.Fields(), rec.Fields())
	}
	again, err := Normalize(back)
	if err != nil {
		t.Fatalf("Normalize(recovered): %v", err)
	}
	if !rowsEqual(row, again) {
		t.Errorf("Normalize(RecordFromRow(row)) differs from row:\n got %+v\nwant %+v", again, row)
	}
}

// storedOnly keeps the columns callback_store holds, as PostgreSQL gives them back (times at
// microsecond precision, in UTC).
func storedOnly(row Row) Row {
	micro := func(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }
	s := Row{Domain: row.Domain, App: row.App, Stream: row.Stream, EventType: row.EventType,
		CallbackTime: micro(row.CallbackTime), Method: row.Method, Address: row.Address, Status: row.Status,
		RequestBody: row.RequestBody, ResponseCode: row.ResponseCode, ResponseHeader: row.ResponseHeader,
		ResponseBody: row.ResponseBody, ErrorCode: row.ErrorCode, ErrorMessage: row.ErrorMessage,
		Flags: row.Flags, Originals: row.Originals}
	if row.ResponseTime != nil {
		rt := micro(*row.ResponseTime)
		s.ResponseTime = &rt
	}
	return s
}

// assertStoredFormRecovers checks that the stored columns alone give rec back: its 15 fields,
// and the bytes as received when decoding them changed text.
func assertStoredFormRecovers(t *testing.T, rec callback.Record, row Row) {
	t.Helper()
	stored := storedOnly(row)
	back, err := RecordFromRow(&stored)
	if err != nil {
		t.Fatalf("RecordFromRow: %v", err)
	}
	if back.Fields() != rec.Fields() {
		t.Fatalf("RecordFromRow fields = %q, want %q (originals %s, flags %#x)", back.Fields(), rec.Fields(), row.Originals, row.Flags)
	}
	if row.Sanitized && rawMatches(&rec) && !bytes.Equal(back.Raw, rec.Raw) {
		t.Fatalf("RecordFromRow Raw = %q, want the bytes as received %q", back.Raw, rec.Raw)
	}
	if row.Originals != nil && !json.Valid(row.Originals) {
		t.Fatalf("originals not valid JSON: %q", row.Originals)
	}
}

// assertStorable checks that every text column is valid UTF-8 without NUL and every JSON
// column valid JSON without \u0000.
func assertStorable(t *testing.T, row Row) {
	t.Helper()
	texts := []string{row.Domain, row.App, row.Stream, row.EventType, row.Method, row.Address, row.Status,
		row.RequestBody, row.ResponseBody, row.ErrorCode, row.ErrorMessage}
	if row.ResponseStatusLine != nil {
		texts = append(texts, *row.ResponseStatusLine)
	}
	for _, s := range texts {
		if !isStorableText(s) {
			t.Errorf("text column not storable: %q", s)
		}
	}
	for _, js := range [][]byte{row.Raw, row.ResponseHeaders, row.RequestBodyJSON, row.ResponseBodyJSON} {
		if js == nil {
			continue
		}
		if !json.Valid(js) || !utf8.Valid(js) || bytes.IndexByte(js, 0) >= 0 {
			t.Errorf("JSON column not storable: %q", js)
		}
		if c, ok := fixJSONForJSONB(bytes.Clone(js)); c || !ok {
			t.Errorf("JSON column holds escapes jsonb refuses: %q", js)
		}
	}
	if row.ResponseHeaders == nil || row.Raw == nil {
		t.Error("ResponseHeaders and Raw must never be nil")
	}
}

func rowsEqual(a, b Row) bool {
	return a.Domain == b.Domain && a.App == b.App && a.Stream == b.Stream && a.EventType == b.EventType &&
		a.CallbackTime.Equal(b.CallbackTime) && a.Method == b.Method && a.Address == b.Address &&
		a.Status == b.Status && a.RequestBody == b.RequestBody && bytes.Equal(a.RequestBodyJSON, b.RequestBodyJSON) &&
		(a.RequestBodyJSON == nil) == (b.RequestBodyJSON == nil) &&
		eqPtr(a.ResponseCode, b.ResponseCode) && eqPtr(a.ResponseStatusLine, b.ResponseStatusLine) &&
		bytes.Equal(a.ResponseHeaders, b.ResponseHeaders) && a.ResponseBody == b.ResponseBody &&
		bytes.Equal(a.ResponseBodyJSON, b.ResponseBodyJSON) && (a.ResponseBodyJSON == nil) == (b.ResponseBodyJSON == nil) &&
		(a.ResponseTime == nil) == (b.ResponseTime == nil) && (a.ResponseTime == nil || a.ResponseTime.Equal(*b.ResponseTime)) &&
		eqPtr(a.LatencyMS, b.LatencyMS) && a.ErrorCode == b.ErrorCode && a.ErrorMessage == b.ErrorMessage &&
		bytes.Equal(a.Raw, b.Raw) && bytes.Equal(a.RawOriginal, b.RawOriginal) && (a.RawOriginal == nil) == (b.RawOriginal == nil) &&
		a.Sanitized == b.Sanitized && bytes.Equal(a.IdentityHash, b.IdentityHash) &&
		bytes.Equal(a.ContentHash, b.ContentHash) && a.RulesVersion == b.RulesVersion
}

func eqPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestNormalizeDoesNotChangeItsInput(t *testing.T) {
	t.Parallel()
	in := []byte(`{"Domain":"d","App":"\u0000","CallbackTime":"2025-03-18T23:30:52+08:00"}`)
	var rec callback.Record
	if err := json.Unmarshal(in, &rec); err != nil {
		t.Fatal(err)
	}
	before := rec.Fields()
	row, err := Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	row.RawOriginal[0] = 'X' // the row owns its bytes
	rej := NewReject(rec, ErrCallbackTime)
	rej.Raw[0] = 'X'
	if rec.Fields() != before || !bytes.Equal(rec.Raw, in) {
		t.Error("Normalize or NewReject changed the record or shares its Raw")
	}
}

// StoredLatencyMS gives a stored row the latency its record's times as received give (finer than
// the microseconds the columns keep), and a row whose flags do not print its columns back (not
// written by Normalize) the latency of its columns.
func TestStoredLatencyMS(t *testing.T) {
	t.Parallel()
	fine, err := Normalize(callback.Record{Domain: "d", CallbackTime: "2025-06-30T12:00:02.0000009Z", CallbackResponseTime: "2025-06-30T12:00:02.0010001Z"})
	if err != nil {
		t.Fatal(err)
	}
	stored := Row{CallbackTime: time.Date(2025, 6, 30, 12, 0, 2, 0, time.UTC), Flags: fine.Flags, Originals: fine.Originals,
		ResponseTime: ptr(time.Date(2025, 6, 30, 12, 0, 2, 1000000, time.UTC))} // as timestamptz keeps them
	hand := Row{CallbackTime: time.Date(2025, 6, 11, 12, 47, 26, 16000000, time.UTC), Flags: 0x30, // layout 0: no fraction
		ResponseTime: ptr(time.Date(2025, 6, 11, 12, 47, 26, 321000000, time.UTC))}
	noResponse := Row{CallbackTime: time.Date(2025, 6, 11, 12, 47, 26, 16000000, time.UTC)}
	for _, tc := range []struct {
		name string
		row  Row
		want *int64
	}{
		{"times finer than microseconds: the record's", stored, ptr[int64](0)},
		{"flags that do not print the columns back: the columns'", hand, ptr[int64](305)},
		{"no response time", noResponse, nil},
	} {
		got, err := StoredLatencyMS(&tc.row)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%s: StoredLatencyMS = %v, want %v", tc.name, deref(got), deref(tc.want))
		}
	}
}
