package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// The benchmark re-executes its own binary as livesim's child: here, this test binary.
		perDay := flag.Int("records-per-day", 0, "")
		domains := flag.Int("domains", 0, "")
		days := flag.Int("days", 0, "")
		rate := flag.Float64("rate", 0, "")
		latency := flag.Duration("latency", 0, "")
		jitter := flag.Duration("jitter", 0, "")
		order := flag.String("order", "stable", "")
		flag.Parse()
		serveChild(*perDay, *domains, *days, int(*rate), *latency, *jitter, *order)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestBenchmarkReportsEveryFigureOnATinyAccount(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 300, 2, 1, 30, 100, 5*time.Millisecond, 2*time.Millisecond, "shuffle", 0, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"requests/s:", "records/s into PG:", "requests spent:", "peak RSS:", "max_in_any_second=", "order shuffle (learned: not_sorted)", "trace: gap of"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
