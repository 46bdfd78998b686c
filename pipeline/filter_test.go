package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
)

// Status is not part of a record's identity: a status-filtered run must not renumber an
// identity's records, overwrite one status with another, or duplicate a record when another
// status's response changes upstream. Status-filtered runs archive every status.
func TestStatusFilterNeverOverwritesOrDuplicates(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{EmptyData: true, Domains: []string{"f.example.com"}})
	at := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	ok := rec("f.example.com", at, "same", `{"x":1}`)
	bad := ok
	bad.CallbackStatus, bad.CallbackResponseCode = "fail", "500"
	h.sim.Add(ok, bad, ok)
	ctx := context.Background()
	onlyFail := opts{lookback: 3 * time.Hour, filter: extract.Filter{Statuses: []string{"fail"}}}

	// A status-filtered sync archives the whole window, every status.
	mustSucceed(t, h.pipeline(onlyFail).Sync(ctx, []string{"f.example.com"}))
	h.assertExact("f.example.com", at.Add(-time.Hour), at.Add(time.Hour))
	// A full sync then finds nothing to do.
	res := h.pipeline(opts{lookback: 3 * time.Hour}).Sync(ctx, []string{"f.example.com"})
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.New != 0 || c.Updated != 0 {
		t.Errorf("full sync after a status-filtered one wrote %+v", c)
	}
	// The success records' response changes upstream (their content hash moves past the failed
	// record's): a status-filtered backfill updates them in place and adds nothing.
	h.sim.UpdateWhere(func(r *callback.Record) bool { return r.CallbackStatus == "success" }, func(r *callback.Record) {
		r.CallbackResponseBody = "changed upstream"
	})
	plan, err := extract.PlanBackfill(at.Add(-time.Hour), at.Add(time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res = h.pipeline(onlyFail).Backfill(ctx, []string{"f.example.com"}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.New != 0 {
		t.Errorf("status-filtered backfill added rows: %+v", c)
	}
	if n := h.count("SELECT count(*) FROM callback_records WHERE status = 'fail'"); n != 1 {
		t.Errorf("%d failed rows, want 1", n)
	}
	if n := h.count("SELECT count(*) FROM callback_records WHERE status = 'success'"); n != 2 {
		t.Errorf("%d success rows, want 2", n)
	}
	h.assertExact("f.example.com", at.Add(-time.Hour), at.Add(time.Hour))
}
