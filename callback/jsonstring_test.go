package callback

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", `""`},
		{"plain 中文", `"plain 中文"`},
		{`a "q" \ b`, `"a \"q\" \\ b"`},
		{"l1\nl2\r\tx", `"l1\nl2\r\tx"`},
		{"nul\x00 bell\x07 us\x1f", `"nul\u0000 bell\u0007 us\u001f"`},
		{"<html>&", `"<html>&"`},
	}
	for _, tt := range tests {
		got := string(AppendJSONString([]byte("x"), tt.in))
		if got != "x"+tt.want {
			t.Errorf("AppendJSONString(%q) = %s, want x%s", tt.in, got, tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(tt.want), &back); err != nil || back != tt.in {
			t.Errorf("%s decodes to %q (%v), want %q", tt.want, back, err, tt.in)
		}
	}
}

func TestAppendFieldsJSONDecodesToTheRecord(t *testing.T) {
	t.Parallel()
	f := [15]string{"d.example", "live", "s", "2026-01-02T03:04:05Z", "push", "POST", "http://h/cb", "success",
		`{"a":1}`, "200", "HTTP/1.1 200 OK\r\nX: y", "ok", "2026-01-02T03:04:06Z", "", "msg \"quoted\""}
	b := AppendFieldsJSON(nil, &f)
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if r.Fields() != f {
		t.Errorf("decoded %v, want %v", r.Fields(), f)
	}
	if want := `{"Domain":"d.example","App":"live",`; string(b[:len(want)]) != want {
		t.Errorf("starts %s, want %s", b[:len(want)], want)
	}
}
