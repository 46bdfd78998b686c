package callback

import (
	"encoding/json"
	"testing"
)

// FuzzParseFlatMatchesEncodingJSON holds the one-pass parser to encoding/json: whenever it
// accepts an input, it must give exactly the fields encoding/json gives.
func FuzzParseFlatMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"Domain":"d","App":"a","CallbackTime":"2025-03-18T23:30:52+08:00"}`,
		`{"domain":"lower","DOMAIN":"upper","Domain":"exact"}`,
		`{"Domain":"a","Domain":"b"}`,
		`{"CallbackBody":"tab\there \"quoted\" \\ \/ \u00e9 \ud83d\ude00 \ud800 x\u0000y"}`,
		"{\"CallbackBody\":\"\xff\xfe ok \xc3\x28\"}",
		`{"CallbackResponseCode":null,"App":"x"}`,
		`{"CallbackResponseCode":200}`,
		`{"Unknown":"v","X\u0041":"y"}`,
		` { "App" : "spaced" } `,
		`{}`, `[]`, `{"App":"x",}`, `{"App":"x"`, `"str"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Record
		if !parseFlat(b, &fast) {
			return
		}
		var std plainRecord
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("parseFlat accepted %q, which encoding/json refuses: %v", b, err)
		}
		want := Record(std)
		if fast.Fields() != want.Fields() {
			t.Fatalf("parseFlat(%q)\n got %q\nwant %q", b, fast.Fields(), want.Fields())
		}
	})
}

// The fuzz test above passes whatever parseFlat declines: this one holds it to accepting the
// API's shape (flat objects of strings or null), with the fields written out.
func TestParseFlatAcceptsFlatObjectsOfStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want Record
	}{
		{`{"Domain":"d","App":"a","CallbackTime":"2025-03-18T23:30:52+08:00"}`,
			Record{Domain: "d", App: "a", CallbackTime: "2025-03-18T23:30:52+08:00"}},
		{`{"domain":"lower","DOMAIN":"upper","Domain":"exact"}`, Record{Domain: "exact"}},
		{`{"Domain":"a","Domain":"b"}`, Record{Domain: "b"}},
		{`{"CallbackBody":"tab\there \"q\" \\ \/ \u00e9 \ud83d\ude00 \ud800 x\u0000y"}`,
			Record{CallbackBody: "tab\there \"q\" \\ / é 😀 \uFFFD x\x00y"}},
		{"{\"CallbackBody\":\"\xff ok\"}", Record{CallbackBody: "\uFFFD ok"}},
		{`{"CallbackResponseCode":null,"App":"x","Unknown":"v"}`, Record{App: "x"}},
		{` { "App" : "spaced" } `, Record{App: "spaced"}},
		{`{}`, Record{}},
	}
	for _, tt := range tests {
		var got Record
		if !parseFlat([]byte(tt.in), &got) {
			t.Errorf("parseFlat declined %s, a flat object of strings", tt.in)
			continue
		}
		if got.Fields() != tt.want.Fields() {
			t.Errorf("parseFlat(%s)\n got %q\nwant %q", tt.in, got.Fields(), tt.want.Fields())
		}
	}
	for _, in := range []string{`{"CallbackResponseCode":200}`, `[]`, `{"App":"x",}`, `{"App":"x"`, `"str"`, `{"App":{"n":1}}`} {
		var r Record
		if parseFlat([]byte(in), &r) {
			t.Errorf("parseFlat accepted %s, which is not a flat object of strings", in)
		}
	}
}
