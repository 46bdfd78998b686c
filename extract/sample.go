package extract

import (
	"math"
	"slices"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/transform"
)

// A sample is what one page of an answer that is not sorted by time tells of its window: such a
// page is the API's records of the query in no particular order, cut to a page, so its records
// are taken for a random draw from the window. It only places split points; no proof rests on
// it (a page that is not a random draw costs requests, never records).
type sample struct {
	// secs are the seconds (Unix) of the drawn records that fall in the window, sorted.
	secs []int64
	// total is how many records of the window the draw stands for: the query's TotalCount,
	// less the share of drawn records outside the window (the query's extra second).
	total int
}

// sampleOf returns the sample of a page of w's query that counted total records (nil when no
// drawn record falls in w).
func sampleOf(w Window, total int, recs []callback.Record) *sample {
	s := &sample{}
	drawn := 0
	for i := range recs {
		t, ok := transform.CallbackTime(recs[i].CallbackTime)
		if !ok {
			continue
		}
		drawn++
		if t = t.Truncate(time.Second); w.Keeps(t) {
			s.secs = append(s.secs, t.Unix())
		}
	}
	if len(s.secs) == 0 {
		return nil
	}
	slices.Sort(s.secs)
	s.total = max(len(s.secs), int(math.Ceil(float64(total)*float64(len(s.secs))/float64(drawn))))
	return s
}

// rank returns where the second boundary b (Unix seconds, inside w) falls among the drawn
// records, as an order statistic: i when i drawn records lie before b, interpolated in time
// between the drawn records around it. The drawn records stand at the middle of their seconds;
// the window's start is rank 0 and its end rank len(secs)+1.
func (s *sample) rank(w Window, b int64) float64 {
	i, _ := slices.BinarySearch(s.secs, b) // drawn records before b
	lo, hi := float64(w.Start.Unix()), float64(w.End.Unix())
	if i > 0 {
		lo = float64(s.secs[i-1]) + 0.5
	}
	if i < len(s.secs) {
		hi = float64(s.secs[i]) + 0.5
	}
	return float64(i) + (float64(b)-lo)/(hi-lo)
}

// at returns the instant (Unix seconds, fractional) of the order statistic r, the inverse of
// rank.
func (s *sample) at(w Window, r float64) float64 {
	k := len(s.secs)
	i := min(int(r), k)
	lo, hi := float64(w.Start.Unix()), float64(w.End.Unix())
	if i > 0 {
		lo = float64(s.secs[i-1]) + 0.5
	}
	if i < k {
		hi = float64(s.secs[i]) + 0.5
	}
	return lo + (r-float64(i))*(hi-lo)
}

// split cuts w at whole seconds into about n parts of equal estimated count (order statistics
// of the draw, interpolated in time between them). Each boundary is the second closest to its
// share; parts are never empty, so there may be fewer than n. It returns w alone when w cannot
// be cut.
func (s *sample) split(w Window, n int) []Window {
	start, end := w.Start.Unix(), w.End.Unix()
	k := float64(len(s.secs))
	out := make([]Window, 0, n)
	prev, from := start, w.Start
	for j := 1; j < n; j++ {
		r := float64(j) * (k + 1) / float64(n)
		t := s.at(w, r)
		b := int64(math.Floor(t))
		if c := b + 1; math.Abs(s.rank(w, c)-r) < math.Abs(s.rank(w, b)-r) {
			b = c
		}
		if b <= prev || b >= end {
			continue
		}
		to := time.Unix(b, 0).In(w.Start.Location())
		out = append(out, Window{from, to})
		prev, from = b, to
	}
	return append(out, Window{from, w.End})
}
