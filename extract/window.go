package extract

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// The API's limits.
const (
	// MaxSpan is the longest time range one query may cover.
	MaxSpan = 31 * 24 * time.Hour
	// History is how far back the API keeps records.
	History = 366 * 24 * time.Hour
	// HistoryMargin keeps query starts a little inside the history limit, so that a request
	// sent minutes after it was planned is still accepted.
	HistoryMargin = 10 * time.Minute
	// MaxPageNum and MaxPageSize bound pagination.
	MaxPageNum  = 10000
	MaxPageSize = 1000
)

// Range is a time range at second precision; the pipeline reads it as the Window [Start, End).
type Range struct {
	Start, End time.Time
}

func (r Range) String() string {
	return r.Start.UTC().Format(TimeFormat) + ".." + r.End.UTC().Format(TimeFormat)
}

// Empty reports whether the range holds no time.
func (r Range) Empty() bool { return !r.End.After(r.Start) }

// Horizon is the oldest instant a query planned at now may start at.
func Horizon(now time.Time) time.Time {
	return ceilSecond(now.Add(-History + HistoryMargin))
}

// SyncParams are the inputs of PlanSync.
type SyncParams struct {
	Now time.Time
	// Watermark is the domain's checkpoint; nil when the domain has none yet.
	Watermark       *time.Time
	InitialLookback time.Duration
	Overlap         time.Duration
	Settle          time.Duration
}

// Plan is what a run will read, and what it cannot.
type Plan struct {
	// Requested is the range asked for, before the history limit clamped it.
	Requested Range
	Read      Range
	// Gap is the part of the wanted range older than the API's history; nil when none.
	Gap *Range
}

// PlanSync turns a checkpoint into the range an incremental run reads: from watermark −
// overlap (or now − initial lookback for a new domain) to now − settle, clamped to the history
// limit. The range may be empty (nothing settled yet).
func PlanSync(p SyncParams) Plan {
	end := p.Now.Add(-p.Settle).Truncate(time.Second)
	var start time.Time
	if p.Watermark != nil {
		start = p.Watermark.Add(-p.Overlap)
	} else {
		start = p.Now.Add(-p.InitialLookback)
	}
	return Clamp(Range{Start: start.Truncate(time.Second), End: end}, p.Now)
}

// PlanBackfill validates and clamps a backfill range. It never reads past now.
func PlanBackfill(start, end, now time.Time) (Plan, error) {
	if !end.After(start) {
		return Plan{}, fmt.Errorf("backfill --end %s is not after --start %s: give a range with start before end",
			end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	if start.After(now) {
		return Plan{}, fmt.Errorf("backfill --start %s is in the future: give a start before now (%s)",
			start.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if end.After(now) {
		end = now
	}
	r := Range{Start: start.Truncate(time.Second), End: ceilSecond(end)}
	if r.End.After(now) {
		r.End = now.Truncate(time.Second)
	}
	return Clamp(r, now), nil
}

// Clamp applies the API's history limit to r at now: the part of r older than Horizon(now) is
// the plan's Gap, the rest (empty when all of r is older) its Read. The one rule for every
// command that queries a past range (sync, backfill, verify).
func Clamp(r Range, now time.Time) Plan {
	h := Horizon(now)
	plan := Plan{Requested: r}
	if r.Start.Before(h) {
		gapEnd := h
		if r.End.Before(gapEnd) {
			gapEnd = r.End
		}
		plan.Gap = &Range{Start: r.Start, End: gapEnd}
		r.Start = h
	}
	if r.End.Before(r.Start) {
		r.End = r.Start
	}
	plan.Read = r
	return plan
}

func ceilSecond(t time.Time) time.Time {
	tt := t.Truncate(time.Second)
	if tt.Before(t) {
		tt = tt.Add(time.Second)
	}
	return tt
}

// Sizer chooses window spans from the record density it has observed, so that a window holds
// about the reader's target: sparse ranges take one request per maximum span, dense days are
// cut into windows small enough for one transaction each. Safe for concurrent use.
type Sizer struct {
	target  func() int
	maxSpan func() time.Duration
	mu      sync.Mutex
	density float64 // records per second; 0 = unknown
	known   bool
	floor   bool // density is only a floor (see Learn)
}

// NewSizer returns a Sizer for windows of about target() records whose queries span at most
// maxSpan().
func NewSizer(target func() int, maxSpan func() time.Duration) *Sizer {
	return &Sizer{target: target, maxSpan: maxSpan}
}

// sizerMemory is about how many records of recent windows the Sizer's density stands on.
const sizerMemory = 400

// floorJump is how far above a floor density an observation must be to replace it outright.
const floorJump = 1.5

// Learn takes the density a read showed (nothing when it showed none): with Observe, or as a
// floor when it came from a count that may be capped (WindowRead.DensityFloor).
func (s *Sizer) Learn(wr *WindowRead) {
	switch {
	case wr.Density <= 0:
	case wr.DensityFloor:
		s.mu.Lock()
		if !s.known {
			s.density, s.known, s.floor = wr.Density, true, true
		}
		s.mu.Unlock()
	default:
		s.Observe(wr.Density, wr.Counted)
	}
}

// Observe records the density (records per second) a window showed, counted from records
// records. The first observation is taken as it is; later ones are averaged in with the weight
// records / (records + 400): a window of eighty records (answers read one page per window)
// moves the density by a sixth, so that its count's noise does not size the next windows,
// while a window of thousands replaces it nearly whole. A density that is only a floor (the
// run's first count, which may be a capped one) is replaced by the first observation well
// above it (1.5 ×): a capped count would otherwise size windows far too long for a while.
func (s *Sizer) Observe(density float64, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known || (s.floor && density > floorJump*s.density) {
		s.density, s.known, s.floor = density, true, false
		return
	}
	s.floor = false
	n := float64(max(records, 0))
	w := n / (n + sizerMemory)
	s.density = (1-w)*s.density + w*density
}

// Known reports whether a density has been observed.
func (s *Sizer) Known() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.known
}

// Next returns the end of the window that starts at start, at most end. The windows left
// before end share its expected records evenly, each at most the target: the last is not a
// small remainder whose partial page costs a request of its own.
func (s *Sizer) Next(start, end time.Time) time.Time {
	span := s.maxSpan() - time.Second // the query adds one second (Window.Query)
	s.mu.Lock()
	density := s.density
	s.mu.Unlock()
	if density > 0 {
		left := end.Sub(start).Seconds()
		n := math.Ceil(density * left / float64(s.target()))
		if d := time.Duration(left / max(n, 1) * float64(time.Second)); d < span {
			span = max(d.Truncate(time.Second), time.Second)
		}
	}
	if w := start.Add(span); w.Before(end) {
		return w
	}
	return end
}
