package callback

import (
	"encoding/json"
	"testing"
)

func TestUnmarshalKeepsTheBytesAndEveryField(t *testing.T) {
	t.Parallel()
	in := `{"Domain":"d.example.com","App":"live","Stream":"s","CallbackTime":"2025-03-18T23:30:52+08:00",
		"CallbackEventType":"push_start","CallbackMethod":"post","CallbackAddress":"http://h/cb","CallbackStatus":"success",
		"CallbackBody":"{\"a\":1}","CallbackResponseCode":"200","CallbackResponseHeader":"HTTP/1.1 200 OK",
		"CallbackResponseBody":"ok","CallbackResponseTime":"2025-03-18T23:30:52.120+08:00",
		"CallbackErrorCode":"","CallbackErrorMessage":"","Unknown":"ignored"}`
	var r Record
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Raw) != in {
		t.Errorf("Raw = %q, want the input bytes", r.Raw)
	}
	f := r.Fields()
	want := [15]string{"d.example.com", "live", "s", "2025-03-18T23:30:52+08:00", "push_start", "post", "http://h/cb",
		"success", `{"a":1}`, "200", "HTTP/1.1 200 OK", "ok", "2025-03-18T23:30:52.120+08:00", "", ""}
	if f != want {
		t.Errorf("Fields = %q\nwant     %q", f, want)
	}
}

func TestUnmarshalIsLenientWithNonStringValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantCode string
	}{
		{"number", `{"CallbackResponseCode":200}`, "200"},
		{"null", `{"CallbackResponseCode":null}`, ""},
		{"object", `{"CallbackResponseCode":{"a": 1}}`, `{"a": 1}`},
		{"boolean", `{"CallbackResponseCode":true}`, "true"},
		{"missing", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r Record
			if err := json.Unmarshal([]byte(tt.in), &r); err != nil {
				t.Fatalf("decode %s: %v", tt.in, err)
			}
			if r.CallbackResponseCode != tt.wantCode || string(r.Raw) != tt.in {
				t.Errorf("code %q raw %q, want %q and the input", r.CallbackResponseCode, r.Raw, tt.wantCode)
			}
		})
	}
}

func TestUnmarshalRejectsWhatIsNotAnObject(t *testing.T) {
	t.Parallel()
	var r Record
	if err := r.UnmarshalJSON([]byte(`[1,2]`)); err == nil {
		t.Error("an array decoded as a record")
	}
}
