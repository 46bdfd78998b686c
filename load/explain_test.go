package load

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The anti-join that keeps unchanged rows from being written must probe the unique index of the
// window's partition, not scan the archive.
func TestMergeProbesTheUniqueIndex(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	// An archive of two months, then a re-read of a slice of one of them.
	old := benchRows(time.Date(2025, 5, 20, 0, 0, 0, 0, time.UTC), 2000)
	loadWindow(t, s, testOpts("push.example.com"), old, 1000)
	loadWindow(t, s, testOpts("push.example.com"), benchRows(time.Date(2025, 6, 20, 0, 0, 0, 0, time.UTC), 2000), 1000)
	if _, err := s.Pool().Exec(ctx, `ANALYZE callback_store`); err != nil {
		t.Fatal(err)
	}
	w, err := s.BeginWindow(ctx, testOpts("push.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	if err := w.AddRows(ctx, old[:500]); err != nil {
		t.Fatal(err)
	}
	// A test archive is small enough for a sequential scan to win; at scale the planner picks
	// the index. What must hold is that the index can serve the probe as a range scan (domain
	// and callback_time in its Index Cond) on the one partition of the window.
	if _, err := w.tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	rows, err := w.tx.Query(ctx, `EXPLAIN `+mergeSQL, w.mergeArgs()...)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	p := plan.String()
	if !strings.Contains(p, "Anti Join") ||
		!strings.Contains(p, "on callback_store_y2025m05_domain_callback_time_identity_hash") ||
		!strings.Contains(p, "Index Cond: ((domain = 'push.example.com'::text) AND (callback_time >=") ||
		strings.Contains(p, "y2025m06") {
		t.Fatalf("the anti-join does not probe May's unique index by domain and time:\n%s", p)
	}
	t.Logf("plan:\n%s", p)
}
