package transform

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cbarchive/cbarchive/callback"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenRow is a Row as JSON for golden files: JSON columns as text (so that byte changes
// show), hashes in hex, raw_original as text when it is valid UTF-8 and base64 otherwise.
type goldenRow struct {
	Domain             string     `json:"domain"`
	App                string     `json:"app"`
	Stream             string     `json:"stream"`
	EventType          string     `json:"event_type"`
	CallbackTime       time.Time  `json:"callback_time"`
	Method             string     `json:"method"`
	Address            string     `json:"address"`
	Status             string     `json:"status"`
	RequestBody        string     `json:"request_body"`
	RequestBodyJSON    *string    `json:"request_body_json"`
	ResponseCode       *int32     `json:"response_code"`
	ResponseStatusLine *string    `json:"response_status_line"`
	ResponseHeaders    string     `json:"response_headers"`
	ResponseBody       string     `json:"response_body"`
	ResponseBodyJSON   *string    `json:"response_body_json"`
	ResponseTime       *time.Time `json:"response_time"`
	LatencyMS          *int64     `json:"latency_ms"`
	ErrorCode          string     `json:"error_code"`
	ErrorMessage       string     `json:"error_message"`
	Raw                string     `json:"raw"`
	RawOriginal        *string    `json:"raw_original,omitempty"`
	RawOriginalBase64  []byte     `json:"raw_original_base64,omitempty"`
	Sanitized          bool       `json:"sanitized"`
	IdentityHash       string     `json:"identity_hash"`
	ContentHash        string     `json:"content_hash"`
	RulesVersion       int16      `json:"rules_version"`
}

// goldenReject is a Reject as JSON for golden files.
type goldenReject struct {
	Domain string `json:"domain"`
	Reason string `json:"reason"`
	Hash   string `json:"hash"`
	Raw    string `json:"raw"`
}

// goldenOutput is what a golden file holds: the row, or the reject when Normalize refused.
type goldenOutput struct {
	Row    *goldenRow    `json:"row,omitempty"`
	Reject *goldenReject `json:"reject,omitempty"`
}

func optString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func toGolden(row Row) goldenRow {
	g := goldenRow{
		Domain: row.Domain, App: row.App, Stream: row.Stream, EventType: row.EventType,
		CallbackTime: row.CallbackTime, Method: row.Method, Address: row.Address, Status: row.Status,
		RequestBody: row.RequestBody, RequestBodyJSON: optString(row.RequestBodyJSON),
		ResponseCode: row.ResponseCode, ResponseStatusLine: row.ResponseStatusLine,
		ResponseHeaders: string(row.ResponseHeaders), ResponseBody: row.ResponseBody,
		ResponseBodyJSON: optString(row.ResponseBodyJSON), ResponseTime: row.ResponseTime,
		LatencyMS: row.LatencyMS, ErrorCode: row.ErrorCode, ErrorMessage: row.ErrorMessage,
		Raw: string(row.Raw), Sanitized: row.Sanitized,
		IdentityHash: hex.EncodeToString(row.IdentityHash), ContentHash: hex.EncodeToString(row.ContentHash),
		RulesVersion: row.RulesVersion,
	}
	if utf8.Valid(row.RawOriginal) {
		g.RawOriginal = optString(row.RawOriginal)
	} else {
		g.RawOriginalBase64 = row.RawOriginal
	}
	return g
}

// TestGolden normalizes each testdata/golden/*.input.json (one API record as JSON, decoded
// as the extractor decodes it) and compares the row with the matching .golden.json. Run
// with -update to rewrite the golden files; on a mismatch the actual output is written to
// a .FAIL file next to the golden file.
func TestGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.input.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".input.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var rec callback.Record
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatalf("decode %s: %v", in, err)
			}
			var g goldenOutput
			row, err := Normalize(rec)
			if err != nil {
				rej := NewReject(rec, err)
				g.Reject = &goldenReject{Domain: rej.Domain, Reason: rej.Reason, Hash: hex.EncodeToString(rej.Hash), Raw: string(rej.Raw)}
			} else {
				gr := toGolden(row)
				g.Row = &gr
				assertStorable(t, row)
				assertRecoverable(t, rec, row)
			}
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(g); err != nil {
				t.Fatal(err)
			}
			got := out.Bytes()
			goldenPath := filepath.Join("testdata", "golden", name+".golden.json")
			failPath := goldenPath + ".FAIL"
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				_ = os.Remove(failPath)
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				if err := os.WriteFile(failPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Errorf("row differs from %s; actual output written to %s", goldenPath, failPath)
				return
			}
			_ = os.Remove(failPath)
		})
	}
}
