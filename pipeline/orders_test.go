package pipeline

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
)

// syncThenBackfillWritesNothing syncs every domain, then backfills the whole synced range and
// checks the backfill wrote no row (xmin and xmax unchanged) and the archive is exact.
func syncThenBackfillWritesNothing(t *testing.T, h *harness, o opts, lookback time.Duration) {
	t.Helper()
	ctx := context.Background()
	o.lookback = lookback
	mustSucceed(t, h.pipeline(o).Sync(ctx, h.sim.Domains()))
	h.assertExactUpToWatermarks()
	before := h.xmins()
	if len(before) == 0 {
		t.Fatal("nothing archived")
	}
	now := time.Now()
	plan, err := extract.PlanBackfill(now.Add(-lookback), now, now)
	if err != nil {
		t.Fatal(err)
	}
	res := h.pipeline(o).Backfill(ctx, h.sim.Domains(), plan)
	mustSucceed(t, res)
	for _, d := range res.Domains {
		if d.Counts.New != 0 || d.Counts.Updated != 0 {
			t.Errorf("backfill of %s: %+v, want nothing new or updated", d.Domain, d.Counts)
		}
	}
	if after := h.xmins(); !maps.Equal(before, after) {
		changed := 0
		for k, v := range after {
			if before[k] != v {
				changed++
			}
		}
		t.Fatalf("the backfill wrote rows: %d rows before, %d after, %d with a new xmin or xmax", len(before), len(after), changed)
	}
	h.assertExactUpToWatermarks()
}

// Under every answer order the API may use, with bursts of hundreds of records in one second
// that fit a page, a sync is exact and a backfill of the same range writes nothing.
func TestExactUnderEveryAnswerOrderWithDenseSeconds(t *testing.T) {
	t.Parallel()
	for _, order := range livesim.AllOrders {
		for _, c := range []struct{ page, burst int }{{1000, 400}, {100, 80}} {
			t.Run(fmt.Sprintf("%s/page%d", order, c.page), func(t *testing.T) {
				t.Parallel()
				end := time.Now().Add(-5 * time.Minute)
				h := newHarness(t, livesim.Config{Seed: 21, NumDomains: 2, RecordsPerDay: 1000, DaysBack: 1,
					Order: order, BurstSize: c.burst, BurstsPerDay: 4, Now: func() time.Time { return end }})
				syncThenBackfillWritesNothing(t, h, opts{pageSize: c.page}, 25*time.Hour)
				if n := h.count("SELECT count(*) FROM sync_gaps"); n != 0 {
					t.Errorf("%d gaps recorded; every second fits a page", n)
				}
			})
		}
	}
}

// Bursts larger than a page: answers that are not provably stable never duplicate a record;
// a second that cannot be read provably complete is in sync_gaps with a reason, and every
// other record is archived exactly.
func TestDenseSecondsOverAPageNeverDuplicate(t *testing.T) {
	t.Parallel()
	for _, order := range livesim.AllOrders {
		t.Run(string(order), func(t *testing.T) {
			t.Parallel()
			end := time.Now().Add(-5 * time.Minute)
			h := newHarness(t, livesim.Config{Seed: 22, Domains: []string{"dense.example.com"}, RecordsPerDay: 800, DaysBack: 1,
				Order: order, Now: func() time.Time { return end }})
			burstAt := end.Add(-3 * time.Hour).Truncate(time.Second)
			h.sim.AddBurst("dense.example.com", burstAt, 350)
			mustSucceed(t, h.pipeline(opts{pageSize: 100, lookback: 25 * time.Hour}).Sync(context.Background(), h.sim.Domains()))
			wm := h.checkpoints()["dense.example.com"].Watermark
			// Outside the recorded gaps the archive is exact; inside them nothing is archived
			// twice (at most the API's records).
			rows, err := h.store.Pool().Query(context.Background(), "SELECT gap_start, gap_end, reason FROM sync_gaps ORDER BY gap_start")
			if err != nil {
				t.Fatal(err)
			}
			type gap struct{ from, to time.Time }
			var gaps []gap
			for rows.Next() {
				var g gap
				var reason string
				if err := rows.Scan(&g.from, &g.to, &reason); err != nil {
					t.Fatal(err)
				}
				if reason != extract.DenseReason || g.to.Sub(g.from) > 2*time.Second || g.to.Before(burstAt) || g.from.After(burstAt) {
					t.Errorf("gap %v..%v (%q): want only the burst's second (and the one before it)", g.from, g.to, reason)
				}
				gaps = append(gaps, g)
			}
			if rows.Err() != nil {
				t.Fatal(rows.Err())
			}
			switch order {
			case livesim.OrderStable, livesim.OrderNewestFirst:
				if len(gaps) != 0 {
					t.Errorf("a stable order with distinct records is provable, yet %d gaps", len(gaps))
				}
			default:
				if len(gaps) == 0 {
					t.Fatal("no gap recorded for a second of 350 records at page size 100 under an unstable order")
				}
			}
			from := h.checkpoints()["dense.example.com"].FirstStart
			cur := from
			for _, g := range gaps {
				h.assertExact("dense.example.com", cur, g.from.Add(-time.Nanosecond))
				if n, truth := h.count("SELECT count(*) FROM callback_records WHERE callback_time >= $1 AND callback_time < $2", g.from, g.to),
					len(h.sim.Records("dense.example.com", g.from, g.to.Add(-time.Nanosecond))); n > truth {
					t.Errorf("gap %v..%v holds %d rows for %d records: duplicates", g.from, g.to, n, truth)
				}
				cur = g.to
			}
			h.assertExact("dense.example.com", cur, wm.Add(-time.Nanosecond))
		})
	}
}

// A result cap at or above the page size (the API counts and serves at most cap results of a
// query) never loses a record.
func TestExactUnderResultCaps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cap   int
		order livesim.Order
	}{{100, livesim.OrderShuffleTies}, {200, livesim.OrderShuffle}, {100, livesim.OrderNewestFirst}, {10000, livesim.OrderStable}} {
		t.Run(fmt.Sprintf("cap%d/%s", c.cap, c.order), func(t *testing.T) {
			t.Parallel()
			end := time.Now().Add(-5 * time.Minute)
			h := newHarness(t, livesim.Config{Seed: 23, NumDomains: 2, RecordsPerDay: 800, DaysBack: 1,
				Order: c.order, ResultCap: c.cap, Now: func() time.Time { return end }})
			syncThenBackfillWritesNothing(t, h, opts{pageSize: 100}, 25*time.Hour)
		})
	}
}

// A 400-day backfill against an API that allows 30-day queries and 365 days of history, each
// counted in the ways the documentation allows, ends successfully with everything the API
// serves archived, the unreachable range in sync_gaps with the API's message, and only a
// handful of refused requests.
func TestRefusedSpanAndHistoryAreNarrowedAndGapped(t *testing.T) {
	t.Parallel()
	for _, counting := range livesim.AllLimitCountings {
		t.Run(string(counting), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, livesim.Config{Seed: 24, Domains: []string{"old.example.com", "old2.example.com"}, RecordsPerDay: 10, DaysBack: 400,
				MaxSpanDays: 30, MaxHistoryDays: 365, LimitCounting: counting})
			now := time.Now()
			plan, err := extract.PlanBackfill(now.Add(-400*24*time.Hour), now, now)
			if err != nil {
				t.Fatal(err)
			}
			mustSucceed(t, h.pipeline(opts{}).Backfill(context.Background(), h.sim.Domains(), plan))
			after := time.Now() // the API's horizon moved during the run: it served from no later than this less 365 days
			refused := 0
			for _, r := range h.sim.Requests() {
				if r.HTTPStatus == 400 {
					refused++
					t.Logf("refused: %v..%v (%s)", r.StartTime, r.EndTime, r.EndTime.Sub(r.StartTime))
				}
			}
			if refused > 12 {
				t.Errorf("%d refused requests, want a handful", refused)
			}
			t.Logf("%d requests, %d refused", len(h.sim.Requests()), refused)
			// Everything the API serves: from its 365-day horizon at the run's end (and the next
			// UTC+8 date for calendar counting), less the learned limit's few seconds, to now.
			served := after.Add(-365*24*time.Hour + time.Minute)
			if counting == livesim.CountCalendar {
				served = served.Add(24 * time.Hour)
			}
			for _, d := range h.sim.Domains() {
				h.assertExact(d, served, plan.Read.End.Add(-time.Nanosecond))
			}
			var apiGaps int
			rows, err := h.store.Pool().Query(context.Background(), "SELECT domain, gap_start, gap_end, reason FROM sync_gaps")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var d, reason string
				var from, to time.Time
				if err := rows.Scan(&d, &from, &to, &reason); err != nil {
					t.Fatal(err)
				}
				t.Logf("gap %s %v..%v: %s", d, from, to, reason)
				if to.After(served) {
					t.Errorf("gap %v..%v reaches into what the API serves (from %v)", from, to, served)
				}
				if strings.Contains(reason, "InvalidParam") {
					apiGaps++
				}
			}
			if apiGaps != len(h.sim.Domains()) {
				t.Errorf("%d gaps with the API's message, want one per domain", apiGaps)
			}
		})
	}
}
