package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/archivetest"
	"github.com/cbarchive/cbarchive/livesim"
)

func TestReconcilingBackfillRepairsAWrongArchive(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	const d = "r.example.com"
	h := newHarness(t, livesim.Config{Seed: 12, Domains: []string{d}, RecordsPerDay: 3000, DaysBack: 1, RateLimit: -1,
		Now: func() time.Time { return end }})
	// Dense seconds: 40 records each, 5 seconds apart.
	for i := range 20 {
		h.sim.AddBurst(d, end.Add(-2*time.Hour+time.Duration(i)*5*time.Second), 40)
	}
	o := opts{lookback: 4 * time.Hour, pageSize: 200, rate: 1000}
	mustSucceed(t, h.pipeline(o).Sync(context.Background(), []string{d}))
	h.assertExact(d, end.Add(-3*time.Hour-50*time.Minute), end.Add(-3*time.Minute))

	from, to := end.Add(-3*time.Hour), end.Add(-time.Hour)
	// Damage on records of unique identity, each kind in its own half hour: 5 phantom copies,
	// 1 record of an identity the API lacks, 4 lost, 3 with another response side.
	part := func(i int) []callback.Record {
		at := from.Add(time.Duration(i) * 30 * time.Minute)
		return archivetest.Unique(h.sim.Records(d, at, at.Add(30*time.Minute-time.Second)))
	}
	var twice []callback.Record
	for _, r := range part(0)[:5] {
		twice = append(twice, r, r)
	}
	archivetest.LoadRead(t, h.store, d, twice...)
	archivetest.LoadRead(t, h.store, d, archivetest.Foreign(part(1)[0]))
	archivetest.DeleteRows(t, h.dbURL, d, from.Add(time.Hour), from.Add(90*time.Minute), 4)
	changed := part(3)[:3]
	archivetest.LoadRead(t, h.store, d, archivetest.Changed(changed[0]), archivetest.Changed(changed[1]), archivetest.Changed(changed[2]))
	inRange := "SELECT count(*) FROM callback_records WHERE callback_time >= $1 AND callback_time < $2"
	if got, want := h.count(inRange, from, to), len(h.sim.Records(d, from, to.Add(-time.Nanosecond)))+5+1-4; got != want {
		t.Fatalf("the damaged range holds %d rows, want %d", got, want)
	}

	// Answers come in a fresh random order within each second now: the reconciling read must
	// still be complete.
	if err := h.sim.SetOrder(livesim.OrderShuffleTies); err != nil {
		t.Fatal(err)
	}
	plan, err := extract.PlanBackfill(end.Add(-3*time.Hour-50*time.Minute), end.Add(-30*time.Minute), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o.reconcile = true
	p := h.pipeline(o)
	res := p.Backfill(context.Background(), []string{d}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.Removed != 6 || c.New != 4 || c.Updated != 3 {
		t.Errorf("reconcile counts %+v, want Removed 6 (5 phantom copies, 1 foreign), New 4, Updated 3", c)
	}
	h.assertExact(d, end.Add(-3*time.Hour-50*time.Minute), end.Add(-3*time.Minute))
	if n := h.count(`SELECT count(*) FROM callback_records_removed WHERE domain = $1 AND reason = $2 AND run_id = $3
		AND callback_time >= $4 AND callback_time < $5`, d, ReconcileReason, p.cfg.RunID, from, to); n != 6 {
		t.Errorf("callback_records_removed holds %d rows of the run with its reason, want 6", n)
	}
	if n := h.count(`SELECT count(*) FROM callback_records_removed WHERE record::text LIKE '%phantom%'`); n != 1 {
		t.Errorf("the foreign phantom's content is not in callback_records_removed (%d rows)", n)
	}

	// Reconciling the same range again finds nothing to do and writes nothing.
	before := h.xmins()
	res = h.pipeline(o).Backfill(context.Background(), []string{d}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.Removed != 0 || c.New != 0 || c.Updated != 0 {
		t.Errorf("second reconcile counts %+v, want nothing removed or written", c)
	}
	after := h.xmins()
	if len(after) != len(before) {
		t.Fatalf("rows: %d before, %d after", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %s rewritten by a second reconcile", k)
		}
	}
}
