package transform

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBodyJSON(t *testing.T) {
	t.Parallel()
	const nilJSON = "<nil>"
	tests := []struct {
		name          string
		in            string
		want          string // nilJSON for a NULL column
		wantSanitized bool
	}{
		{"object", `{"event":"push_end","n":1}`, `{"event":"push_end","n":1}`, false},
		{"object trimmed", " \r\n{\"a\": [1, 2]}\n ", `{"a": [1, 2]}`, false},
		{"array", `[1,"two",{"three":3}]`, `[1,"two",{"three":3}]`, false},
		{"string scalar", `"ok"`, `"ok"`, false},
		{"number scalar", `200`, `200`, false},
		{"negative float scalar", `-1.5e3`, `-1.5e3`, false},
		{"true", `true`, `true`, false},
		{"false", `false`, `false`, false},
		{"null literal is jsonb null, not SQL NULL", `null`, `null`, false},
		{"empty", ``, nilJSON, false},
		{"spaces", `   `, nilJSON, false},
		{"plain text", `success`, nilJSON, false},
		{"plain text starting like JSON", `nullish`, nilJSON, false},
		{"html", `<html><body>502 Bad Gateway</body></html>`, nilJSON, false},
		{"form encoded", `a=1&b=2`, nilJSON, false},
		{"two values", `{} {}`, nilJSON, false},
		{"truncated object", `{"a":`, nilJSON, false},
		{"single quotes", `{'a':1}`, nilJSON, false},
		{"NaN", `NaN`, nilJSON, false},
		{"escaped NUL replaced", `{"a":"x\u0000y"}`, `{"a":"x\ufffdy"}`, true},
		{"escaped NUL in key replaced", `{"\u0000":1}`, `{"\ufffd":1}`, true},
		{"lone high surrogate replaced", `["\ud800"]`, `["\ufffd"]`, true},
		{"lone low surrogate replaced", `["\uDC00x"]`, `["\ufffdx"]`, true},
		{"high surrogate followed by high", `"\ud800\ud801\udc00"`, `"\ufffd\ud801\udc00"`, true},
		{"surrogate pair kept", `"\ud83d\ude00"`, `"\ud83d\ude00"`, false},
		{"escaped backslash then u is not an escape", `"\\u0000"`, `"\\u0000"`, false},
		{"other escapes kept", `"\n\t\"\/\u00e9"`, `"\n\t\"\/\u00e9"`, false},
		{"raw unicode kept", `{"名前":"é"}`, `{"名前":"é"}`, false},
		{"too deep", strings.Repeat("[", 1001) + strings.Repeat("]", 1001), nilJSON, false},
		{"deep but allowed", strings.Repeat("[", 1000) + strings.Repeat("]", 1000),
			strings.Repeat("[", 1000) + strings.Repeat("]", 1000), false},
		{"huge exponent", `[1e1001]`, nilJSON, false},
		{"large exponent allowed", `[1e-1000]`, `[1e-1000]`, false},
		{"too many digits", "[" + strings.Repeat("9", 1001) + "]", nilJSON, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, sanitized := bodyJSON(tt.in)
			gotS := nilJSON
			if got != nil {
				gotS = string(got)
				if !json.Valid(got) {
					t.Errorf("bodyJSON(%q) = %s, not valid JSON", tt.in, got)
				}
			}
			if gotS != tt.want {
				t.Errorf("bodyJSON(%q) = %s, want %s", tt.in, gotS, tt.want)
			}
			if sanitized != tt.wantSanitized {
				t.Errorf("bodyJSON(%q) sanitized = %v, want %v", tt.in, sanitized, tt.wantSanitized)
			}
		})
	}
}
