package transform

import (
	"strings"
	"testing"
)

func BenchmarkNormalize(b *testing.B) {
	rec := typicalRecord()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Normalize(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizeLargeBody(b *testing.B) {
	rec := typicalRecord()
	rec.CallbackBody = `{"data":"` + strings.Repeat("x", 1<<20) + `"}`
	b.ReportAllocs()
	b.SetBytes(int64(len(rec.CallbackBody)))
	for b.Loop() {
		if _, err := Normalize(rec); err != nil {
			b.Fatal(err)
		}
	}
}
