package extract

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/transform"
)

// Window is the unit the archive reads: the half-open range [Start, End) of whole seconds.
//
// It is read with the query StartTime = Start − 1s, EndTime = End, and only the records whose
// CallbackTime falls in [Start, End) are kept. Every second of the window lies strictly inside
// the query, so it is served whole whether or not the API includes StartTime and EndTime.
// Consecutive windows share no second, and a watermark at End means "every second before End
// is archived". This is the only place the rule is written down: sync, backfill, verify and
// re-reads all go through Query and Keeps.
type Window struct {
	Start, End time.Time
}

// NewWindow returns the window [start, end) at second precision (start rounded down, end up).
func NewWindow(start, end time.Time) Window {
	return Window{Start: start.Truncate(time.Second), End: ceilSecond(end)}
}

func (w Window) String() string {
	return "[" + w.Start.UTC().Format(TimeFormat) + ", " + w.End.UTC().Format(TimeFormat) + ")"
}

// Empty reports whether the window holds no second.
func (w Window) Empty() bool { return !w.End.After(w.Start) }

// Query returns the StartTime and EndTime of the query that reads the window.
func (w Window) Query() (start, end time.Time) { return w.Start.Add(-time.Second), w.End }

// QuerySpan is how long the window's query is (End − Start + 1s): what the API's span limit
// applies to.
func (w Window) QuerySpan() time.Duration { return w.End.Sub(w.Start) + time.Second }

// Keeps reports whether a record at t belongs to the window.
func (w Window) Keeps(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Range returns the window as a Range (for logs and gaps).
func (w Window) Range() Range { return Range(w) }

// Source is what the reader needs of the API: one page of a query. *Client is a Source.
type Source interface {
	Describe(ctx context.Context, q Query, stats *Stats) (Page, error)
}

// Order is the order the API's answers were seen to come in.
type Order int

// The orders.
const (
	// OrderUnknown: no answer has shown an order yet.
	OrderUnknown Order = iota
	// OrderAsc: every page sorted by CallbackTime, oldest first (ties in any order).
	OrderAsc
	// OrderDesc: every page sorted by CallbackTime, newest first (ties in any order).
	OrderDesc
	// OrderUnsorted: a page was not sorted by time; from then on every window is read as
	// one page.
	OrderUnsorted
)

func (o Order) String() string {
	switch o {
	case OrderAsc:
		return "oldest_first"
	case OrderDesc:
		return "newest_first"
	case OrderUnsorted:
		return "not_sorted"
	default:
		return "unknown"
	}
}

// capHits is how often windows must answer the same largest TotalCount before it is taken
// for the API's result cap.
const capHits = 3

// Learned is what one run has learned of the API, shared by all its domains: the order of
// answers, the largest TotalCount seen (a count below it cannot be a capped one), a suspected
// result cap, the longest query span and the oldest start the API accepts. Safe for
// concurrent use.
type Learned struct {
	mu         sync.Mutex
	order      Order
	maxTotal   int
	hits       int
	cap        int
	maxSpan    time.Duration
	historyAge time.Duration // 0: the documented History
	historyMsg string
	// startIncl: an answer served a record at exactly its StartTime.
	startIncl, boundsProbed bool
	log                     *zap.Logger
	narrowMu                sync.Mutex // one reader at a time learns a limit from refusals
}

// observeBounds learns from an answer to the query [qs, qe] whether the API serves records at
// exactly its StartTime.
func (l *Learned) observeBounds(qs time.Time, recs []callback.Record) {
	start := false
	for i := range recs {
		if t, ok := transform.CallbackTime(recs[i].CallbackTime); ok && t.Equal(qs) {
			start = true
			break
		}
	}
	if !start {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.startIncl {
		l.startIncl = true
		l.log.Info("the API serves records at exactly StartTime: a one-second window [s, s+1) is read with StartTime = s, EndTime = s+1")
	}
}

// startInclusive reports whether an answer proved that the API serves records at exactly
// StartTime.
func (l *Learned) startInclusive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.startIncl
}

// NewLearned returns the state of a run that has learned nothing yet.
func NewLearned(log *zap.Logger) *Learned {
	if log == nil {
		log = zap.NewNop()
	}
	return &Learned{maxSpan: MaxSpan, log: log}
}

// Order returns the order seen so far.
func (l *Learned) Order() Order {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order
}

// observeOrder merges what one read showed: a contradiction or an unsorted page switches the
// run to OrderUnsorted for good.
func (l *Learned) observeOrder(o Order) {
	if o == OrderUnknown {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.order == o || l.order == OrderUnsorted:
		return
	case l.order == OrderUnknown && o != OrderUnsorted:
		l.order = o
		l.log.Info("the API's answers are sorted by time; windows are read several pages at a time", zap.String("order", o.String()))
	default:
		was := l.order
		l.order = OrderUnsorted
		l.log.Warn("the API's answers are not sorted by time: from now on every window is read as one page",
			zap.String("order_before", was.String()))
	}
}

// trust reports whether a TotalCount can be taken as the true count: below the page size, or
// below a count already seen (a cap would have capped that one too), and below any suspected
// cap. A count that equals the largest seen may be the cap: not trusted.
func (l *Learned) trust(total, pageSize int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cap > 0 && total > l.cap {
		l.log.Info("a TotalCount above the suspected result cap: it was not a cap", zap.Int("cap", l.cap), zap.Int("total_count", total))
		l.cap = 0
	}
	switch {
	case total > l.maxTotal:
		l.maxTotal, l.hits = total, 1
		return total < pageSize
	case total == l.maxTotal:
		l.hits++
		if l.hits >= capHits && total >= pageSize && l.cap != total {
			l.cap = total
			l.log.Warn("windows keep answering the same TotalCount: taking it for the API's result cap and sizing windows below it",
				zap.Int("cap", total))
		}
		return total < pageSize
	}
	return total < pageSize || l.cap == 0 || total < l.cap
}

// servedShort records that a page came back short while the count stayed: the API serves at
// most served records of a query.
func (l *Learned) servedShort(served int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cap == 0 || served < l.cap {
		l.cap = served
		l.log.Warn("the API stopped serving records before TotalCount: taking it for a result cap and sizing windows below it",
			zap.Int("cap", served))
	}
}

// Cap returns the suspected result cap, 0 when none.
func (l *Learned) Cap() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cap
}

// MaxSpan returns the longest query span the API accepts, as far as the run knows.
func (l *Learned) MaxSpan() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxSpan
}

func (l *Learned) shrinkSpan(span time.Duration, apiErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	span = max(span, 24*time.Hour)
	if span < l.maxSpan {
		l.maxSpan = span
		l.log.Warn("the API refused a query as too long: shorter queries for the rest of the run",
			zap.Duration("max_span", span), zap.String("api_error", apiErr.Error()))
	}
}

// Horizon returns the oldest query start the API accepts at now, as far as the run knows.
func (l *Learned) Horizon(now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.historyAge == 0 {
		return now.Add(-History)
	}
	return now.Add(-l.historyAge + historyMargin)
}

func (l *Learned) historyReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "refused by the API as older than its history (" + l.historyMsg + ")"
}

// historyMargin keeps query starts this far inside a history limit learned from refusals.
const historyMargin = 5 * time.Second

func (l *Learned) setHistory(age time.Duration, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.historyAge == 0 || age < l.historyAge {
		l.historyAge, l.historyMsg = age, msg
		l.log.Warn("the API refused a query as too old: its history is shorter than documented; older ranges go to sync_gaps",
			zap.Duration("history", age), zap.String("api_error", msg))
	}
}

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	Source   Source   // required
	Learned  *Learned // required: shared by every reader of the run
	PageSize int      // required
	// TargetPages is how many pages a window aims at when answers are sorted by time.
	TargetPages int
	// MaxWindowRecords bounds the records one window read holds in memory (and so one
	// transaction); windows aim at half of it. Default 8 pages.
	MaxWindowRecords int
	// Concurrency is how many page requests of one window are in flight at once; default 4.
	Concurrency int
	Now         func() time.Time // default time.Now
	Logger      *zap.Logger
	// OnPage, when set, is called for every page received, with its number of records.
	OnPage func(records int)
}

// Reader reads windows and proves each answer complete (see Read).
type Reader struct {
	cfg ReaderConfig
	log *zap.Logger
}

// NewReader returns a Reader for cfg.
func NewReader(cfg ReaderConfig) *Reader {
	if cfg.TargetPages <= 0 {
		cfg.TargetPages = 25
	}
	if cfg.MaxWindowRecords <= 0 {
		cfg.MaxWindowRecords = 8 * cfg.PageSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Reader{cfg: cfg, log: cfg.Logger}
}

// Target returns how many records a window should aim at now. Read several pages at a time, a
// window costs one request per page begun: it aims at whole pages, less twice the spread of its
// count (about the square root of it), so that its last page is nearly full and seldom one too
// many. (Aiming at 2.5 pages of 1,000 cost 1.25 × the minimum of requests.)
func (r *Reader) Target() int {
	p := r.cfg.PageSize
	t := min(r.cfg.TargetPages*p, max(r.cfg.MaxWindowRecords/2, p))
	if whole := t / p * p; whole > 0 {
		t = max(p/2, whole-int(2*math.Sqrt(float64(whole))))
	}
	if r.cfg.Learned.Order() == OrderUnsorted {
		t = max(1, p*4/5)
	}
	if c := r.cfg.Learned.Cap(); c > 0 {
		t = min(t, max(1, c*8/10))
	}
	return max(t, 1)
}

// limit is the most records a window read gathers before it stops at a prefix.
func (r *Reader) limit() int {
	return max(2*r.Target(), r.cfg.PageSize)
}

// Weight is the most records one Read holds in memory: half its limit gathered before the last
// part, that part (at most the limit, or a page) and one straddling second's re-read (a page).
// Callers reserve it from their memory budget before a Read.
func (r *Reader) Weight() int64 {
	return int64(r.limit()*3/2 + 2*r.cfg.PageSize)
}

// Gap is a part of a window that could not be archived, and why.
type Gap struct {
	Window Window
	Reason string
}

// WindowRead is what Read archived of a window.
type WindowRead struct {
	// Window is the part of the requested window the read covers, a prefix [Start, End′):
	// every second of it is either in Records or in Gaps.
	Window Window
	// Records are the records whose CallbackTime falls in Window, each exactly once.
	Records []callback.Record
	// Rejects are records whose CallbackTime does not parse (they belong to no second).
	Rejects []callback.Record
	// Gaps are the seconds of Window not archived; none of their records is in Records.
	Gaps []Gap
	// Density is the records per second the first query counted, when that count can be
	// trusted; else the records per second of what was read (0 when nothing was).
	Density float64
	// Counted is how many records Density stands on (for Sizer.Observe).
	Counted int
	// DensityFloor: Density is from a count that may be a capped one (ReadFirst's, when no
	// count seen before vouches for it), so the true density may be higher (Sizer.Learn).
	DensityFloor bool

	holds func(int64) // ReadOpts.Holds, until called
}

// DenseReason is the sync_gaps reason of a second that holds more records than one page and
// could not be read in a way that proves it complete.
const DenseReason = "more records in one second than one page holds, and the API's answers for it could not be proven complete (not sorted by time, or the count may be capped); none of that second's records were archived by this read"

// Read reads the window w (or a prefix of it, see WindowRead.Window) for the domain and
// filter of q, so that the result is provably the multiset of the API's records of each second
// it covers. An answer is taken as complete only when:
//
//   - it is one page whose TotalCount is below the page size (or below a count seen earlier,
//     so not capped) and whose length equals TotalCount; or
//   - every page is sorted by CallbackTime in one direction, consecutive pages follow each
//     other, and every page has the first page's TotalCount and the expected length: then
//     every second on one page is whole, and a second that straddles pages is accepted only
//     when its records' identities are pairwise distinct, else re-read as a one-second window
//     that must yield the same number of records.
//
// Otherwise the window is split by time. A one-second window that still cannot be proven is a
// dense second: it is returned as a Gap and none of its records are kept. A query the API
// refuses as too long or too old is narrowed (see Learned).
func (r *Reader) Read(ctx context.Context, q Query, w Window, stats *Stats) (*WindowRead, error) {
	return r.ReadWindow(ctx, q, w, stats, ReadOpts{})
}

// ReadFirst is Read for the first window of a range whose record density the caller does not
// know yet (often the whole range). When its count shows that w must be split, it stops
// there: it returns an empty prefix (Window.End = w.Start, nothing else) whose Density is the
// count's records per second, so that the caller plans the range as windows read side by side
// instead of Read reading the parts one after another. It costs no request more: the count is
// the request a split starts with, and its page is not kept by a split either. (When answers
// are not sorted by time, the prefix up to the count's earliest drawn record is read too, see
// first.)
func (r *Reader) ReadFirst(ctx context.Context, q Query, w Window, stats *Stats) (*WindowRead, error) {
	return r.ReadWindow(ctx, q, w, stats, ReadOpts{First: true})
}

// ReadOpts are the options of ReadWindow.
type ReadOpts struct {
	First bool // read as ReadFirst, else as Read
	// Holds, when set, is told once, as soon as the read knows it, that it will hold fewer
	// records than Weight until it ends: a window read whole at a count it trusts holds that
	// count and a page (for the re-reads of straddling seconds), so that the caller can give
	// the rest of the window's memory to other reads early. Records that arrive while the
	// window is read add to it: the read is then done again (drift), and may hold what the
	// new count says.
	Holds func(records int64)
}

// ReadWindow is Read, or ReadFirst, with the options o.
func (r *Reader) ReadWindow(ctx context.Context, q Query, w Window, stats *Stats, o ReadOpts) (*WindowRead, error) {
	sc := scopeWindow
	if o.First {
		sc = scopeFirst
	}
	return r.readWindow(ctx, q, w, stats, sc, o.Holds)
}

// scope is what one call of read reads.
type scope int

const (
	scopePart   scope = iota // a part of a window being split
	scopeWindow              // a window (Read)
	scopeFirst               // a window of unknown density (ReadFirst)
)

func (r *Reader) readWindow(ctx context.Context, q Query, w Window, stats *Stats, sc scope, holds func(int64)) (*WindowRead, error) {
	out := &WindowRead{Window: Window{Start: w.Start, End: w.Start}, holds: holds}
	end, err := r.read(ctx, q, w, out, stats, sc)
	out.Window.End = end
	if err != nil {
		return nil, err
	}
	if out.Density == 0 && end.After(w.Start) {
		// The first count was not trusted (it may be capped): the density is what was read,
		// from its first record on (a range that starts empty, such as a first sync's
		// lookback before the domain's first call-back, would dilute it).
		from := w.Start
		if first, ok := earliest(out.Records); ok && first.After(from) && first.Before(end) {
			from = first
		}
		out.Density, out.Counted = float64(len(out.Records))/end.Sub(from).Seconds(), len(out.Records)
	}
	return out, nil
}

// earliest returns the second of the earliest record of recs whose time parses.
func earliest(recs []callback.Record) (time.Time, bool) {
	var first time.Time
	found := false
	for i := range recs {
		if t, ok := transform.CallbackTime(recs[i].CallbackTime); ok && (!found || t.Before(first)) {
			first, found = t, true
		}
	}
	return first.Truncate(time.Second), found
}

// maxDriftRereads is how often a drifting window is read again before it is split.
const maxDriftRereads = 3

// read reads a prefix of w into out and returns where the prefix ends.
func (r *Reader) read(ctx context.Context, q Query, w Window, out *WindowRead, stats *Stats, sc scope) (time.Time, error) {
	if w.Empty() {
		return w.End, nil
	}
	// The history limit learned so far.
	if qs, _ := w.Query(); qs.Before(r.cfg.Learned.Horizon(r.cfg.Now())) {
		cut := ceilSecond(r.cfg.Learned.Horizon(r.cfg.Now())).Add(time.Second)
		if !cut.Before(w.End) {
			cut = w.End
		}
		out.Gaps = append(out.Gaps, Gap{Window: Window{w.Start, cut}, Reason: r.cfg.Learned.historyReason()})
		r.log.Warn("range older than the API's history: recorded as a gap", zap.Time("gap_start", w.Start), zap.Time("gap_end", cut))
		return cut, nil
	}
	// The span limit learned so far.
	if w.QuerySpan() > r.cfg.Learned.MaxSpan() {
		w.End = w.Start.Add(r.cfg.Learned.MaxSpan() - time.Second)
	}
	p := r.cfg.PageSize
	oneSecond := w.End.Sub(w.Start) <= time.Second
	for attempt := 1; ; attempt++ {
		first, err := r.describe(ctx, q, w, 1, p, stats)
		if err != nil {
			if isRefused(err) {
				return r.refused(ctx, q, w, out, stats, err, sc)
			}
			return w.Start, fmt.Errorf("window %s of %s: %w", w, q.Domain, err)
		}
		total := first.TotalCount
		trusted := r.cfg.Learned.trust(total, p)
		if sc != scopePart && trusted && out.Density == 0 {
			out.Density, out.Counted = float64(total)/w.QuerySpan().Seconds(), total
		}
		if trusted && total <= p {
			if len(first.Records) != total {
				// The count moved between counting and serving: read again.
				if attempt < maxDriftRereads {
					continue
				}
				if !oneSecond {
					return r.split(ctx, q, w, total, out, stats)
				}
				return w.Start, fmt.Errorf("window %s of %s: %d records served for a TotalCount of %d after %d reads: %w",
					w, q.Domain, len(first.Records), total, attempt, ErrDrift)
			}
			r.cfg.Learned.observeOrder(pagesOrder([]Page{first}))
			r.keep(w, out, first.Records)
			return w.End, nil
		}
		firstOrder := pagesOrder([]Page{first})
		if r.cfg.Learned.Order() == OrderUnknown && firstOrder == OrderUnsorted {
			// The first page alone shows the answers are not sorted: no use reading more.
			r.cfg.Learned.observeOrder(OrderUnsorted)
		}
		order := r.cfg.Learned.Order()
		var draw *sample
		if order == OrderUnsorted && firstOrder == OrderUnsorted {
			// The page is a draw from the window: it places the split points.
			draw = sampleOf(w, total, first.Records)
		}
		if !oneSecond && (!trusted || total > r.limit() || order == OrderUnsorted) {
			if sc == scopeFirst {
				return r.first(ctx, q, w, total, draw, trusted, out, stats)
			}
			return r.splitDrawn(ctx, q, w, total, draw, trusted, out, stats)
		}
		if !trusted || order == OrderUnsorted {
			if ok, err := r.proveBounds(ctx, q, first.Records, stats); err != nil {
				return w.Start, fmt.Errorf("window %s of %s: %w", w, q.Domain, err)
			} else if ok {
				continue // read the second alone
			}
			r.dense(q, w, total, out)
			return w.End, nil
		}
		if Pages(total, p) > MaxPageNum {
			r.dense(q, w, total, out)
			return w.End, nil
		}
		if sc != scopePart && out.holds != nil {
			// Read whole at this count (at most the limit, see above): its pages and a re-read.
			out.holds(int64(total + p))
			out.holds = nil
		}
		pages, err := r.fetch(ctx, q, w, first, stats)
		var drift *DriftError
		if errors.As(err, &drift) {
			if drift.SeenTotal == drift.FirstTotal && drift.PageRecords < drift.ExpectedOnPage && drift.PageNum < Pages(total, p) {
				// Same count, a short page before the last: the API serves fewer than it counts.
				r.cfg.Learned.servedShort((drift.PageNum-1)*p + drift.PageRecords)
				if !oneSecond {
					return r.split(ctx, q, w, total, out, stats)
				}
				r.dense(q, w, total, out)
				return w.End, nil
			}
			r.log.Info("records moved while reading a window; reading it again", zap.Stringer("window", w), zap.Int("attempt", attempt), zap.String("detail", err.Error()))
			if attempt < maxDriftRereads {
				continue
			}
			if !oneSecond {
				return r.split(ctx, q, w, total, out, stats)
			}
			if attempt < 4*maxDriftRereads {
				continue
			}
			return w.Start, fmt.Errorf("window %s of %s: records kept moving after %d reads: %w", w, q.Domain, attempt, err)
		}
		if err != nil {
			return w.Start, err
		}
		ok, err := r.sorted(ctx, q, w, pages, out, stats)
		if errors.Is(err, ErrDrift) && attempt < 4*maxDriftRereads {
			continue
		}
		if err != nil {
			return w.Start, err
		}
		if ok {
			return w.End, nil
		}
		if oneSecond {
			if ok, err := r.proveBounds(ctx, q, first.Records, stats); err != nil {
				return w.Start, fmt.Errorf("window %s of %s: %w", w, q.Domain, err)
			} else if ok {
				continue // read the second alone
			}
			r.dense(q, w, total, out)
			return w.End, nil
		}
		// Not sorted: the run now reads one page per window; split this one.
		if pagesOrder(pages[:1]) == OrderUnsorted {
			draw = sampleOf(w, total, pages[0].Records)
		}
		return r.splitDrawn(ctx, q, w, total, draw, trusted, out, stats)
	}
}

// first ends ReadFirst for a window w that must be split: the density is the count's. A draw
// (answers not sorted by time) also shows where the records begin: w up to its earliest drawn
// record is read (it holds about total / (drawn + 1) records, wherever they begin), and the
// density counts from there. A first sync's lookback may begin long before the domain's first
// call-back: windows planned from the density alone would spend a request on every window's
// worth of that empty time.
func (r *Reader) first(ctx context.Context, q Query, w Window, total int, d *sample, trusted bool, out *WindowRead, stats *Stats) (time.Time, error) {
	from := w.Start.Add(-time.Second) // the query's start (Window.Query)
	if d != nil {
		from = time.Unix(d.secs[0], 0).In(w.Start.Location())
	}
	out.Density, out.Counted, out.DensityFloor = float64(total)/w.End.Sub(from).Seconds(), total, !trusted
	if d == nil {
		return w.Start, nil
	}
	part := Window{Start: w.Start, End: from}
	if !from.After(w.Start) {
		part = r.cut(w, total, d, trusted)[0]
	}
	return r.read(ctx, q, part, out, stats, scopePart)
}

// split cuts w by time into parts of about Target records each (at least two) and reads them
// in order; once the read holds half its limit it stops after the current part (a prefix).
func (r *Reader) split(ctx context.Context, q Query, w Window, total int, out *WindowRead, stats *Stats) (time.Time, error) {
	return r.splitDrawn(ctx, q, w, total, nil, false, out, stats)
}

// drawnFill is the share of a page a part cut at a draw's order statistics aims at, when the
// draw holds at least half the window's records: each part's count is then known to a few
// records.
const drawnFill = 0.9

// cut returns the parts split cuts w into, for a window that counted total records and
// whose first page, when not sorted by time, was the draw d (nil when sorted); trusted tells
// whether total was taken as the true count (else the draw may stand for more records than it
// says).
func (r *Reader) cut(w Window, total int, d *sample, trusted bool) []Window {
	if d == nil {
		return SplitWindow(w, max(2, (total+r.Target()-1)/r.Target()))
	}
	per := float64(r.Target())
	if trusted && 2*len(d.secs) >= d.total {
		per = max(per, drawnFill*float64(r.cfg.PageSize))
	}
	parts := d.split(w, max(2, int(math.Ceil(float64(d.total)/per))))
	if len(parts) < 2 {
		// The draw is all in one second of w: cut around it.
		parts = SplitWindow(w, 2)
	}
	return parts
}

// splitDrawn is split with the draw d placing the parts (see cut).
func (r *Reader) splitDrawn(ctx context.Context, q Query, w Window, total int, d *sample, trusted bool, out *WindowRead, stats *Stats) (time.Time, error) {
	parts := r.cut(w, total, d, trusted)
	r.log.Debug("splitting a window", zap.Stringer("window", w),
		zap.Int("total_count", total), zap.Int("parts", len(parts)), zap.Bool("at_draw", d != nil))
	for i, part := range parts {
		end, err := r.read(ctx, q, part, out, stats, scopePart)
		if err != nil || end.Before(part.End) {
			return end, err
		}
		if i+1 < len(parts) && len(out.Records) >= r.limit()/2 {
			return end, nil
		}
	}
	return w.End, nil
}

// SplitWindow cuts w into n parts of whole seconds (fewer when w is shorter than n seconds).
func SplitWindow(w Window, n int) []Window {
	secs := int64(w.End.Sub(w.Start) / time.Second)
	if n < 2 || secs < 2 {
		return []Window{w}
	}
	n = int(min(int64(n), secs))
	out := make([]Window, 0, n)
	start := w.Start
	for i := 1; i <= n; i++ {
		end := w.Start.Add(time.Duration(secs*int64(i)/int64(n)) * time.Second)
		if i == n {
			end = w.End
		}
		out = append(out, Window{start, end})
		start = end
	}
	return out
}

// dense records w (one second) as a gap.
func (r *Reader) dense(q Query, w Window, total int, out *WindowRead) {
	r.log.Warn("a second holds more records than one page and cannot be read provably complete: recorded in sync_gaps, none of its records archived by this read",
		zap.Time("second", w.Start), zap.Int("total_count", total),
		zap.Int("page_size", r.cfg.PageSize), zap.String("order", r.cfg.Learned.Order().String()), zap.Int("suspected_cap", r.cfg.Learned.Cap()))
	out.Gaps = append(out.Gaps, Gap{Window: w, Reason: DenseReason})
}

// keep adds the records of w (and the rejects) to out.
func (r *Reader) keep(w Window, out *WindowRead, recs []callback.Record) {
	for i := range recs {
		t, ok := transform.CallbackTime(recs[i].CallbackTime)
		switch {
		case !ok:
			out.Rejects = append(out.Rejects, recs[i])
		case w.Keeps(t):
			out.Records = append(out.Records, recs[i])
		}
	}
}

// describe fetches one page of w's query (Window.Query). A one-second window [s, s+1) is read
// with StartTime = s instead once an answer has proven that the API serves records at exactly
// StartTime: every record of second s is then in [s, s+1], and the second before, which may be
// dense, does not count in the answer.
func (r *Reader) describe(ctx context.Context, q Query, w Window, page, size int, stats *Stats) (Page, error) {
	q.Start, q.End = w.Query()
	if w.End.Sub(w.Start) == time.Second && r.cfg.Learned.startInclusive() {
		q.Start = w.Start
	}
	q.PageNum, q.PageSize = page, size
	return r.send(ctx, q, stats)
}

func (r *Reader) send(ctx context.Context, q Query, stats *Stats) (Page, error) {
	pg, err := r.cfg.Source.Describe(ctx, q, stats)
	if err != nil {
		return pg, err
	}
	r.cfg.Learned.observeBounds(q.Start, pg.Records)
	if r.cfg.OnPage != nil && q.PageSize == r.cfg.PageSize {
		r.cfg.OnPage(len(pg.Records))
	}
	return pg, nil
}

// proveBounds asks, once per run, whether the API serves records at exactly StartTime: the
// query [t, t+1] for the whole second t of a record just served. It reports whether one-second
// windows can now be read without the second before them.
func (r *Reader) proveBounds(ctx context.Context, q Query, served []callback.Record, stats *Stats) (bool, error) {
	if r.cfg.Learned.startInclusive() {
		return false, nil
	}
	r.cfg.Learned.mu.Lock()
	tried := r.cfg.Learned.boundsProbed
	r.cfg.Learned.boundsProbed = true
	r.cfg.Learned.mu.Unlock()
	if tried {
		return false, nil
	}
	for i := range served {
		t, ok := transform.CallbackTime(served[i].CallbackTime)
		if !ok || t.Nanosecond() != 0 {
			continue
		}
		q.Start, q.End, q.PageNum, q.PageSize = t, t.Add(time.Second), 1, 1
		if _, err := r.send(ctx, q, stats); err != nil && !isRefused(err) {
			return false, err
		}
		return r.cfg.Learned.startInclusive(), nil
	}
	return false, nil
}

// fetch reads pages 2.. of w concurrently and checks each against first (the drift check).
func (r *Reader) fetch(ctx context.Context, q Query, w Window, first Page, stats *Stats) ([]Page, error) {
	p := r.cfg.PageSize
	total := first.TotalCount
	n := Pages(total, p)
	pages := make([]Page, n)
	pages[0] = first
	check := func(pg Page, num int) error {
		want := p
		if num == n {
			want = total - (n-1)*p
		}
		if pg.TotalCount != total || len(pg.Records) != want {
			return &DriftError{Window: w.Range(), FirstTotal: total, SeenTotal: pg.TotalCount,
				PageNum: num, PageRecords: len(pg.Records), ExpectedOnPage: want}
		}
		return nil
	}
	if err := check(first, 1); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(asBulk(ctx))
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	next := 2
	var wg sync.WaitGroup
	for range max(1, min(r.cfg.Concurrency, n-1)) {
		wg.Go(func() {
			for {
				mu.Lock()
				if firstErr != nil || next > n {
					mu.Unlock()
					return
				}
				num := next
				next++
				mu.Unlock()
				pg, err := r.describe(ctx, q, w, num, p, stats)
				if err == nil {
					err = check(pg, num)
				} else {
					err = fmt.Errorf("window %s of %s page %d: %w", w, q.Domain, num, err)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				pages[num-1] = pg
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return pages, ctx.Err()
}

// pageTimes returns the parsed CallbackTime of each record (ok false when it does not parse).
type stamped struct {
	t  time.Time
	ok bool
}

func stamps(recs []callback.Record) []stamped {
	out := make([]stamped, len(recs))
	for i := range recs {
		out[i].t, out[i].ok = transform.CallbackTime(recs[i].CallbackTime)
		out[i].t = out[i].t.Truncate(time.Second)
	}
	return out
}

// pagesOrder returns the order pages show: OrderAsc or OrderDesc when every page is sorted
// that way and each page follows the one before, OrderUnknown when both fit (one second, or
// at most one record), OrderUnsorted when neither does. Records whose time does not parse are
// left out.
func pagesOrder(pages []Page) Order {
	asc, desc := true, true
	var prevMin, prevMax time.Time
	havePrev := false
	for _, pg := range pages {
		var lo, hi, last time.Time
		have := false
		for _, s := range stamps(pg.Records) {
			if !s.ok {
				continue
			}
			if have {
				if s.t.Before(last) {
					asc = false
				}
				if s.t.After(last) {
					desc = false
				}
				lo, hi = minTime(lo, s.t), maxTime(hi, s.t)
			} else {
				lo, hi, have = s.t, s.t, true
			}
			last = s.t
		}
		if !have {
			continue
		}
		if havePrev {
			if lo.Before(prevMax) {
				asc = false
			}
			if hi.After(prevMin) {
				desc = false
			}
		}
		prevMin, prevMax, havePrev = lo, hi, true
	}
	switch {
	case asc && desc:
		return OrderUnknown
	case asc:
		return OrderAsc
	case desc:
		return OrderDesc
	}
	return OrderUnsorted
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sorted keeps the records of time-sorted pages (see Read). It reports false when the pages
// are not sorted by time, and an ErrDrift when a straddling second re-read does not match.
func (r *Reader) sorted(ctx context.Context, q Query, w Window, pages []Page, out *WindowRead, stats *Stats) (bool, error) {
	o := pagesOrder(pages)
	learned := r.cfg.Learned.Order()
	if o == OrderUnsorted || (o != OrderUnknown && learned != OrderUnknown && o != learned) {
		r.cfg.Learned.observeOrder(OrderUnsorted)
		return false, nil
	}
	r.cfg.Learned.observeOrder(o)
	// Which pages each kept second is on.
	type loc struct{ page, idx int }
	bySecond := map[int64][]loc{}
	onPages := map[int64]map[int]bool{}
	var rejects []callback.Record
	for pi, pg := range pages {
		for i, s := range stamps(pg.Records) {
			if !s.ok {
				rejects = append(rejects, pg.Records[i])
				continue
			}
			if !w.Keeps(s.t) {
				continue
			}
			k := s.t.Unix()
			bySecond[k] = append(bySecond[k], loc{pi, i})
			if onPages[k] == nil {
				onPages[k] = map[int]bool{}
			}
			onPages[k][pi] = true
		}
	}
	secs := make([]int64, 0, len(bySecond))
	for k := range bySecond {
		secs = append(secs, k)
	}
	slices.Sort(secs)
	// Straddling seconds with repeated identities are re-read alone, side by side (a window's
	// last requests, which nothing else of it overlaps).
	repeated := map[int64]*WindowRead{} // straddling seconds with repeated identities
	for _, k := range secs {
		if len(onPages[k]) >= 2 && !disjointAcrossPages(pages, bySecond[k], func(l loc) (int, int) { return l.page, l.idx }) {
			repeated[k] = &WindowRead{}
		}
	}
	oneSecond := w.End.Sub(w.Start) <= time.Second
	if !oneSecond {
		// What each re-read's query serves: its second and the ones on either side (see
		// Window.Query), as the pages showed them; a page when a neighbour lies outside w.
		serves := map[int64]int{}
		for k := range repeated {
			if k-1 < w.Start.Unix() || k+1 >= w.End.Unix() {
				serves[k] = r.cfg.PageSize
				continue
			}
			serves[k] = len(bySecond[k-1]) + len(bySecond[k]) + len(bySecond[k+1])
		}
		if err := r.rereadSeconds(ctx, q, repeated, serves, stats); err != nil {
			return false, err
		}
	}
	var recs []callback.Record
	for _, k := range secs {
		locs := bySecond[k]
		sub, again := repeated[k]
		if !again {
			for _, l := range locs {
				recs = append(recs, pages[l.page].Records[l.idx])
			}
			continue
		}
		if oneSecond { // w is this second: it cannot be read alone again
			r.dense(q, Window{Start: time.Unix(k, 0).UTC(), End: time.Unix(k+1, 0).UTC()}, len(locs), out)
			continue
		}
		out.Rejects = append(out.Rejects, sub.Rejects...)
		if len(sub.Gaps) > 0 {
			out.Gaps = append(out.Gaps, sub.Gaps...)
			continue
		}
		if len(sub.Records) != len(locs) {
			return false, &DriftError{Window: w.Range(), FirstTotal: len(locs), SeenTotal: len(sub.Records), Collected: len(sub.Records)}
		}
		recs = append(recs, sub.Records...)
	}
	out.Records = append(out.Records, recs...)
	out.Rejects = append(out.Rejects, rejects...)
	return true, nil
}

// rereadSeconds reads each second of subs (Unix seconds) alone into its WindowRead, up to
// Concurrency at once and, as Weight allows for one re-read, at most a page of records at
// once: serves is what each second's query serves (its neighbours included), and a re-read
// that serves a page or more runs alone.
func (r *Reader) rereadSeconds(ctx context.Context, q Query, subs map[int64]*WindowRead, serves map[int64]int, stats *Stats) error {
	if len(subs) == 0 {
		return nil
	}
	p := int64(r.cfg.PageSize)
	page := semaphore.NewWeighted(p)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Concurrency)
	for k, sub := range subs {
		g.Go(func() error {
			n := min(p, max(1, int64(serves[k])))
			if err := page.Acquire(ctx, n); err != nil {
				return err
			}
			defer page.Release(n)
			sec := Window{Start: time.Unix(k, 0).UTC(), End: time.Unix(k+1, 0).UTC()}
			_, err := r.read(ctx, q, sec, sub, stats, scopePart)
			return err
		})
	}
	return g.Wait()
}

// disjointAcrossPages reports whether no identity among the records at locs is on two pages.
// Records of one page are distinct records (one answer); a record served again on another page
// would have an identity that page already shows. So when no identity is on two pages, the
// records are all distinct.
func disjointAcrossPages[L any](pages []Page, locs []L, at func(L) (int, int)) bool {
	pageOf := make(map[string]int, len(locs))
	for _, l := range locs {
		p, i := at(l)
		k := string(transform.IdentityHash(&pages[p].Records[i]))
		if q, ok := pageOf[k]; ok && q != p {
			return false
		}
		pageOf[k] = p
	}
	return true
}

// isRefused reports whether the API refused a query's parameters.
func isRefused(err error) bool {
	var e *APIError
	return errors.As(err, &e) && strings.HasPrefix(e.Code, "InvalidParam")
}

func apiMessage(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		s := e.Code
		if e.Message != "" {
			s += ": " + e.Message
		}
		return s
	}
	return err.Error()
}

// probe asks whether the API accepts the query of w (one record, page 1); refusal is the
// API's refusal when it does not.
func (r *Reader) probe(ctx context.Context, q Query, w Window, stats *Stats) (ok bool, refusal, err error) {
	_, err = r.describe(ctx, q, w, 1, 1, stats)
	if err == nil {
		return true, nil, nil
	}
	if isRefused(err) {
		return false, err, nil
	}
	return false, nil, err
}

// refused narrows a query the API refused: a span over a day is tried as one day at its start
// (accepted: the span was too long; learn it); a refused day near the history horizon is too
// old (find the oldest start accepted, learn it, record the rest as a gap); anything else is an
// error. One reader narrows at a time; the others then read with what it learned.
func (r *Reader) refused(ctx context.Context, q Query, w Window, out *WindowRead, stats *Stats, apiErr error, sc scope) (time.Time, error) {
	l := r.cfg.Learned
	l.narrowMu.Lock()
	learned, err := r.narrow(ctx, q, w, out, stats, apiErr)
	l.narrowMu.Unlock()
	if err != nil {
		return w.Start, err
	}
	if learned {
		return r.read(ctx, q, w, out, stats, sc)
	}
	return w.End, nil // all of w is a gap
}

// narrow learns why w's query was refused (see refused). It reports false when all of w went
// to out.Gaps.
func (r *Reader) narrow(ctx context.Context, q Query, w Window, out *WindowRead, stats *Stats, apiErr error) (bool, error) {
	const day = 24 * time.Hour
	l := r.cfg.Learned
	// Another reader may have learned what this one needs meanwhile.
	if qs, _ := w.Query(); w.QuerySpan() > l.MaxSpan() || qs.Before(l.Horizon(r.cfg.Now())) {
		return true, nil
	}
	if span := w.QuerySpan(); span > day {
		day1 := Window{Start: w.Start, End: w.Start.Add(day - time.Second)}
		ok, refusal, err := r.probe(ctx, q, day1, stats)
		if err != nil {
			return false, fmt.Errorf("window %s of %s: %w", day1, q.Domain, err)
		}
		if ok {
			// The span was too long: try a day shorter, and another day shorter while it is
			// refused (a limit counted in calendar days refuses spans that touch one date too
			// many), before the other readers go on with it.
			for try := span - day; ; try -= day {
				if try <= day {
					l.shrinkSpan(day, apiErr)
					return true, nil
				}
				ok, refusal, err := r.probe(ctx, q, Window{Start: w.Start, End: w.Start.Add(try - time.Second)}, stats)
				if err != nil {
					return false, fmt.Errorf("window %s of %s: %w", w, q.Domain, err)
				}
				if ok {
					l.shrinkSpan(try, apiErr)
					return true, nil
				}
				apiErr = refusal
			}
		}
		apiErr = refusal
	}
	now := r.cfg.Now()
	if qs, _ := w.Query(); now.Sub(qs) < History-MaxSpan-day {
		return false, fmt.Errorf("window %s of %s: the API refused the query far from its history limit: %w", w, q.Domain, apiErr)
	}
	// Too old. accepted(s) probes the one-second window at s.
	accepted := func(s time.Time) (bool, error) {
		ok, refusal, err := r.probe(ctx, q, Window{Start: s, End: s.Add(time.Second)}, stats)
		if refusal != nil {
			apiErr = refusal
		}
		return ok, err
	}
	// Step forward a day at a time to an accepted start.
	lo, hi := w.Start, time.Time{}
	for s := w.Start.Add(day); ; s = s.Add(day) {
		if !s.Before(w.End) {
			s = w.End.Add(-time.Second)
		}
		ok, err := accepted(s)
		if err != nil {
			return false, fmt.Errorf("window %s of %s: %w", w, q.Domain, err)
		}
		if ok {
			hi = s
			break
		}
		lo = s
		if !s.Before(w.End.Add(-time.Second)) {
			break
		}
	}
	if hi.IsZero() {
		// Nothing of the window is accepted: it is all older than the history.
		l.setHistory(now.Sub(w.End.Add(-time.Second)), apiMessage(apiErr))
		out.Gaps = append(out.Gaps, Gap{Window: w, Reason: l.historyReason()})
		return false, nil
	}
	// A limit of whole days, counted from now, is the likeliest: try just inside and just
	// outside it before bisecting.
	// narrow probes t and moves the bound it proves: hi when t's query is accepted, else lo.
	narrow := func(t time.Time) (bool, error) {
		ok, err := accepted(t)
		if err != nil {
			return false, fmt.Errorf("window %s of %s: %w", w, q.Domain, err)
		}
		if ok {
			hi = t
		} else {
			lo = t
		}
		return ok, nil
	}
	if k := now.Sub(lo) / day; k > 0 {
		edge := now.Add(-k * day).Truncate(time.Second).Add(2 * time.Second) // its query starts 1s inside
		if edge.After(lo) && edge.Before(hi) {
			ok, err := narrow(edge)
			if err != nil {
				return false, err
			}
			if before := edge.Add(-time.Minute); ok && before.After(lo) {
				if _, err := narrow(before); err != nil {
					return false, err
				}
			}
		}
	}
	// Then whole hours (a limit counted in calendar days turns at a midnight, of some time
	// zone), then a minute below the hour found, then minutes.
	for {
		// The whole hours (each probed 2s past, so its query starts 1s past the hour)
		// strictly between lo and hi; the middle one.
		first := lo.Add(-2 * time.Second).Truncate(time.Hour).Add(time.Hour + 2*time.Second)
		n := int(hi.Sub(first)/time.Hour) + 1
		if !hi.After(first) {
			break
		}
		if first.Add(time.Duration(n-1) * time.Hour).Equal(hi) {
			n--
		}
		if n < 1 {
			break
		}
		if _, err := narrow(first.Add(time.Duration(n/2) * time.Hour)); err != nil {
			return false, err
		}
	}
	if before := hi.Add(-time.Minute); hi.Sub(lo) > time.Minute && before.After(lo) {
		if _, err := narrow(before); err != nil {
			return false, err
		}
	}
	for hi.Sub(lo) > time.Minute {
		if _, err := narrow(lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)); err != nil {
			return false, err
		}
	}
	// hi's query (hi − 1s) was accepted.
	l.setHistory(r.cfg.Now().Sub(hi.Add(-time.Second)), apiMessage(apiErr))
	return true, nil
}
