package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/poll"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// fakeSource serves records from memory, shuffled per request when shuffle is set, with an
// optional result cap.
type fakeSource struct {
	mu      sync.Mutex
	recs    []callback.Record
	ats     []time.Time
	shuffle bool
	cap     int
	rng     *rand.Rand
}

func (f *fakeSource) Describe(_ context.Context, q extract.Query, _ *extract.Stats) (extract.Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var idx []int
	for i, t := range f.ats {
		if !t.Before(q.Start) && !t.After(q.End) && (q.Domain == "" || q.Domain == f.recs[i].Domain) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return f.ats[idx[a]].Before(f.ats[idx[b]]) })
	if f.shuffle {
		f.rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
	}
	if f.cap > 0 && len(idx) > f.cap {
		idx = idx[:f.cap]
	}
	pg := extract.Page{TotalCount: len(idx), PageNum: q.PageNum}
	from := min((q.PageNum-1)*q.PageSize, len(idx))
	for _, i := range idx[from:min(from+q.PageSize, len(idx))] {
		pg.Records = append(pg.Records, f.recs[i])
	}
	return pg, nil
}

// fakeSink keeps committed windows in memory.
type fakeSink struct {
	mu      sync.Mutex
	windows []load.WindowOpts
	rows    map[string]int // raw record → rows
	mark    time.Time
}

func (s *fakeSink) TryLock(context.Context, load.CheckpointKey, string) (*load.Lease, bool, error) {
	return nil, true, nil // a nil lease is always held
}
func (s *fakeSink) Lock(context.Context, load.CheckpointKey, string, time.Duration) (*load.Lease, error) {
	return nil, nil
}
func (s *fakeSink) Checkpoint(context.Context, load.CheckpointKey) (load.Checkpoint, bool, error) {
	return load.Checkpoint{}, false, nil
}
func (s *fakeSink) StartRun(context.Context, load.Run) error { return nil }
func (s *fakeSink) FinishRun(context.Context, string, string, string, load.RunResult) error {
	return nil
}
func (s *fakeSink) RecordGap(context.Context, load.CheckpointKey, time.Time, time.Time, string, string) (bool, error) {
	return true, nil
}
func (s *fakeSink) RecordDiscovered(context.Context, string, string) error { return nil }
func (s *fakeSink) CommitWindow(_ context.Context, o load.WindowOpts, rows []transform.Row, _ []transform.Reject) (load.Counts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, o)
	for _, r := range rows {
		s.rows[string(r.Raw)]++
	}
	if o.Advance != nil {
		s.mark = *o.Advance
	}
	return load.Counts{New: int64(len(rows))}, nil
}

// The pipeline's window loop against fakes: windows read ahead commit in time order, tile the
// range exactly, and every record is committed once, whatever the order and cap.
func TestWindowsCommitInOrderAndTileTheRange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		shuffle bool
		cap     int
	}{{false, 0}, {true, 0}, {true, 100}, {false, 100}} {
		t.Run(fmt.Sprintf("shuffle%v/cap%d", c.shuffle, c.cap), func(t *testing.T) {
			t.Parallel()
			src := &fakeSource{shuffle: c.shuffle, cap: c.cap, rng: rand.New(rand.NewPCG(3, 4))}
			start := now.Add(-24 * time.Hour)
			for s := 0; s < 86400; s += 7 {
				at := start.Add(time.Duration(s) * time.Second)
				src.recs = append(src.recs, rec("f.example.com", at, fmt.Sprintf("s%d", s), "{}"))
				src.ats = append(src.ats, at)
			}
			sink := &fakeSink{rows: map[string]int{}}
			p, err := New(Config{Source: src, Sink: sink, RunID: "fake", PageSize: 100, InitialLookback: 24 * time.Hour,
				Settle: time.Nanosecond, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			mustSucceed(t, p.Sync(context.Background(), []string{"f.example.com"}))
			cur := start
			for i, w := range sink.windows {
				if !w.Start.Equal(cur) || !w.End.After(w.Start) {
					t.Fatalf("window %d is %v..%v, want it to start at %v", i, w.Start, w.End, cur)
				}
				cur = w.End
			}
			// The run ends at now − settle (1ns) at second precision.
			end := time.Date(2026, 6, 1, 23, 59, 59, 0, time.UTC)
			if !cur.Equal(end) || !sink.mark.Equal(end) {
				t.Errorf("windows end at %v, watermark %v; want both at %v", cur, sink.mark, end)
			}
			// 86,400 / 7 = 12,343 records, the last at 23:59:54.
			if len(sink.rows) != 12343 {
				t.Fatalf("%d distinct records committed, want 12343", len(sink.rows))
			}
			for raw, n := range sink.rows {
				if n != 1 {
					t.Fatalf("record committed %d times: %s", n, raw)
				}
			}
		})
	}
}

// startsSource records the StartTime of every query it serves.
type startsSource struct {
	*fakeSource
	mu     sync.Mutex
	starts map[time.Time]bool
}

func (s *startsSource) Describe(ctx context.Context, q extract.Query, st *extract.Stats) (extract.Page, error) {
	s.mu.Lock()
	s.starts[q.Start] = true
	s.mu.Unlock()
	return s.fakeSource.Describe(ctx, q, st)
}

// startsFrom counts the distinct query starts at or after t.
func (s *startsSource) startsFrom(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for st := range s.starts {
		if !st.Before(t) {
			n++
		}
	}
	return n
}

// slowSink holds its first commit until wait returns.
type slowSink struct {
	*fakeSink
	once sync.Once
	wait func(load.WindowOpts)
}

func (s *slowSink) CommitWindow(ctx context.Context, o load.WindowOpts, rows []transform.Row, rejects []transform.Reject) (load.Counts, error) {
	s.once.Do(func() { s.wait(o) })
	return s.fakeSink.CommitWindow(ctx, o, rows, rejects)
}

// A commit does not stop the reading: with one window read at a time (Lookahead 1), the two
// windows after a committing one are both read while it commits (the second can only start
// once the first is read, so only a commit in the background lets it), and the run still
// commits every window in order, each record once.
func TestWindowsAfterACommittingOneAreReadMeanwhile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	src := &startsSource{fakeSource: &fakeSource{}, starts: map[time.Time]bool{}}
	start := now.Add(-24 * time.Hour)
	for s := 0; s < 86400; s += 7 {
		at := start.Add(time.Duration(s) * time.Second)
		src.recs = append(src.recs, rec("f.example.com", at, fmt.Sprintf("s%d", s), "{}"))
		src.ats = append(src.ats, at)
	}
	sink := &slowSink{fakeSink: &fakeSink{rows: map[string]int{}}}
	sink.wait = func(o load.WindowOpts) {
		// Each later window's query starts at its first second − 1s, at or after o.End − 1s.
		if !poll.Within(time.Minute, func() bool { return src.startsFrom(o.End.Add(-time.Second)) >= 2 }) {
			t.Errorf("while the window %v..%v committed, %d later windows were read, want 2",
				o.Start, o.End, src.startsFrom(o.End.Add(-time.Second)))
		}
	}
	p, err := New(Config{Source: src, Sink: sink, RunID: "fake", PageSize: 100, Lookahead: 1,
		InitialLookback: 24 * time.Hour, Settle: time.Nanosecond, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, p.Sync(context.Background(), []string{"f.example.com"}))
	cur := start
	for i, w := range sink.windows {
		if !w.Start.Equal(cur) {
			t.Fatalf("window %d starts at %v, want %v", i, w.Start, cur)
		}
		cur = w.End
	}
	if len(sink.rows) != 12343 {
		t.Fatalf("%d distinct records committed, want 12343", len(sink.rows))
	}
	for raw, n := range sink.rows {
		if n != 1 {
			t.Fatalf("record committed %d times: %s", n, raw)
		}
	}
}
