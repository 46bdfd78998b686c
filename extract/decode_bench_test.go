package extract

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/livesim"
)

func pageBody(b *testing.B) []byte {
	sim, err := livesim.New(livesim.Config{Seed: 1, Domains: []string{"d.example.com"}, RecordsPerDay: 3000, DaysBack: 2})
	if err != nil {
		b.Fatal(err)
	}
	recs := sim.Records("d.example.com", time.Now().Add(-48*time.Hour), time.Now())[:1000]
	res := map[string]any{"ResponseMetadata": map[string]any{"RequestId": "x"},
		"Result": map[string]any{"CallbackInfoList": recs, "Pagination": map[string]int{"PageNum": 1, "PageSize": 1000, "TotalCount": 1000}}}
	out, err := json.Marshal(res)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkDecodePage measures decoding one answer of 1000 records, as the client does: the
// envelope and the records in one pass.
func BenchmarkDecodePage(b *testing.B) {
	body := pageBody(b)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var res describeResult
		env := envelope{Result: &res}
		if err := json.Unmarshal(body, &env); err != nil || len(res.CallbackInfoList) != 1000 {
			b.Fatalf("decode: %v, %d records", err, len(res.CallbackInfoList))
		}
	}
}
