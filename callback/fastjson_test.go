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
