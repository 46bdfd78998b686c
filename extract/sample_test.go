package extract

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// The cut points of a draw, worked out by hand: each boundary is the whole second whose rank
// (drawn records before it, interpolated in time between the drawn records around it, each
// drawn record at the middle of its second) is closest to j/n of the k+1 gaps.
func TestASampleSplitsAtTheQuantilesOfItsDraw(t *testing.T) {
	t.Parallel()
	secs := func(ss ...int) []int64 {
		var out []int64
		for _, s := range ss {
			out = append(out, t0.Unix()+int64(s))
		}
		return out
	}
	repeat := func(s, n int) []int {
		out := make([]int, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	for _, c := range []struct {
		name   string
		window int // seconds from t0
		draw   []int64
		n      int
		want   []int // the parts' ends, seconds from t0
	}{
		// Nine drawn records at 10, 20, …, 90: rank 5 of 10 lies between second 50 (rank 4.95)
		// and 51 (5.05); the tie keeps the earlier.
		{"even draw, halves", 100, secs(10, 20, 30, 40, 50, 60, 70, 80, 90), 2, []int{50, 100}},
		// Ranks 3.33 and 6.67: second 34 (rank 3.35) and 67 (rank 6.65).
		{"even draw, thirds", 100, secs(10, 20, 30, 40, 50, 60, 70, 80, 90), 3, []int{34, 67, 100}},
		// Ten drawn records in the window's last ten minutes: half of them before second 3005
		// (rank 5.5, the middle of the 11 gaps). An even cut by time would put them all in
		// the second half.
		{"draw at the end", 3600, secs(3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009), 2, []int{3005, 3600}},
		// Every drawn record in second 50: the cuts fall on both sides of it.
		{"one dense second, thirds", 100, secs(repeat(50, 10)...), 3, []int{50, 51, 100}},
		// Two cuts would both land at 50 (rank 0.99 is closer to 5.5 than 10.01): one part is
		// dropped rather than left empty.
		{"one dense second, halves", 100, secs(repeat(50, 10)...), 2, []int{50, 100}},
		// The part that starts at that second must not come back whole (the read would cut it
		// for ever): the second is cut off alone.
		{"a part starting at the dense second", 50, secs(repeat(0, 10)...), 2, []int{1, 50}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := Window{t0, t0.Add(time.Duration(c.window) * time.Second)}
			s := &sample{secs: c.draw, total: 2 * len(c.draw)}
			parts := s.split(w, c.n)
			var got []int
			for i, p := range parts {
				got = append(got, int(p.End.Sub(t0)/time.Second))
				if (i == 0 && !p.Start.Equal(w.Start)) || (i > 0 && !p.Start.Equal(parts[i-1].End)) || !p.End.After(p.Start) {
					t.Fatalf("parts %v do not tile %v", parts, w)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("parts end at %v, want %v", got, c.want)
			}
		})
	}
}

// clusteredFake holds n records in the last five minutes of the hour from t0, answered fully
// shuffled.
func clusteredFake(n int) *fakeAPI {
	f := newFake("shuffle")
	for i := range n {
		f.add(t0.Add(55*time.Minute+time.Duration(i*300/n)*time.Second), fmt.Sprintf("s%d", i), `{}`)
	}
	return f
}

// An overflowing window of shuffled answers is cut where its first page's records say, not
// evenly by time. The hour's records are all in its last five minutes: the first page (100 of
// them, at random) puts the cut in the middle of those five minutes, so the window costs three
// requests: the page that overflowed and two parts. Cut evenly by time, the first half would be
// empty and the second would overflow again. With 170 records the page holds most of them, so
// each part's count is known to a few records and two parts of about 85 suffice (aimed at
// 4/5 of a page, as windows planned from a density are, it would take three).
func TestAnOverflowingShuffledWindowIsCutAtItsDraw(t *testing.T) {
	t.Parallel()
	for _, n := range []int{150, 170} {
		f := clusteredFake(n)
		r := newTestReader(f, 100)
		// The run has already seen that answers are not sorted, and a count of 1,000 (so n is
		// not a cap).
		r.cfg.Learned.observeOrder(OrderUnsorted)
		r.cfg.Learned.trust(1000, 100)
		// The read may stop after the first part (a prefix holding half its limit); the rest
		// is then read as the pipeline reads it, as a window of its own.
		w := Window{t0, t0.Add(time.Hour)}
		var got []callback.Record
		for cur := w.Start; cur.Before(w.End); {
			res, err := r.Read(context.Background(), Query{Domain: "d.example.com"}, Window{cur, w.End}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Gaps) != 0 || !res.Window.End.After(cur) {
				t.Fatalf("%d records: read %v with gaps %v", n, res.Window, res.Gaps)
			}
			got, cur = append(got, res.Records...), res.Window.End
		}
		if missing, extra := sameMultiset(got, f.truth(w.Start, w.End)); missing != 0 || extra != 0 {
			t.Fatalf("%d records: %d missing, %d extra", n, missing, extra)
		}
		if f.requests != 3 {
			t.Errorf("%d records: %d requests, want 3 (the overflowing page and two parts)", n, f.requests)
		}
	}
}

// A first read whose count is not trusted (the run's first count may be a cap) reports the
// density of what it read from its first record on: a first sync's lookback starts an hour
// before the domain's first call-back, and that hour must not dilute it. The hour after holds
// one record a second.
func TestAFirstReadsDensityStartsAtItsFirstRecord(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"shuffle", "stable"} {
		f := newFake(order)
		for i := range 3600 {
			f.add(t0.Add(time.Hour+time.Duration(i)*time.Second), fmt.Sprintf("s%d", i), `{}`)
		}
		r := newTestReader(f, 100)
		res, err := r.Read(context.Background(), Query{Domain: "d.example.com"}, Window{t0, t0.Add(2 * time.Hour)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Density < 0.8 || res.Density > 1.25 || res.Counted != len(res.Records) {
			t.Errorf("%s: density %.3f/s from %d records (%d read, prefix %v), want about 1/s from the records read",
				order, res.Density, res.Counted, len(res.Records), res.Window)
		}
	}
}

// Fully shuffled answers of data like livesim's (two days of 10,000 call-backs a day at random
// seconds, read from an hour before the first) cost at most 1.35 × the minimum of requests,
// reading window after window as the pipeline does.
func TestShuffledAnswersCostAtMostOneAndAThirdOfTheMinimum(t *testing.T) {
	t.Parallel()
	f := newFake("shuffle")
	rnd := rand.New(rand.NewPCG(5, 6))
	var at []int
	for range 20000 {
		at = append(at, rnd.IntN(2*86400))
	}
	slices.Sort(at)
	for i, s := range at {
		f.add(t0.Add(time.Hour+time.Duration(s)*time.Second), fmt.Sprintf("s%d", i), `{}`)
	}
	r := NewReader(ReaderConfig{Source: f, Learned: NewLearned(nil), PageSize: 100, MaxWindowRecords: 5000,
		Now: func() time.Time { return t0.Add(50 * time.Hour) }})
	got, gaps := readAll(t, r, t0, t0.Add(49*time.Hour))
	if missing, extra := sameMultiset(got, f.truth(t0, t0.Add(49*time.Hour))); missing != 0 || extra != 0 || len(gaps) != 0 {
		t.Fatalf("%d missing, %d extra, gaps %v", missing, extra, gaps)
	}
	ratio := float64(f.requests) / 200
	if ratio > 1.35 {
		t.Errorf("%d requests for a minimum of 200 (%.3f ×), want at most 1.35 ×", f.requests, ratio)
	}
	t.Logf("%d requests for a minimum of 200 (%.3f ×)", f.requests, ratio)
}
