package pipeline

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
)

// threeDays serves 3 domains with 3 days of records that end 5 minutes ago: no record
// arrives while the test runs.
func threeDays(t *testing.T) *harness {
	end := time.Now().Add(-5 * time.Minute)
	return newHarness(t, livesim.Config{Seed: 7, NumDomains: 3, RecordsPerDay: 1200, DaysBack: 3, Now: func() time.Time { return end }})
}

func TestFullSyncEqualsTheAPIsRecords(t *testing.T) {
	t.Parallel()
	h := threeDays(t)
	before := time.Now()
	res := h.pipeline(opts{lookback: 73 * time.Hour}).Sync(context.Background(), h.sim.Domains())
	after := time.Now()
	mustSucceed(t, res)
	if n := h.count("SELECT count(*) FROM callback_records"); n < 10000 {
		t.Fatalf("only %d records archived; the test wants at least 10,000", n)
	}
	h.assertExactUpToWatermarks()
	// The watermark is now − settle (2m, whole seconds) at some instant of the run.
	for d, cp := range h.checkpoints() {
		if lo, hi := before.Add(-2*time.Minute-time.Second), after.Add(-2*time.Minute); cp.Watermark.Before(lo) || cp.Watermark.After(hi) {
			t.Errorf("%s: watermark %v, want the 2m settle before some instant of the run: within [%v, %v]", d, cp.Watermark, lo, hi)
		}
	}
}

func TestSecondSyncAndBackfillWriteNothing(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 7, NumDomains: 3, RecordsPerDay: 400, DaysBack: 3, Now: func() time.Time { return end }})
	o := opts{lookback: 73 * time.Hour, overlap: 24 * time.Hour}
	mustSucceed(t, h.pipeline(o).Sync(context.Background(), h.sim.Domains()))
	before := h.xmins()

	res := h.pipeline(o).Sync(context.Background(), h.sim.Domains())
	mustSucceed(t, res)
	for _, d := range res.Domains {
		if d.Counts.New != 0 || d.Counts.Updated != 0 || d.Counts.Unchanged == 0 {
			t.Errorf("second sync of %s: %+v, want only unchanged rows", d.Domain, d.Counts)
		}
	}
	plan, err := extract.PlanBackfill(time.Now().Add(-73*time.Hour), time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res = h.pipeline(o).Backfill(context.Background(), h.sim.Domains(), plan)
	mustSucceed(t, res)
	for _, d := range res.Domains {
		if d.Counts.New != 0 || d.Counts.Updated != 0 {
			t.Errorf("backfill of %s: %+v, want nothing new or updated", d.Domain, d.Counts)
		}
	}
	after := h.xmins()
	if !maps.Equal(before, after) {
		changed := 0
		for k, v := range after {
			if before[k] != v {
				changed++
			}
		}
		t.Fatalf("re-reads wrote rows: %d rows before, %d after, %d with a new xmin", len(before), len(after), changed)
	}
	h.assertExactUpToWatermarks()
}

// rec builds a record at t.
func rec(domain string, t time.Time, stream, body string) callback.Record {
	return callback.Record{
		Domain: domain, App: "live", Stream: stream, CallbackTime: t.Format(time.RFC3339),
		CallbackEventType: "push_start", CallbackMethod: "post", CallbackAddress: "http://hooks.example.com/cb",
		CallbackStatus: "success", CallbackBody: body, CallbackResponseCode: "200",
		CallbackResponseHeader: "HTTP/1.1 200 OK", CallbackResponseBody: `{"ok":true}`,
		CallbackResponseTime: t.Add(120 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00"),
	}
}

func TestBoundaryRecordsAreArchivedOnceWhenWindowsTouch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"edge.example.com"}})
	edge := time.Now().Add(-6 * time.Hour).Truncate(time.Second)
	h.sim.Add(
		rec("edge.example.com", edge, "s1", `{"n":1}`),
		rec("edge.example.com", edge, "s2", `{"n":2}`),
		rec("edge.example.com", edge, "s2", `{"n":2}`), // an exact copy: two records, two rows
		rec("edge.example.com", edge.Add(-time.Second), "s3", `{"n":3}`),
		rec("edge.example.com", edge.Add(time.Second), "s4", `{"n":4}`),
	)
	ctx := context.Background()
	for _, r := range []extract.Range{{Start: edge.Add(-time.Hour), End: edge}, {Start: edge, End: edge.Add(time.Hour)}} {
		mustSucceed(t, h.pipeline(opts{}).Backfill(ctx, []string{"edge.example.com"}, extract.Plan{Read: r}))
	}
	// And a sync whose windows are cut at the edge by the sizer's density.
	mustSucceed(t, h.pipeline(opts{lookback: 7 * time.Hour}).Sync(ctx, []string{"edge.example.com"}))
	if n := h.count("SELECT count(*) FROM callback_records WHERE callback_time = $1", edge); n != 3 {
		t.Errorf("%d rows at the edge second, want 3 (one record and two identical copies)", n)
	}
	h.assertExact("edge.example.com", edge.Add(-time.Hour), edge.Add(time.Hour))
}

func TestIdenticalRecordsAreKRowsAndChangedResponsesUpdateInPlace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"k.example.com"}})
	at := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	for range 4 {
		h.sim.Add(rec("k.example.com", at, "same", `{"same":true}`))
	}
	h.sim.Add(rec("k.example.com", at.Add(time.Minute), "changes", `{"x":1}`))
	ctx := context.Background()
	mustSucceed(t, h.pipeline(opts{lookback: 4 * time.Hour}).Sync(ctx, []string{"k.example.com"}))
	if n := h.count("SELECT count(*) FROM callback_records WHERE stream = 'same'"); n != 4 {
		t.Fatalf("%d rows for 4 identical records", n)
	}
	var firstSeen time.Time
	if err := h.store.Pool().QueryRow(ctx, "SELECT first_seen_at FROM callback_records WHERE stream = 'changes'").Scan(&firstSeen); err != nil {
		t.Fatal(err)
	}
	changed := h.sim.UpdateWhere(func(r *callback.Record) bool { return r.Stream == "changes" }, func(r *callback.Record) {
		r.CallbackStatus, r.CallbackResponseCode, r.CallbackResponseBody = "fail", "502", "bad gateway"
		r.CallbackErrorCode, r.CallbackErrorMessage = "upstream", "502"
	})
	if changed != 1 {
		t.Fatalf("livesim changed %d records, want 1", changed)
	}
	plan, err := extract.PlanBackfill(at.Add(-time.Hour), at.Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res := h.pipeline(opts{}).Backfill(ctx, []string{"k.example.com"}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.Updated != 1 || c.New != 0 {
		t.Errorf("backfill counts %+v, want exactly one update", c)
	}
	var status string
	var code *int32
	var fs, upd time.Time
	if err := h.store.Pool().QueryRow(ctx, "SELECT status, response_code, first_seen_at, updated_at FROM callback_records WHERE stream = 'changes'").
		Scan(&status, &code, &fs, &upd); err != nil {
		t.Fatalf("the changed record is not exactly one row: %v", err)
	}
	if status != "fail" || code == nil || *code != 502 || !fs.Equal(firstSeen) || !upd.After(fs) {
		t.Errorf("after the upstream change: status %q code %v first_seen %v (was %v) updated %v", status, code, fs, firstSeen, upd)
	}
	h.assertExact("k.example.com", at.Add(-time.Hour), at.Add(time.Hour))
}

func TestOnPageReportsEveryPageBeforeItsWindowCommits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{Seed: 12, Domains: []string{"p.example.com"}, RecordsPerDay: 2000, DaysBack: 1})
	var mu sync.Mutex
	var pages, reported int
	var committed int64
	var windows []int64
	o := opts{lookback: 25 * time.Hour, pageSize: 50, targetPgs: 4,
		onPage: func(domain string, n int) {
			mu.Lock()
			defer mu.Unlock()
			if domain != "p.example.com" {
				t.Errorf("page of %q", domain)
			}
			pages++
			reported += n
		},
		onWindow: func(ev WindowEvent) {
			mu.Lock()
			defer mu.Unlock()
			// Every record of the window was reported page by page before it committed (pages
			// of windows read ahead, and of queries split again, may come earlier).
			committed += ev.Records
			if int64(reported) < committed {
				t.Errorf("window %s: pages reported %d records, %d committed", ev.Window, reported, committed)
			}
			windows = append(windows, ev.Records)
		}}
	mustSucceed(t, h.pipeline(o).Sync(context.Background(), h.sim.Domains()))
	mu.Lock()
	defer mu.Unlock()
	if len(windows) < 2 || pages < 2*len(windows) {
		t.Errorf("%d pages in %d windows: want several windows of several pages", pages, len(windows))
	}
}

func TestCancelMidWindowThenRerunIsExact(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{Seed: 11, NumDomains: 2, RecordsPerDay: 1000, DaysBack: 2, Latency: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var windows atomic.Int32
	o := opts{lookback: 49 * time.Hour, pageSize: 50, targetPgs: 5, onWindow: func(WindowEvent) {
		if windows.Add(1) == 3 {
			// Cancel while the other domain's window is between pages.
			cancel()
		}
	}}
	res := h.pipeline(o).Sync(ctx, h.sim.Domains())
	cancelled := 0
	for _, d := range res.Domains {
		if d.Outcome == OutcomeCancelled {
			cancelled++
		}
	}
	if cancelled == 0 {
		t.Fatalf("no domain was cancelled: %+v", res.Domains)
	}
	// The checkpoint never passes data that is not in the table.
	h.assertExactUpToWatermarks()
	if n := h.count("SELECT count(*) FROM sync_runs WHERE outcome = 'cancelled'"); n == 0 {
		t.Error("sync_runs does not record the cancelled run")
	}
	o.onWindow = nil
	before := time.Now()
	mustSucceed(t, h.pipeline(o).Sync(context.Background(), h.sim.Domains()))
	h.assertExactUpToWatermarks()
	for d, cp := range h.checkpoints() {
		// Caught up: the watermark reached now − the 2m settle of the rerun's start, at least.
		if lo := before.Add(-2*time.Minute - time.Second); cp.Watermark.Before(lo) {
			t.Errorf("%s not caught up after the rerun: watermark %v, want at least %v", d, cp.Watermark, lo)
		}
	}
}

func TestRecordsOverThreeMonthsLandInThreeMonthlyPartitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"p.example.com"}})
	now := time.Now().UTC()
	var recs []callback.Record
	// The three months before this one, all past whatever today is (on the 1st, "now − 1h"
	// may still be last month): at most 123 days back, inside a 130-day lookback.
	for m := 1; m <= 3; m++ {
		at := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC).AddDate(0, -m, 0)
		for i := range 5 {
			recs = append(recs, rec("p.example.com", at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("s%d", i), "{}"))
		}
	}
	h.sim.Add(recs...)
	mustSucceed(t, h.pipeline(opts{lookback: 130 * 24 * time.Hour}).Sync(context.Background(), []string{"p.example.com"}))
	var parts []string
	rows, err := h.store.Pool().Query(context.Background(),
		"SELECT DISTINCT tableoid::regclass::text FROM callback_store ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	if len(parts) != 3 {
		t.Fatalf("rows are in partitions %v, want 3 monthly ones", parts)
	}
	for _, p := range parts {
		if p == "callback_store_default" {
			t.Errorf("rows landed in a default partition")
		}
	}
	if n := h.count("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'callback_store'::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"); n != 0 {
		t.Errorf("a DEFAULT partition exists")
	}
	h.assertExact("p.example.com", now.AddDate(0, -4, 0), now)
}

func TestLateRecordsWithinTheOverlapAreArchivedByTheNextRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"late.example.com"}})
	ctx := context.Background()
	o := opts{lookback: 2 * time.Hour, overlap: 30 * time.Minute}
	mustSucceed(t, h.pipeline(o).Sync(ctx, []string{"late.example.com"}))
	wm := h.checkpoints()["late.example.com"].Watermark
	// A record that the API shows only now, 10 minutes before the watermark.
	h.sim.Add(rec("late.example.com", wm.Add(-10*time.Minute), "late", `{"late":true}`))
	mustSucceed(t, h.pipeline(o).Sync(ctx, []string{"late.example.com"}))
	if n := h.count("SELECT count(*) FROM callback_records WHERE stream = 'late'"); n != 1 {
		t.Fatalf("the late record is archived %d times, want once", n)
	}
	h.assertExactUpToWatermarks()
}

func TestAnOldWatermarkWarnsOfTheHorizon(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"exp.example.com"}})
	ctx := context.Background()
	old := time.Now().Add(-340 * 24 * time.Hour)
	if _, err := h.store.Pool().Exec(ctx, `INSERT INTO sync_checkpoints (domain, first_start, watermark) VALUES ('exp.example.com', $1, $1)`, old); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	p := h.pipeline(opts{})
	p.log = zap.New(core)
	mustSucceed(t, p.Sync(ctx, []string{"exp.example.com"}))
	if logs.FilterMessageSnippet("EXPIRY").Len() != 1 {
		t.Errorf("no expiry warning for a watermark 340 days old; logs: %v", logs.All())
	}
}
