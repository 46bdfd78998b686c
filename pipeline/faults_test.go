package pipeline

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
)

// faultHarness serves 2 domains with a day of records that end 5 minutes ago.
func faultHarness(t *testing.T, f livesim.Faults) *harness {
	end := time.Now().Add(-5 * time.Minute)
	return newHarness(t, livesim.Config{Seed: 3, NumDomains: 2, RecordsPerDay: 1500, DaysBack: 1, Faults: f,
		Now: func() time.Time { return end }})
}

func TestEveryFaultClassEndsExact(t *testing.T) {
	t.Parallel()
	classes := append([]livesim.FaultClass(nil), livesim.AllFaultClasses...)
	cases := map[string][]livesim.FaultClass{"all mixed": classes}
	for _, c := range classes {
		cases[string(c)] = []livesim.FaultClass{c}
	}
	for name, cs := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := faultHarness(t, livesim.Faults{Rate: 0.1, Classes: cs, SlowDelay: 3 * time.Second, Seed: 5})
			// 100-record pages: about 30 requests, some of them faulty; slow answers (3 s) time
			// out (2 s) and are retried.
			res := h.pipeline(opts{lookback: 25 * time.Hour, pageSize: 100, targetPgs: 4, maxTries: 10, timeout: 2 * time.Second}).
				Sync(context.Background(), h.sim.Domains())
			mustSucceed(t, res)
			if h.sim.Stats().Faults == 0 {
				t.Fatalf("livesim injected no fault of %v", cs)
			}
			// Whether livesim's own limiter answered 429 depends on when requests arrived at the
			// server, which a busy machine shifts; the limit is checked on the client's send
			// intervals (TestNoSecondEverSeesMoreThanTheRateLimitUnderFaults).
			h.assertExactUpToWatermarks()
		})
	}
}

func TestPaginationDriftOnManyWindowsEndsExact(t *testing.T) {
	t.Parallel()
	h := faultHarness(t, livesim.Faults{Rate: 0.3, Classes: []livesim.FaultClass{livesim.FaultDrift}, Seed: 9})
	res := h.pipeline(opts{lookback: 25 * time.Hour, pageSize: 50, targetPgs: 5, maxTries: 10}).Sync(context.Background(), h.sim.Domains())
	mustSucceed(t, res)
	drifted := 0
	for _, r := range h.sim.Requests() {
		if r.Fault == livesim.FaultDrift {
			drifted++
		}
	}
	if drifted < 3 {
		t.Fatalf("only %d drift faults injected", drifted)
	}
	// Drift added records to livesim mid-read: the archive must hold them too.
	h.assertExactUpToWatermarks()
}

// A day of 2,000 pages of 10 records is read in many windows of a few pages each (the reader
// splits a window at its target pages, long before the API's page limit), with hardly more
// requests than pages, and exact.
func TestDenseDayWithTinyPagesIsSplitAndExact(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 21, Domains: []string{"dense.example.com"}, RecordsPerDay: 21000, DaysBack: 1,
		RateLimit: -1, Now: func() time.Time { return end }})
	res := h.pipeline(opts{lookback: 24 * time.Hour, pageSize: 10, rate: 1000, noBudget: true}).Sync(context.Background(), h.sim.Domains())
	mustSucceed(t, res)
	st := h.sim.Stats()
	if st.PageNumViolations != 0 || st.PageSizeViolations != 0 || st.SpanViolations != 0 {
		t.Fatalf("limits violated: %+v", st)
	}
	maxPage := 0
	for _, r := range h.sim.Requests() {
		maxPage = max(maxPage, r.PageNum)
	}
	if maxPage > extract.MaxPageNum {
		t.Fatalf("a request asked for page %d", maxPage)
	}
	if res.Domains[0].Windows < 2 {
		t.Fatalf("the day was read in %d window(s); it needs splitting", res.Domains[0].Windows)
	}
	n := h.count("SELECT count(*) FROM callback_records")
	if n < 20000 {
		t.Fatalf("%d records archived, want > 20,000", n)
	}
	minimum := (n + 9) / 10
	if got := int(res.Domains[0].Requests); got > minimum*11/10 {
		t.Errorf("%d requests for %d records at page size 10: more than 1.1 x the minimum %d", got, n, minimum)
	}
	h.assertExactUpToWatermarks()
}

func TestNoSecondEverSeesMoreThanTheRateLimitUnderFaults(t *testing.T) {
	t.Parallel()
	h := faultHarness(t, livesim.Faults{Rate: 0.1, Classes: livesim.AllFaultClasses, SlowDelay: 3 * time.Second, Seed: 17})
	sends := newSendLog()
	res := h.pipeline(opts{rate: 20, lookback: 25 * time.Hour, pageSize: 20, targetPgs: 20, maxTries: 10, sends: sends, timeout: 2 * time.Second}).Sync(context.Background(), h.sim.Domains())
	mustSucceed(t, res)
	if got := sends.maxSurelyInOneSecond(); got > 20 {
		t.Fatalf("%d requests were written within one second; --rate-limit is 20", got)
	}
	if n := sends.count(); n < 100 {
		t.Fatalf("only %d requests: not enough to test the limit", n)
	}
	h.assertExactUpToWatermarks()
}

func TestBackfillOlderThanTheHistoryIsClampedAndRecordedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{Seed: 4, Domains: []string{"old.example.com"}, RecordsPerDay: 20, DaysBack: 30})
	now := time.Now()
	for range 2 {
		plan, err := extract.PlanBackfill(now.Add(-400*24*time.Hour), now.Add(-330*24*time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		mustSucceed(t, h.pipeline(opts{}).Backfill(context.Background(), []string{"old.example.com"}, plan))
	}
	horizon := time.Now().Add(-extract.History)
	for _, r := range h.sim.Requests() {
		if r.Action == extract.ActionDescribe && r.StartTime.Before(horizon.Add(-time.Minute)) {
			t.Fatalf("a request started at %v, older than 366 days", r.StartTime)
		}
	}
	if st := h.sim.Stats(); st.HistoryViolations != 0 || st.SpanViolations != 0 {
		t.Fatalf("limits violated: %+v", st)
	}
	if n := h.count("SELECT count(*) FROM sync_gaps WHERE domain = 'old.example.com'"); n != 1 {
		t.Fatalf("%d sync_gaps rows after two backfills, want 1", n)
	}
}

func TestWrongSecretFailsFastNamingTheCode(t *testing.T) {
	t.Parallel()
	h := faultHarness(t, livesim.Faults{})
	res := h.pipeline(opts{secret: "wrong-secret-value", lookback: time.Hour}).Sync(context.Background(), h.sim.Domains())
	// Failing fast means not retrying: one refused request per domain.
	if n, domains := len(h.sim.Requests()), len(h.sim.Domains()); n > domains {
		t.Errorf("a wrong secret was sent %d times for %d domains: it is not worth a retry", n, domains)
	}
	for _, d := range res.Domains {
		if d.Outcome != OutcomeFailed {
			t.Fatalf("%s: outcome %s, want failed", d.Domain, d.Outcome)
		}
		msg := d.Err.Error()
		if !strings.Contains(msg, "SignatureDoesNotMatch") || strings.Contains(msg, "wrong-secret-value") {
			t.Errorf("error %q should name SignatureDoesNotMatch and never the secret", msg)
		}
	}
	var errText string
	if err := h.store.Pool().QueryRow(context.Background(), "SELECT error FROM sync_runs WHERE outcome = 'failed' LIMIT 1").Scan(&errText); err != nil {
		t.Fatalf("sync_runs has no failed run: %v", err)
	}
	if strings.Contains(errText, "wrong-secret-value") {
		t.Error("sync_runs holds the secret")
	}
}

func TestTwoConcurrentSyncsEndExact(t *testing.T) {
	t.Parallel()
	h := faultHarness(t, livesim.Faults{})
	o := opts{lookback: 25 * time.Hour, pageSize: 100}
	var wg sync.WaitGroup
	results := make([]Result, 2)
	for i := range 2 {
		wg.Go(func() { results[i] = h.pipeline(o).Sync(context.Background(), h.sim.Domains()) })
	}
	wg.Wait()
	for _, r := range results {
		for _, d := range r.Domains {
			if d.Outcome != OutcomeSuccess && d.Outcome != OutcomeSkipped {
				t.Fatalf("%s: %s: %v", d.Domain, d.Outcome, d.Err)
			}
		}
	}
	h.assertExactUpToWatermarks()
}

func TestSyncAndBackfillTogetherShareTheAccountsRate(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 8, NumDomains: 2, RecordsPerDay: 1500, DaysBack: 2, Now: func() time.Time { return end }})
	ds := h.sim.Domains()
	plan, err := extract.PlanBackfill(time.Now().Add(-49*time.Hour), time.Now(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var syncRes, backRes Result
	sends := newSendLog() // both processes' requests, as the API would see them
	wg.Go(func() {
		syncRes = h.pipeline(opts{lookback: 49 * time.Hour, pageSize: 20, targetPgs: 10, sends: sends}).Sync(context.Background(), ds[:1])
	})
	wg.Go(func() {
		backRes = h.pipeline(opts{pageSize: 20, targetPgs: 10, sends: sends}).Backfill(context.Background(), ds[1:], plan)
	})
	wg.Wait()
	mustSucceed(t, syncRes)
	mustSucceed(t, backRes)
	if got := sends.maxSurelyInOneSecond(); got > 30 {
		t.Fatalf("sync and backfill together wrote %d requests within one second; the account's limit is 30", got)
	}
	if n := sends.count(); n < 200 {
		t.Fatalf("only %d requests: not enough to test the shared limit", n)
	}
	h.assertExact(ds[1], plan.Read.Start, plan.Read.End)
}

// A domain that starts long after the command planned (waiting for a slot or a lock) clamps
// its range again: the history limit has moved meanwhile.
func TestBackfillClampsAgainWhenADomainStartsLate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, livesim.Config{Seed: 4, Domains: []string{"late.example.com"}, RecordsPerDay: 20, DaysBack: 10})
	planned := time.Now()
	plan, err := extract.PlanBackfill(planned.Add(-400*24*time.Hour), planned.Add(-360*24*time.Hour), planned)
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(3 * time.Hour) } // the domain starts 3 hours later
	mustSucceed(t, h.pipeline(opts{now: later}).Backfill(context.Background(), []string{"late.example.com"}, plan))
	horizon := extract.Horizon(later())
	for _, r := range h.sim.Requests() {
		if r.Action == extract.ActionDescribe && r.StartTime.Before(horizon.Add(-time.Minute)) {
			t.Fatalf("a request started at %v, before the history limit at the domain's start (%v)", r.StartTime, horizon)
		}
	}
	var gapEnd time.Time
	if err := h.store.Pool().QueryRow(context.Background(), "SELECT gap_end FROM sync_gaps").Scan(&gapEnd); err != nil {
		t.Fatal(err)
	}
	if gapEnd.Before(horizon.Add(-time.Minute)) {
		t.Errorf("the gap ends at %v, before the re-clamped start %v", gapEnd, horizon)
	}
}
