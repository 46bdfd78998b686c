package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/transform"
)

// Every odd record is archived with the columns transform derives, or rejected with its raw
// bytes; none is lost and the run succeeds.
func TestOddRecordsAreArchivedOrRejectedNeverLost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"odd.example.com"}})
	at := time.Now().Add(-90 * time.Minute)
	odd := livesim.OddRecords("odd.example.com", at)
	h.sim.Add(odd...)
	ctx := context.Background()
	res := h.pipeline(opts{lookback: 3 * time.Hour, pageSize: 7}).Sync(ctx, []string{"odd.example.com"})
	mustSucceed(t, res)

	// Every row and reject, by the record it gives back.
	type stored struct {
		headers, reqJSON, respJSON []byte
		code                       *int32
		statusLine                 *string
		latency                    *int64
		reqBody, respBody          string
		sanitized                  bool
		raw                        string // the view's raw, computed in SQL
	}
	rows := map[[15]string]stored{}
	var received [][]byte // the records as received that the rows keep
	q, err := h.store.Pool().Query(ctx, `SELECT `+transform.StoredColumns()+`, raw::text, response_headers::text,
			request_body_json::text, response_body_json::text, response_code, response_status_line,
			latency_ms, request_body, response_body, sanitized
		FROM callback_records WHERE domain = 'odd.example.com'`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var st stored
		var form transform.Row
		var headers string
		var reqJSON, respJSON *string
		if err := q.Scan(append(transform.StoredTargets(&form), &st.raw, &headers, &reqJSON, &respJSON, &st.code, &st.statusLine, &st.latency,
			&st.reqBody, &st.respBody, &st.sanitized)...); err != nil {
			t.Fatal(err)
		}
		st.headers, st.reqJSON, st.respJSON = []byte(headers), bytesOf(reqJSON), bytesOf(respJSON)
		back, err := transform.RecordFromRow(&form)
		if err != nil {
			t.Fatalf("a row does not give back its record: %v", err)
		}
		rows[back.Fields()] = st
		if back.Raw != nil {
			received = append(received, back.Raw)
		}
	}
	if q.Err() != nil {
		t.Fatal(q.Err())
	}
	rejects := map[[15]string]bool{}
	q, err = h.store.Pool().Query(ctx, "SELECT raw FROM callback_rejects WHERE domain = 'odd.example.com'")
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var raw []byte
		if err := q.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		back, err := transform.RecordFromRaw(raw, nil)
		if err != nil {
			t.Fatalf("a reject does not give back its record: %v", err)
		}
		rejects[back.Fields()] = true
	}

	var archived, rejected, sanitized int
	for i, r := range odd {
		want, err := transform.Normalize(r)
		if err != nil {
			rejected++
			if !rejects[r.Fields()] {
				t.Errorf("odd record %d (CallbackTime %q) is neither archived nor in callback_rejects", i, r.CallbackTime)
			}
			continue
		}
		archived++
		dec := asDecoded(r)
		st, ok := rows[dec.Fields()]
		if !ok {
			t.Errorf("odd record %d (CallbackTime %q) is not archived, or its original is not recoverable from its row", i, r.CallbackTime)
			continue
		}
		if st.sanitized {
			sanitized++
		}
		if !utf8.ValidString(r.CallbackBody) && !slices.ContainsFunc(received, func(o []byte) bool { return !utf8.Valid(o) }) {
			t.Errorf("record %d: the invalid UTF-8 bytes as received are not kept in originals", i)
		}
		if !jsonEqual([]byte(st.raw), want.Raw) {
			t.Errorf("record %d: the view's raw %s differs from transform's %s", i, st.raw, want.Raw)
		}
		if st.sanitized != want.Sanitized || st.reqBody != want.RequestBody || st.respBody != want.ResponseBody ||
			!equalPtr(st.code, want.ResponseCode) || !equalPtr(st.statusLine, want.ResponseStatusLine) || !equalPtr(st.latency, want.LatencyMS) ||
			!jsonEqual(st.headers, want.ResponseHeaders) || !jsonEqual(st.reqJSON, want.RequestBodyJSON) || !jsonEqual(st.respJSON, want.ResponseBodyJSON) {
			t.Errorf("record %d: columns differ from transform's row (code %v/%v, status line %v/%v, latency %v/%v, sanitized %v/%v, headers %s/%s)",
				i, deref(st.code), deref(want.ResponseCode), deref(st.statusLine), deref(want.ResponseStatusLine),
				deref(st.latency), deref(want.LatencyMS), st.sanitized, want.Sanitized, st.headers, want.ResponseHeaders)
		}
	}
	if rejected == 0 || sanitized == 0 || archived+rejected != len(odd) {
		t.Errorf("%d archived (%d sanitized), %d rejected of %d odd records: the dataset should exercise both paths", archived, sanitized, rejected, len(odd))
	}
	var big int
	if err := h.store.Pool().QueryRow(ctx, "SELECT coalesce(max(length(response_body)), 0) FROM callback_records").Scan(&big); err != nil || big < 2_000_000 {
		t.Errorf("the 2 MB body is not archived whole: longest response body %d (%v)", big, err)
	}
	if n := h.count("SELECT count(*) FROM callback_records WHERE event_type NOT IN ('push_start','push_end','snapshot_event','record_event')"); n == 0 {
		t.Error("the unknown event type was not archived as it is")
	}
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// jsonEqual compares jsonb text from PostgreSQL (keys reordered, spaces added) with
// transform's JSON: both nil, or equal as decoded values.
func jsonEqual(db, want []byte) bool {
	if db == nil || want == nil {
		return db == nil && want == nil
	}
	var a, b any
	if json.Unmarshal(db, &a) != nil || json.Unmarshal(want, &b) != nil {
		return bytes.Equal(db, want)
	}
	return reflect.DeepEqual(a, b)
}

// asDecoded returns r as a JSON decoder sees it on the wire: each byte of invalid UTF-8 becomes
// U+FFFD (the bytes themselves are kept in raw_original).
func asDecoded(r callback.Record) callback.Record {
	fix := func(s string) string {
		if utf8.ValidString(s) {
			return s
		}
		var b strings.Builder
		for len(s) > 0 {
			c, n := utf8.DecodeRuneInString(s)
			if c == utf8.RuneError && n == 1 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteString(s[:n])
			}
			s = s[n:]
		}
		return b.String()
	}
	r.CallbackBody, r.CallbackResponseBody, r.CallbackResponseHeader = fix(r.CallbackBody), fix(r.CallbackResponseBody), fix(r.CallbackResponseHeader)
	r.CallbackErrorCode, r.CallbackErrorMessage = fix(r.CallbackErrorCode), fix(r.CallbackErrorMessage)
	return r
}

func bytesOf(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}
