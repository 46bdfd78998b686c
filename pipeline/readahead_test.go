package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/poll"
)

// gateSource serves a fakeSource's records, keeps every request it is asked (with its
// context's limiter priority), and holds the requests hold picks until their channel closes.
type gateSource struct {
	*fakeSource
	hold func(q extract.Query, nth int) <-chan struct{} // nth: the domain's request number, from 1; nil: serve at once
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	q        extract.Query
	priority time.Time
	hasPrio  bool
}

func (g *gateSource) Describe(ctx context.Context, q extract.Query, st *extract.Stats) (extract.Page, error) {
	prio, ok := extract.Priority(ctx)
	g.mu.Lock()
	g.seen = append(g.seen, seenRequest{q, prio, ok})
	nth := 0
	for _, s := range g.seen {
		if s.q.Domain == q.Domain {
			nth++
		}
	}
	var ch <-chan struct{}
	if g.hold != nil {
		ch = g.hold(q, nth)
	}
	g.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return extract.Page{}, ctx.Err()
		}
	}
	return g.fakeSource.Describe(ctx, q, st)
}

// windowsAsked returns the distinct query starts of domain's first pages after its first
// request (the whole range's count, ReadFirst).
func (g *gateSource) windowsAsked(domain string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	starts := map[time.Time]bool{}
	first := true
	for _, s := range g.seen {
		if s.q.Domain != domain {
			continue
		}
		if first {
			first = false
			continue
		}
		if s.q.PageNum == 1 {
			starts[s.q.Start] = true
		}
	}
	return len(starts)
}

// everySevenSeconds fills the source with a record every 7 seconds of [start, start+24h) for
// each domain: 12,343 records a domain.
func everySevenSeconds(src *fakeSource, start time.Time, domains ...string) {
	for _, d := range domains {
		for s := 0; s < 86400; s += 7 {
			at := start.Add(time.Duration(s) * time.Second)
			src.recs = append(src.recs, rec(d, at, fmt.Sprintf("s%d", s), "{}"))
			src.ats = append(src.ats, at)
		}
	}
}

// mustHoldEachOnce fails unless the sink holds n distinct records, each committed once.
func mustHoldEachOnce(t *testing.T, sink *fakeSink, n int) {
	t.Helper()
	if len(sink.rows) != n {
		t.Fatalf("%d distinct records committed, want %d", len(sink.rows), n)
	}
	for raw, k := range sink.rows {
		if k != 1 {
			t.Fatalf("record committed %d times: %s", k, raw)
		}
	}
}

// A domain's first window, whose density is not known, is only counted (the whole range, one
// request); then the range is read as windows side by side: two windows ask for their first
// page while neither has been answered (a Read that split the range would read its parts one
// after another). Every request carries its window's start as the limiter's priority.
func TestTheFirstWindowIsCountedThenWindowsAreReadSideBySide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	start := now.Add(-24 * time.Hour)
	open := make(chan struct{})
	src := &gateSource{fakeSource: &fakeSource{}}
	everySevenSeconds(src.fakeSource, start, "f.example.com")
	src.hold = func(q extract.Query, nth int) <-chan struct{} {
		if nth > 1 && q.PageNum == 1 {
			return open
		}
		return nil
	}
	sink := &fakeSink{rows: map[string]int{}}
	p, err := New(Config{Source: src, Sink: sink, RunID: "fake", PageSize: 100, InitialLookback: 24 * time.Hour,
		Settle: time.Nanosecond, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Result, 1)
	go func() { done <- p.Sync(context.Background(), []string{"f.example.com"}) }()
	sideBySide := poll.Within(time.Minute, func() bool { return src.windowsAsked("f.example.com") >= 2 })
	asked := src.windowsAsked("f.example.com")
	close(open)
	mustSucceed(t, <-done)
	if !sideBySide {
		t.Fatalf("after the count, %d window asked for its first page before one was answered, want at least 2", asked)
	}
	end := time.Date(2026, 6, 1, 23, 59, 59, 0, time.UTC) // now − settle, at second precision
	if q := src.seen[0].q; !q.Start.Equal(start.Add(-time.Second)) || !q.End.Equal(end) || q.PageNum != 1 {
		t.Errorf("first request %v..%v page %d, want the whole range %v..%v, page 1", q.Start, q.End, q.PageNum, start.Add(-time.Second), end)
	}
	cur := start
	for i, w := range sink.windows {
		if !w.Start.Equal(cur) || !w.End.After(w.Start) {
			t.Fatalf("window %d is %v..%v, want it to start at %v", i, w.Start, w.End, cur)
		}
		cur = w.End
	}
	if !cur.Equal(end) || len(sink.windows) < 2 {
		t.Errorf("%d windows end at %v, want several, ending at %v", len(sink.windows), cur, end)
	}
	mustHoldEachOnce(t, sink, 12343)
	// A window's requests (its parts' too) carry its start: at or before the query's start
	// + 1 s, and not before the range.
	for _, s := range src.seen {
		if !s.hasPrio || s.priority.After(s.q.Start.Add(time.Second)) || s.priority.Before(start) {
			t.Fatalf("request %v..%v page %d has priority %v (set: %v), want its window's start", s.q.Start, s.q.End, s.q.PageNum, s.priority, s.hasPrio)
		}
	}
}

// Memory one domain frees lets another read further ahead at once, not only at its own next
// event: domain b, whose one window waits on the API, reads a second window while a holds
// the rest of the budget, as soon as a's windows give memory back.
func TestMemoryFreedByOneDomainLetsAnotherReadAhead(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	start := now.Add(-24 * time.Hour)
	const a, b = "a.example.com", "b.example.com"
	bCounting, countB, openA, openB := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	src := &gateSource{fakeSource: &fakeSource{}}
	everySevenSeconds(src.fakeSource, start, a, b)
	var once sync.Once
	src.hold = func(q extract.Query, nth int) <-chan struct{} {
		switch {
		case q.Domain == a && nth == 1:
			return bCounting // a counts once b's count is asked (b then holds its first weight)
		case q.Domain == a:
			return openA
		case nth == 1:
			once.Do(func() { close(bCounting) })
			return countB
		default:
			return openB
		}
	}
	// Page size 100 and a budget of 3,200 records: a window weighs 716 until its count is
	// known (extract.Reader.Weight), so 4 fit. Three windows read at once per domain
	// (Lookahead): a takes three, b the fourth.
	sink := &fakeSink{rows: map[string]int{}}
	p, err := New(Config{Source: src, Sink: sink, RunID: "fake", PageSize: 100, MaxRecordsInFlight: 3200, Lookahead: 3,
		InitialLookback: 24 * time.Hour, Settle: time.Nanosecond, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	weight := extract.NewReader(extract.ReaderConfig{Source: src, Learned: extract.NewLearned(nil), PageSize: 100,
		TargetPages: p.cfg.TargetPages, MaxWindowRecords: p.maxWindowRecords()}).Weight()
	if fit := p.memSize / weight; fit != 4 {
		t.Fatalf("the test needs a budget of 4 windows; %d of %d records fit in %d: change MaxRecordsInFlight", fit, weight, p.memSize)
	}
	done := make(chan Result, 1)
	go func() { done <- p.Sync(context.Background(), []string{a, b}) }()
	defer func() {
		for _, ch := range []chan struct{}{countB, openA, openB} {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}()
	poll.Until(t, time.Minute, "a's three windows", func() bool { return src.windowsAsked(a) == 3 })
	close(countB)
	poll.Until(t, time.Minute, "b's first window", func() bool { return src.windowsAsked(b) == 1 })
	close(openA)
	if !poll.Within(time.Minute, func() bool { return src.windowsAsked(b) >= 2 }) {
		t.Errorf("while its first window waited, b read %d window(s) as a gave memory back, want at least 2", src.windowsAsked(b))
	}
	close(openB)
	mustSucceed(t, <-done)
	mustHoldEachOnce(t, sink, 2*12343)
}
