package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"regexp"
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
	if err := run(&out, 300, 2, 1, 30, 100, 5*time.Millisecond, 2*time.Millisecond, "shuffle", 0, true, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"requests/s:", "records/s into PG:", "requests spent:", "peak RSS:", "max_in_any_second=", "order shuffle (learned: not_sorted)", "trace: gap of"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// -order all: one run per order, then one row per order with that run's figures.
func TestEveryOrderGetsARow(t *testing.T) {
	var out bytes.Buffer
	orders := []string{"stable", "shuffle"}
	err := runOrders(&out, orders, func(w io.Writer, order string, res *result) error {
		return run(w, 200, 1, 1, 30, 100, 5*time.Millisecond, 2*time.Millisecond, order, 0, false, res)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== order stable", "== order shuffle", "| order | records |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	for _, o := range orders {
		row := regexp.MustCompile(`(?m)^\| ` + o + ` \| \d+ \| \d+ vs \d+, \d+\.\d+ × \| \d+\.\d+ \(\d+\.\d %\) \| 0 / \d+ \| \d+\.\d MB \|$`)
		if !row.MatchString(out.String()) {
			t.Errorf("no row for %s with every figure:\n%s", o, out.String())
		}
	}
}
