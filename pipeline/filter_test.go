package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
)

// Status is not part of a record's identity: a status-filtered run must not renumber an
// identity's records and overwrite one status with another.
func TestStatusFilterNeverOverwritesOtherStatuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"f.example.com"}})
	at := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	ok := rec("f.example.com", at, "same", `{"x":1}`)
	bad := ok
	bad.CallbackStatus, bad.CallbackResponseCode = "fail", "500"
	h.sim.Add(ok, bad, ok)
	ctx := context.Background()
	onlyFail := opts{lookback: 3 * time.Hour, filter: extract.Filter{Statuses: []string{"fail"}}}

	// A status-filtered sync first: only the failed record is written.
	mustSucceed(t, h.pipeline(onlyFail).Sync(ctx, []string{"f.example.com"}))
	if n := h.count("SELECT count(*) FROM callback_records"); n != 1 {
		t.Fatalf("%d rows after a --status fail sync, want 1", n)
	}
	// A full sync adds the others without touching it.
	mustSucceed(t, h.pipeline(opts{lookback: 3 * time.Hour}).Sync(ctx, []string{"f.example.com"}))
	// And a status-filtered backfill changes nothing.
	plan, err := extract.PlanBackfill(at.Add(-time.Hour), at.Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res := h.pipeline(onlyFail).Backfill(ctx, []string{"f.example.com"}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.New != 0 || c.Updated != 0 {
		t.Errorf("status-filtered backfill wrote %+v", c)
	}
	if n := h.count("SELECT count(*) FROM callback_records WHERE status = 'fail'"); n != 1 {
		t.Errorf("%d failed rows, want 1", n)
	}
	if n := h.count("SELECT count(*) FROM callback_records WHERE status = 'success'"); n != 2 {
		t.Errorf("%d success rows, want 2", n)
	}
	h.assertExact("f.example.com", at.Add(-time.Hour), at.Add(time.Hour))
}
