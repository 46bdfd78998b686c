package extract

import (
	"testing"
	"time"
)

var now = time.Date(2026, 11, 26, 12, 0, 30, 500_000_000, time.UTC)

func TestPlanSyncStartsAtWatermarkMinusOverlapAndEndsAtSettle(t *testing.T) {
	t.Parallel()
	wm := now.Add(-time.Hour)
	p := PlanSync(SyncParams{Now: now, Watermark: &wm, InitialLookback: 24 * time.Hour, Overlap: 10 * time.Minute, Settle: 2 * time.Minute})
	if want := wm.Add(-10 * time.Minute).Truncate(time.Second); !p.Read.Start.Equal(want) {
		t.Errorf("start = %v, want %v", p.Read.Start, want)
	}
	if want := now.Add(-2 * time.Minute).Truncate(time.Second); !p.Read.End.Equal(want) {
		t.Errorf("end = %v, want %v", p.Read.End, want)
	}
	if p.Gap != nil {
		t.Errorf("unexpected gap %v", p.Gap)
	}
}

func TestPlanSyncNewDomainStartsAtInitialLookback(t *testing.T) {
	t.Parallel()
	p := PlanSync(SyncParams{Now: now, InitialLookback: 36 * time.Hour, Settle: time.Minute})
	if want := now.Add(-36 * time.Hour).Truncate(time.Second); !p.Read.Start.Equal(want) {
		t.Errorf("start = %v, want %v", p.Read.Start, want)
	}
}

func TestPlanNeverReachesPastTheHistoryLimit(t *testing.T) {
	t.Parallel()
	p, err := PlanBackfill(now.Add(-400*24*time.Hour), now.Add(-300*24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Read.Start.Before(now.Add(-History)) {
		t.Errorf("start %v is older than 366 days before %v", p.Read.Start, now)
	}
	if p.Gap == nil || !p.Gap.Start.Equal(now.Add(-400*24*time.Hour).Truncate(time.Second)) || !p.Gap.End.Equal(p.Read.Start) {
		t.Errorf("gap = %v, want from the requested start to the clamped start %v", p.Gap, p.Read.Start)
	}
}

// The history limit's exact instants, written out: 366 days before now (2026-11-26T12:00:30.5Z)
// is 2025-11-25T12:00:30.5Z; 10 minutes inside it, rounded up to the second.
func TestTheHistoryLimitIs366DaysLessTheMargin(t *testing.T) {
	t.Parallel()
	horizon := time.Date(2025, 11, 25, 12, 10, 31, 0, time.UTC)
	if got := Horizon(now); !got.Equal(horizon) {
		t.Errorf("Horizon(%v) = %v, want %v", now, got, horizon)
	}
	requested := Range{Start: time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)}
	p := Clamp(requested, now)
	if want := (Range{Start: horizon, End: requested.End}); p.Read != want {
		t.Errorf("read %v, want %v", p.Read, want)
	}
	if want := (Range{Start: requested.Start, End: horizon}); p.Gap == nil || *p.Gap != want {
		t.Errorf("gap %v, want %v", p.Gap, want)
	}
	// Wholly older: nothing to read, all of it a gap.
	old := Range{Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)}
	p = Clamp(old, now)
	if !p.Read.Empty() || p.Gap == nil || *p.Gap != old {
		t.Errorf("a range wholly older: read %v gap %v, want an empty read and all of it a gap", p.Read, p.Gap)
	}
	// Wholly newer: untouched.
	recent := Range{Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)}
	if p = Clamp(recent, now); p.Read != recent || p.Gap != nil {
		t.Errorf("a recent range: read %v gap %v, want it untouched", p.Read, p.Gap)
	}
}

func TestFilterQueriedReadsEveryStatus(t *testing.T) {
	t.Parallel()
	f := Filter{EventTypes: []string{"push"}, Statuses: []string{"failed"}, App: "live", Stream: "s"}
	q := f.Queried()
	if q.Statuses != nil || len(q.EventTypes) != 1 || q.App != "live" || q.Stream != "s" {
		t.Errorf("Queried() = %+v, want every field but the statuses", q)
	}
	if len(f.Statuses) != 1 || f.Key() != "event_type=push;status=failed;app=live;stream=s" {
		t.Errorf("Queried changed the filter or its key: %+v %q", f, f.Key())
	}
}

func TestPlanBackfillRejectsBadRanges(t *testing.T) {
	t.Parallel()
	if _, err := PlanBackfill(now, now.Add(-time.Hour), now); err == nil {
		t.Error("end before start accepted")
	}
	if _, err := PlanBackfill(now.Add(time.Hour), now.Add(2*time.Hour), now); err == nil {
		t.Error("a start in the future accepted")
	}
	p, err := PlanBackfill(now.Add(-time.Hour), now.Add(time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Read.End.After(now) {
		t.Errorf("end %v is past now", p.Read.End)
	}
}

func TestSizerUsesTheObservedDensity(t *testing.T) {
	t.Parallel()
	s := NewSizer(func() int { return 1000 }, func() time.Duration { return MaxSpan })
	start := now.Add(-90 * 24 * time.Hour)
	if got := s.Next(start, now); !got.Equal(start.Add(MaxSpan - time.Second)) {
		t.Errorf("with no density the window is %v, want the 31-day maximum less the query's margin second", got.Sub(start))
	}
	s.Observe(1, 1000) // one record per second
	if got := s.Next(start, now).Sub(start); got != 1000*time.Second {
		t.Errorf("window = %v, want 1000s at 1 record/s", got)
	}
	if got := s.Next(now.Add(-time.Second), now); !got.Equal(now) {
		t.Errorf("window past the end: %v", got)
	}
}

// A window's density moves the Sizer's by records / (records + 400): little for a window of a
// page or less (whose count is noisy), nearly all the way for one of thousands.
func TestTheSizerWeighsADensityByItsRecords(t *testing.T) {
	t.Parallel()
	s := NewSizer(func() int { return 1000 }, func() time.Duration { return MaxSpan })
	start := now.Add(-90 * 24 * time.Hour)
	for _, step := range []struct {
		density float64
		records int
		want    time.Duration // 1000 records at the density: 1000 / density, whole seconds
	}{
		{1, 1000, 1000 * time.Second},   // the first is taken as it is
		{2, 80, 857 * time.Second},      // 1 + (2 − 1) × 80/480 = 7/6 per second
		{0.5, 4000, 1783 * time.Second}, // 7/6 × 1/11 + 0.5 × 10/11 = 0.5606 per second
	} {
		s.Observe(step.density, step.records)
		if got := s.Next(start, now).Sub(start); got != step.want {
			t.Errorf("after %v/s from %d records: window %v, want %v", step.density, step.records, got, step.want)
		}
	}
}

// The windows left before the end share its records evenly: 1,500 records at the target of
// 1,000 are two windows of 750, not 1,000 and a remainder of 500.
func TestTheSizerSharesTheRestEvenly(t *testing.T) {
	t.Parallel()
	s := NewSizer(func() int { return 1000 }, func() time.Duration { return MaxSpan })
	s.Observe(1, 1000)
	start := now.Add(-1500 * time.Second)
	if got := s.Next(start, now).Sub(start); got != 750*time.Second {
		t.Errorf("window = %v, want 750s (1,500 s left at 1 record/s, target 1,000)", got)
	}
	if got := s.Next(now.Add(-1000*time.Second), now).Sub(now.Add(-1000 * time.Second)); got != 1000*time.Second {
		t.Errorf("window = %v, want all of the 1,000 s left", got)
	}
}

// A density that is only a floor (a first count that may be capped) sizes windows until a
// window shows more: one well above it (1.5 ×) replaces it, a close one is averaged in as
// usual, and a floor never replaces a density already observed.
func TestAFloorDensityGivesWayToAHigherOne(t *testing.T) {
	t.Parallel()
	start := now.Add(-100000 * time.Second)
	floor := &WindowRead{Density: 0.1, Counted: 100, DensityFloor: true}
	for _, c := range []struct {
		name  string
		steps []*WindowRead
		want  time.Duration // 100,000 s shared evenly by windows of at most 1,000 records
	}{
		{"floor alone", []*WindowRead{floor}, 10000 * time.Second}, // 10,000 records: 10 windows
		{"well above replaces", []*WindowRead{floor, {Density: 1, Counted: 100}}, 1000 * time.Second},
		// 0.1 + (0.12 − 0.1) × 1000/1400 = 0.1142857 per second: 11,429 records, 12 windows
		{"close is averaged", []*WindowRead{floor, {Density: 0.12, Counted: 1000}}, 8333 * time.Second},
		{"observed first stays", []*WindowRead{{Density: 1, Counted: 1000}, floor}, 1000 * time.Second},
		// after the floor was replaced, the usual weights: 1 + (2 − 1) × 400/800 = 1.5 per
		// second: 150 windows of 666.7 s
		{"then as usual", []*WindowRead{floor, {Density: 1, Counted: 100}, {Density: 2, Counted: 400}}, 666 * time.Second},
	} {
		s := NewSizer(func() int { return 1000 }, func() time.Duration { return MaxSpan })
		for _, st := range c.steps {
			s.Learn(st)
		}
		if got := s.Next(start, now).Sub(start); got != c.want {
			t.Errorf("%s: window %v, want %v", c.name, got, c.want)
		}
	}
}
