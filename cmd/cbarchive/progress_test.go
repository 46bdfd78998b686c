package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/pipeline"
)

func TestProgressBarMovesWithPagesAndKeepsLogsAboveIt(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &progress{out: &out, active: true, width: 100}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p.start(extract.Plan{Read: extract.Range{Start: start, End: start.Add(4 * time.Hour)}}, 1)
	p.page("d", 1000)
	if !strings.Contains(out.String(), "1000 records fetched, 0 windows committed") {
		t.Errorf("the bar did not move with the first page:\n%q", out.String())
	}
	p.page("d", 500)
	if !strings.Contains(out.String(), "  0% 1500 records fetched, 0 windows committed, ") {
		t.Errorf("the bar did not move with the second page:\n%q", out.String())
	}
	p.window(pipeline.WindowEvent{Domain: "d", Window: extract.Range{Start: start, End: start.Add(time.Hour)}, Records: 1500})
	if !strings.Contains(out.String(), "[=======                       ]  25% 1500 records fetched, 1 windows committed") {
		t.Errorf("the bar does not show the committed window:\n%q", out.String())
	}
	out.Reset()
	if _, err := p.Write([]byte("a log line\n")); err != nil {
		t.Fatal(err)
	}
	// The bar's line is cleared, the log line written whole on its own line, the bar redrawn below.
	want := "\r\033[Ka log line\n" + p.line
	if out.String() != want {
		t.Errorf("a log line while the bar is shown wrote\n%q\nwant\n%q", out.String(), want)
	}
	p.done()
	out.Reset()
	_, _ = p.Write([]byte("after\n"))
	if out.String() != "after\n" {
		t.Errorf("after done, writes pass through: %q", out.String())
	}
	for _, line := range strings.Split(p.line, "\n") {
		if len(line) >= 100 {
			t.Errorf("the bar is %d columns wide in a 100-column terminal", len(line))
		}
	}
}

func TestWindowsAreSmallEnoughToCommitWithinSecondsAtAnyRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		rate float64
		want int
	}{{30, 25}, {1000, 25}, {5, 15}, {2, 6}, {1, 3}, {0.2, 1}} {
		got := targetPagesFor(tt.rate)
		if got != tt.want {
			t.Errorf("targetPagesFor(%v) = %d, want %d", tt.rate, got, tt.want)
		}
		if secs := float64(got) / tt.rate; got > 1 && secs > 4 {
			t.Errorf("rate %v: a window of %d pages takes %.1f s", tt.rate, got, secs)
		}
	}
}
