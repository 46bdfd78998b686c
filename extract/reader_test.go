package extract

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// fakeAPI is a DescribeLiveCallbackData stand-in with the behaviours the documentation allows.
type fakeAPI struct {
	mu   sync.Mutex
	recs []callback.Record // in insertion order
	ats  []time.Time
	// order: "stable" (oldest first, ties in insertion order), "ties" (oldest first, ties
	// shuffled per request), "desc" (newest first), "shuffle" (shuffled per request).
	order              string
	cap                int           // TotalCount and served records capped; 0 = none
	maxSpan            time.Duration // longest EndTime − StartTime accepted; 0 = none
	oldest             time.Time     // StartTime before it is refused; zero = none
	exclStart, exclEnd bool
	rng                *rand.Rand
	onPage             func(f *fakeAPI, q Query) // called before answering, with f.mu held

	requests, refused int
}

func newFake(order string) *fakeAPI {
	return &fakeAPI{order: order, rng: rand.New(rand.NewPCG(1, 2))}
}

func (f *fakeAPI) add(t time.Time, stream, body string) {
	f.recs = append(f.recs, callback.Record{
		Domain: "d.example.com", App: "live", Stream: stream, CallbackTime: t.UTC().Format(time.RFC3339),
		CallbackEventType: "push_start", CallbackMethod: "post", CallbackAddress: "http://h/cb",
		CallbackStatus: "success", CallbackBody: body, CallbackResponseCode: "200",
	})
	f.ats = append(f.ats, t)
}

func refusal(msg string) error {
	return &APIError{Action: ActionDescribe, HTTPStatus: 400, Code: "InvalidParam", Message: msg, Class: ClassFatal}
}

func (f *fakeAPI) Describe(_ context.Context, q Query, _ *Stats) (Page, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.maxSpan > 0 && q.End.Sub(q.Start) > f.maxSpan {
		f.refused++
		return Page{}, refusal("the time range exceeds the maximum span")
	}
	if !f.oldest.IsZero() && q.Start.Before(f.oldest) {
		f.refused++
		return Page{}, refusal("StartTime is older than the history kept")
	}
	if f.onPage != nil {
		f.onPage(f, q)
	}
	var idx []int
	for i, t := range f.ats {
		if d := f.recs[i].Domain; (q.Domain != "" && d != q.Domain) || (len(q.Domains) > 0 && !slices.Contains(q.Domains, d)) {
			continue
		}
		if (t.Before(q.Start) || (f.exclStart && t.Equal(q.Start))) || t.After(q.End) || (f.exclEnd && t.Equal(q.End)) {
			continue
		}
		idx = append(idx, i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return f.ats[idx[a]].Before(f.ats[idx[b]]) })
	switch f.order {
	case "ties":
		for lo := 0; lo < len(idx); {
			hi := lo
			for hi < len(idx) && f.ats[idx[hi]].Equal(f.ats[idx[lo]]) {
				hi++
			}
			f.rng.Shuffle(hi-lo, func(a, b int) { idx[lo+a], idx[lo+b] = idx[lo+b], idx[lo+a] })
			lo = hi
		}
	case "desc":
		slices.Reverse(idx)
	case "shuffle":
		f.rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
	}
	total := len(idx)
	if f.cap > 0 && total > f.cap {
		total = f.cap
		idx = idx[:f.cap]
	}
	from := min((q.PageNum-1)*q.PageSize, len(idx))
	to := min(from+q.PageSize, len(idx))
	page := Page{TotalCount: total, PageNum: q.PageNum}
	for _, i := range idx[from:to] {
		page.Records = append(page.Records, f.recs[i])
	}
	return page, nil
}

// truth returns the fake's records with a time in [from, to), written out by plain filtering.
func (f *fakeAPI) truth(from, to time.Time) []callback.Record {
	var out []callback.Record
	for i, t := range f.ats {
		if !t.Before(from) && t.Before(to) {
			out = append(out, f.recs[i])
		}
	}
	return out
}

// readAll reads [from, to) window by window as the pipeline does and returns what was kept.
func readAll(t *testing.T, r *Reader, from, to time.Time) ([]callback.Record, []Gap) {
	t.Helper()
	var recs []callback.Record
	var gaps []Gap
	sizer := NewSizer(r.Target, r.cfg.Learned.MaxSpan)
	for cur := from; cur.Before(to); {
		w := Window{Start: cur, End: sizer.Next(cur, to)}
		read := r.Read
		first := !sizer.Known()
		if first {
			read = r.ReadFirst
		}
		res, err := read(context.Background(), Query{Domain: "d.example.com"}, w, nil)
		if err != nil {
			t.Fatalf("read %v: %v", w, err)
		}
		sizer.Learn(res)
		if first && res.Window.Empty() && len(res.Records)+len(res.Rejects)+len(res.Gaps) == 0 {
			if res.Density <= 0 {
				t.Fatalf("ReadFirst of %v read nothing and gave no density", w)
			}
			continue // only counted: plan the windows from the density
		}
		if !res.Window.Start.Equal(cur) || !res.Window.End.After(cur) || res.Window.End.After(w.End) {
			t.Fatalf("read of %v covered %v", w, res.Window)
		}
		recs = append(recs, res.Records...)
		gaps = append(gaps, res.Gaps...)
		cur = res.Window.End
	}
	return recs, gaps
}

// sameMultiset reports the difference between two multisets of records (all 15 fields).
func sameMultiset(got, want []callback.Record) (missing, extra int) {
	count := map[[15]string]int{}
	for _, r := range want {
		count[r.Fields()]++
	}
	for _, r := range got {
		count[r.Fields()]--
	}
	for _, n := range count {
		if n > 0 {
			missing += n
		} else {
			extra -= n
		}
	}
	return missing, extra
}

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// busyHour fills an hour: one record every 2 seconds, and every 97 seconds a burst of 30
// records in one second of which 10 are exact copies of each other (same identity).
func busyHour(f *fakeAPI) {
	for s := 0; s < 3600; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		if s%2 == 0 {
			f.add(at, fmt.Sprintf("s%d", s), `{"n":1}`)
		}
		if s%97 == 5 {
			for i := range 20 {
				f.add(at, fmt.Sprintf("burst%d", i), `{}`)
			}
			for range 10 {
				f.add(at, "copy", `{"copy":true}`)
			}
		}
	}
}

func newTestReader(f *fakeAPI, pageSize int) *Reader {
	return NewReader(ReaderConfig{Source: f, Learned: NewLearned(nil), PageSize: pageSize, TargetPages: 25,
		MaxWindowRecords: 40 * pageSize, Now: func() time.Time { return t0.Add(2 * time.Hour) }})
}

func TestReadIsExactUnderEveryOrderAndCap(t *testing.T) {
	t.Parallel()
	type tc struct {
		order    string
		pageSize int
		cap      int
		excl     bool
		maxRatio float64 // requests / ceil(records / page size)
	}
	// 1,800 + 38 bursts of 30 = 2,940 records; with page size 100 the minimum is 30 requests.
	cases := []tc{
		{"stable", 100, 0, false, 1.1},
		{"ties", 100, 0, false, 1.5},
		{"desc", 100, 0, false, 1.1},
		{"shuffle", 100, 0, false, 2.2},
		{"stable", 100, 0, true, 1.1},
		{"ties", 100, 100, false, 3.5},
		{"ties", 100, 200, false, 3.5},
		{"desc", 100, 100, true, 3.5},
		{"shuffle", 100, 100, false, 3.5},
		{"shuffle", 100, 200, false, 3.5},
		{"stable", 100, 10000, false, 1.1},
		{"ties", 1000, 0, false, 2.5},
		{"shuffle", 1000, 0, false, 3},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/page%d/cap%d/excl%v", c.order, c.pageSize, c.cap, c.excl), func(t *testing.T) {
			t.Parallel()
			f := newFake(c.order)
			f.cap, f.exclStart, f.exclEnd = c.cap, c.excl, c.excl
			busyHour(f)
			r := newTestReader(f, c.pageSize)
			got, gaps := readAll(t, r, t0, t0.Add(time.Hour))
			want := f.truth(t0, t0.Add(time.Hour))
			if len(want) != 2940 {
				t.Fatalf("the fake holds %d records in the hour, want 2940", len(want))
			}
			if missing, extra := sameMultiset(got, want); missing != 0 || extra != 0 || len(gaps) != 0 {
				t.Fatalf("%d records missing, %d extra, gaps %v", missing, extra, gaps)
			}
			minimum := (2940 + c.pageSize - 1) / c.pageSize
			if ratio := float64(f.requests) / float64(minimum); ratio > c.maxRatio {
				t.Errorf("%d requests for a minimum of %d (%.2fx), want at most %.2fx", f.requests, minimum, ratio, c.maxRatio)
			}
			t.Logf("%d requests, minimum %d, order learned %s", f.requests, minimum, r.cfg.Learned.Order())
		})
	}
}

// ReadFirst reads a window that fits as Read does; a window that must be split is only counted
// when its answers are sorted (the density for the caller to plan windows side by side); when
// they are not, it is read up to the first page's earliest drawn record, past an empty hour,
// and the density counts from there.
func TestReadFirstCountsAWindowThatMustBeSplit(t *testing.T) {
	t.Parallel()
	q := Query{Domain: "d.example.com"}
	from, to := t0.Add(-time.Hour), t0.Add(time.Hour) // an empty hour, then busyHour's 2,940
	for _, c := range []struct {
		order    string
		from, to time.Time
	}{
		{"stable", from, to},
		{"desc", from, to},
		{"shuffle", from, to},
		{"shuffle", t0.Add(10 * time.Minute), t0.Add(11 * time.Minute)}, // fits one page
	} {
		t.Run(fmt.Sprintf("%s/%s", c.order, c.to.Sub(c.from)), func(t *testing.T) {
			t.Parallel()
			f := newFake(c.order)
			busyHour(f)
			r := newTestReader(f, 100)
			w := Window{Start: c.from, End: c.to}
			res, err := r.ReadFirst(context.Background(), q, w, nil)
			if err != nil {
				t.Fatal(err)
			}
			switch want := f.truth(c.from, c.to); {
			case len(want) <= 100:
				// One minute holds 30 records (one a second is every other second).
				if len(want) != 30 || res.Window != w || f.requests != 1 {
					t.Fatalf("read %v of %v in %d requests, %d records; want all of it in 1", res.Window, w, f.requests, len(want))
				}
				if missing, extra := sameMultiset(res.Records, want); missing != 0 || extra != 0 {
					t.Fatalf("%d missing, %d extra", missing, extra)
				}
			case c.order != "shuffle":
				// Counted only: 2,940 records over the query's 7,201 seconds.
				if res.Window != (Window{Start: w.Start, End: w.Start}) || len(res.Records) != 0 || f.requests != 1 {
					t.Fatalf("read %v with %d records in %d requests; want only the count (1 request)", res.Window, len(res.Records), f.requests)
				}
				if wantD := 2940.0 / 7201; math.Abs(res.Density-wantD) > 1e-9 || res.Counted != 2940 {
					t.Fatalf("density %v from %d records, want %v from 2940", res.Density, res.Counted, wantD)
				}
			default:
				// Up to the earliest drawn record: past the empty hour, exactly.
				end := res.Window.End
				if !res.Window.Start.Equal(w.Start) || !end.After(t0) || end.After(t0.Add(10*time.Minute)) {
					t.Fatalf("first part read %v, want it past the empty hour, within 10 minutes of %v", res.Window, t0)
				}
				if missing, extra := sameMultiset(res.Records, f.truth(w.Start, end)); missing != 0 || extra != 0 {
					t.Fatalf("first part: %d missing, %d extra", missing, extra)
				}
				// The density counts from the first drawn record, in the busy hour: between
				// 2,940 / 3,600 s and 2,940 / 3,000 s, not diluted by the empty hour.
				if res.Density < 2940.0/3601 || res.Density > 2940.0/3000 || res.Counted != 2940 {
					t.Fatalf("density %v from %d records, want 0.82–0.98 from 2940", res.Density, res.Counted)
				}
				if f.requests > 4 {
					t.Fatalf("%d requests for the count and the first part, want at most 4", f.requests)
				}
			}
		})
	}
}

func TestTheOrderIsLearnedFromTheAnswers(t *testing.T) {
	t.Parallel()
	for order, want := range map[string]Order{"stable": OrderAsc, "ties": OrderAsc, "desc": OrderDesc, "shuffle": OrderUnsorted} {
		f := newFake(order)
		busyHour(f)
		r := newTestReader(f, 100)
		readAll(t, r, t0, t0.Add(time.Hour))
		if got := r.cfg.Learned.Order(); got != want {
			t.Errorf("%s answers: order learned %s, want %s", order, got, want)
		}
	}
}

// denseSecond puts n records in one second (all distinct, or with 5 exact copies spread over the second) among
// sparse ones.
func denseSecond(f *fakeAPI, n int, copies bool) time.Time {
	dense := t0.Add(30 * time.Minute)
	for s := 0; s < 3600; s += 10 {
		f.add(t0.Add(time.Duration(s)*time.Second+3*time.Second), fmt.Sprintf("s%d", s), `{}`)
	}
	for i := range n {
		body := fmt.Sprintf(`{"i":%d}`, i)
		if copies && i%50 == 0 {
			body = `{"copy":true}`
		}
		f.add(dense, "dense", body)
	}
	return dense
}

func TestADenseSecondIsReadWhenProvableElseRecordedAsAGap(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		order  string
		copies bool
		cap    int
		gap    bool
	}{
		{"stable", false, 0, false}, // sorted, identities distinct: provable
		{"desc", false, 0, false},
		{"ties", false, 0, true},    // each request shuffles the second: pages may repeat and skip records
		{"stable", true, 0, true},   // repeated identities straddle pages: not provable
		{"shuffle", false, 0, true}, // not sorted
		{"stable", false, 100, true},
	} {
		t.Run(fmt.Sprintf("%s/copies%v/cap%d", c.order, c.copies, c.cap), func(t *testing.T) {
			t.Parallel()
			f := newFake(c.order)
			f.cap = c.cap
			dense := denseSecond(f, 250, c.copies)
			r := newTestReader(f, 100)
			got, gaps := readAll(t, r, t0, t0.Add(time.Hour))
			want := f.truth(t0, t0.Add(time.Hour))
			if !c.gap {
				if missing, extra := sameMultiset(got, want); missing != 0 || extra != 0 || len(gaps) != 0 {
					t.Fatalf("%d missing, %d extra, gaps %v", missing, extra, gaps)
				}
				return
			}
			// The dense second is a gap; so may be the second before it, whose query ends at the
			// dense second's start. Nothing else is.
			var sawDense bool
			for _, g := range gaps {
				if g.Reason != DenseReason || g.Window.End.Sub(g.Window.Start) != time.Second ||
					(!g.Window.Start.Equal(dense) && !g.Window.Start.Equal(dense.Add(-time.Second))) {
					t.Fatalf("gap %v, want only the dense second %v (and the one before)", g, dense)
				}
				sawDense = sawDense || g.Window.Start.Equal(dense)
			}
			if !sawDense {
				t.Fatalf("gaps %v do not hold the dense second %v", gaps, dense)
			}
			wantOutside := append(f.truth(t0, dense.Add(-time.Second)), f.truth(dense.Add(time.Second), t0.Add(time.Hour))...)
			if len(gaps) == 1 {
				wantOutside = append(wantOutside, f.truth(dense.Add(-time.Second), dense)...)
			}
			if missing, extra := sameMultiset(got, wantOutside); missing != 0 || extra != 0 {
				t.Fatalf("outside the gaps: %d missing, %d extra (%d kept)", missing, extra, len(got))
			}
		})
	}
}

func TestRefusedSpanAndHistoryAreNarrowedLearnedAndGapped(t *testing.T) {
	t.Parallel()
	now := t0.Add(400 * 24 * time.Hour)
	f := newFake("stable")
	f.maxSpan = 30 * 24 * time.Hour
	f.oldest = now.Add(-365 * 24 * time.Hour)
	for d := 0; d < 400; d++ {
		f.add(t0.Add(time.Duration(d)*24*time.Hour+12*time.Hour), fmt.Sprintf("d%d", d), `{}`)
	}
	// One record a minute after the API's horizon, one right at the end.
	f.add(f.oldest.Add(time.Minute), "edge", `{}`)
	learned := NewLearned(nil)
	r := NewReader(ReaderConfig{Source: f, Learned: learned, PageSize: 100, Now: func() time.Time { return now }})
	plan, err := PlanBackfill(t0, now, now)
	if err != nil {
		t.Fatal(err)
	}
	got, gaps := readAll(t, r, plan.Read.Start, plan.Read.End)
	if f.refused > 5 {
		t.Errorf("%d refused requests, want a handful", f.refused)
	}
	if got := learned.MaxSpan(); got != 30*24*time.Hour {
		t.Errorf("span learned %v, want 30 days", got)
	}
	// Everything the API serves is read (the learned horizon keeps a few seconds inside).
	want := f.truth(f.oldest.Add(30*time.Second), now)
	if missing, extra := sameMultiset(got, want); missing != 0 || extra != 0 {
		t.Errorf("%d missing, %d extra of the %d records the API serves", missing, extra, len(want))
	}
	if len(gaps) == 0 || !gaps[0].Window.Start.Equal(plan.Read.Start) || gaps[0].Window.End.Before(f.oldest) ||
		gaps[0].Window.End.After(f.oldest.Add(2*time.Minute)) {
		t.Fatalf("gaps %v, want one from %v to about %v", gaps, plan.Read.Start, f.oldest)
	}
	t.Logf("%d requests, %d refused, gaps %v", f.requests, f.refused, gaps)
}

func TestARefusalFarFromTheHorizonFails(t *testing.T) {
	t.Parallel()
	f := newFake("stable")
	f.maxSpan = time.Hour // refuses even one day
	r := newTestReader(f, 100)
	_, err := r.Read(context.Background(), Query{Domain: "d.example.com"}, Window{t0, t0.Add(48 * time.Hour)}, nil)
	if err == nil || !isRefused(err) {
		t.Fatalf("err = %v, want the API's refusal", err)
	}
}

func TestDriftWhileReadingIsReadAgain(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"stable", "shuffle"} {
		f := newFake(order)
		busyHour(f)
		inserted := 0
		f.onPage = func(f *fakeAPI, q Query) {
			if q.PageNum == 2 && inserted < 3 {
				inserted++
				f.recs = append(f.recs, f.recs[0])
				f.recs[len(f.recs)-1].Stream = fmt.Sprintf("late%d", inserted)
				f.ats = append(f.ats, f.ats[0])
			}
		}
		r := newTestReader(f, 100)
		got, gaps := readAll(t, r, t0, t0.Add(time.Hour))
		if missing, extra := sameMultiset(got, f.truth(t0, t0.Add(time.Hour))); missing != 0 || extra != 0 || len(gaps) != 0 {
			t.Errorf("%s: %d missing, %d extra, gaps %v", order, missing, extra, gaps)
		}
	}
}

func TestWindowQueryCoversEverySecondStrictly(t *testing.T) {
	t.Parallel()
	w := NewWindow(t0.Add(1500*time.Millisecond), t0.Add(10*time.Second+time.Millisecond))
	if !w.Start.Equal(t0.Add(time.Second)) || !w.End.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("window %v, want [00:00:01, 00:00:11)", w)
	}
	qs, qe := w.Query()
	if !qs.Equal(t0) || !qe.Equal(t0.Add(11*time.Second)) || w.QuerySpan() != 11*time.Second {
		t.Errorf("query %v..%v span %v", qs, qe, w.QuerySpan())
	}
	for _, c := range []struct {
		at   time.Duration
		keep bool
	}{{999 * time.Millisecond, false}, {time.Second, true}, {10*time.Second + 999*time.Millisecond, true}, {11 * time.Second, false}} {
		if got := w.Keeps(t0.Add(c.at)); got != c.keep {
			t.Errorf("Keeps(+%v) = %v, want %v", c.at, got, c.keep)
		}
	}
}

func TestSplitWindowPartsTileTheWindow(t *testing.T) {
	t.Parallel()
	w := Window{t0, t0.Add(10 * time.Second)}
	for n, want := range map[int][]int{2: {5, 5}, 3: {3, 3, 4}, 10: {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 50: {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}} {
		parts := SplitWindow(w, n)
		var got []int
		for i, p := range parts {
			got = append(got, int(p.End.Sub(p.Start)/time.Second))
			if i > 0 && !p.Start.Equal(parts[i-1].End) {
				t.Errorf("n=%d: part %d does not start where %d ends", n, i, i-1)
			}
		}
		if !slices.Equal(got, want) || !parts[0].Start.Equal(w.Start) || !parts[len(parts)-1].End.Equal(w.End) {
			t.Errorf("n=%d: parts of %v seconds, want %v", n, got, want)
		}
	}
}

func TestACountEqualToTheLargestSeenIsNotTrusted(t *testing.T) {
	t.Parallel()
	l := NewLearned(nil)
	steps := []struct {
		total, page int
		trusted     bool
		cap         int
	}{
		{50, 100, true, 0},     // below a page
		{100, 100, false, 0},   // a full page, the largest yet: may be a cap
		{99, 100, true, 0},     // below the page
		{500, 100, false, 0},   // the largest yet
		{300, 100, true, 0},    // below a count seen: not capped
		{500, 100, false, 0},   // equal to the largest: may be the cap
		{500, 100, false, 500}, // three times: taken for the cap
		{450, 100, true, 500},
		{600, 100, false, 0}, // above the cap: it was not one
	}
	for i, s := range steps {
		if got := l.trust(s.total, s.page); got != s.trusted {
			t.Errorf("step %d: trust(%d) = %v, want %v", i, s.total, got, s.trusted)
		}
		if got := l.Cap(); got != s.cap {
			t.Errorf("step %d: cap %d, want %d", i, got, s.cap)
		}
	}
}

func TestPagesOrder(t *testing.T) {
	t.Parallel()
	at := func(secs ...int) Page {
		var p Page
		for _, s := range secs {
			p.Records = append(p.Records, callback.Record{CallbackTime: t0.Add(time.Duration(s) * time.Second).Format(time.RFC3339)})
		}
		return p
	}
	for name, c := range map[string]struct {
		pages []Page
		want  Order
	}{
		"one second":          {[]Page{at(5, 5), at(5)}, OrderUnknown},
		"ascending":           {[]Page{at(1, 2, 2), at(2, 3)}, OrderAsc},
		"descending":          {[]Page{at(3, 2), at(2, 1)}, OrderDesc},
		"page out of order":   {[]Page{at(1, 3, 2)}, OrderUnsorted},
		"pages overlap":       {[]Page{at(1, 3), at(2, 4)}, OrderUnsorted},
		"unparseable skipped": {[]Page{at(1, 2), {Records: []callback.Record{{CallbackTime: "x"}}}, at(3)}, OrderAsc},
	} {
		if got := pagesOrder(c.pages); got != c.want {
			t.Errorf("%s: %s, want %s", name, got, c.want)
		}
	}
}

func TestDiscoverFindsDomainsOnlyTheAccountWideCountShows(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		order string
		cap   int
	}{{"stable", 0}, {"shuffle", 0}, {"ties", 100}} {
		f := newFake(c.order)
		f.cap = c.cap
		busyHour(f) // d.example.com, listed
		for i := range 500 {
			f.add(t0.Add(time.Duration(i)*7*time.Second), "x", `{}`)
			f.recs[len(f.recs)-1].Domain = "other.example.com"
		}
		// A deleted domain with two records, 40 minutes in.
		for i := range 2 {
			f.add(t0.Add(40*time.Minute+time.Duration(i)*time.Second), "gone", `{}`)
			f.recs[len(f.recs)-1].Domain = "deleted.example.com"
		}
		r := newTestReader(f, 100)
		found, err := r.Discover(context.Background(), Query{}, Window{t0, t0.Add(time.Hour)}, []string{"d.example.com", "other.example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(found, []string{"deleted.example.com"}) {
			t.Errorf("%s cap %d: found %v, want [deleted.example.com]", c.order, c.cap, found)
		}
		t.Logf("%s cap %d: %d requests", c.order, c.cap, f.requests)
		// Nothing unlisted: two requests per window once the counts are trusted (the run's first
		// count is the largest yet, so it may be a cap: its window is halved once).
		f.requests = 0
		found, err = r.Discover(context.Background(), Query{}, Window{t0, t0.Add(time.Hour)}, []string{"d.example.com", "other.example.com", "deleted.example.com"}, nil)
		if err != nil || len(found) != 0 || (c.cap == 0 && f.requests > 6) {
			t.Errorf("%s cap %d: with every domain known: found %v (%v) in %d requests, want none in at most 6", c.order, c.cap, found, err, f.requests)
		}
	}
}

// TestARecordDeletedWhileReadingIsReadAgain: one record per second, so no second straddles a
// page boundary and only the page checks (TotalCount and records per page) can see that page 2
// moved up by one after a record of page 1 went away.
func TestARecordDeletedWhileReadingIsReadAgain(t *testing.T) {
	t.Parallel()
	f := newFake("stable")
	for i := range 150 {
		f.add(t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("s%d", i), "{}")
	}
	deleted := false
	f.onPage = func(f *fakeAPI, q Query) {
		if q.PageNum == 2 && !deleted {
			deleted = true
			f.recs, f.ats = f.recs[1:], f.ats[1:]
		}
	}
	r := newTestReader(f, 100)
	got, gaps := readAll(t, r, t0, t0.Add(time.Hour))
	if len(got) != 149 || len(gaps) != 0 {
		t.Fatalf("read %d records with gaps %v, want the 149 left and no gap", len(got), gaps)
	}
	if missing, extra := sameMultiset(got, f.truth(t0, t0.Add(time.Hour))); missing != 0 || extra != 0 {
		t.Errorf("%d missing, %d extra", missing, extra)
	}
}

// ReadOpts.Holds is told, once, count + a page as soon as a window read whole has a count it
// trusts, before its other pages are asked for; a window of one page or one that is split
// never tells it (it holds at most Weight).
func TestReadWindowTellsWhatItHoldsOnceCounted(t *testing.T) {
	t.Parallel()
	q := Query{Domain: "d.example.com"}
	for _, c := range []struct {
		name     string
		w        Window
		wantHold int64 // 0: never told
	}{
		// 10 minutes of busyHour: 300 one-every-other-second records and 6 bursts of 30; the
		// query [S − 1s, E] also counts the record at E (00:30:00), which is not kept.
		{"read whole", Window{Start: t0.Add(20 * time.Minute), End: t0.Add(30 * time.Minute)}, 300 + 6*30 + 1 + 100},
		{"one page", Window{Start: t0.Add(10 * time.Minute), End: t0.Add(11 * time.Minute)}, 0},
		{"split", Window{Start: t0, End: t0.Add(time.Hour)}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake("stable")
			busyHour(f)
			r := NewReader(ReaderConfig{Source: f, Learned: NewLearned(nil), PageSize: 100, TargetPages: 5,
				MaxWindowRecords: 1000, Now: func() time.Time { return t0.Add(2 * time.Hour) }})
			// A count seen before, larger than the window's, vouches for it (Learned.trust).
			if _, err := r.ReadFirst(context.Background(), q, Window{Start: t0, End: t0.Add(time.Hour)}, nil); err != nil {
				t.Fatal(err)
			}
			var told []int64
			var pagesAfterCount int
			f.onPage = func(_ *fakeAPI, q Query) {
				if q.PageNum > 1 && len(told) == 0 {
					pagesAfterCount++
				}
			}
			res, err := r.ReadWindow(context.Background(), q, c.w, nil, ReadOpts{Holds: func(n int64) { told = append(told, n) }})
			if err != nil {
				t.Fatal(err)
			}
			if c.wantHold == 0 {
				if len(told) != 0 {
					t.Fatalf("told %v, want nothing", told)
				}
				return
			}
			if len(told) != 1 || told[0] != c.wantHold || pagesAfterCount != 0 {
				t.Fatalf("told %v (%d pages asked before), want [%d] before any page after the first", told, pagesAfterCount, c.wantHold)
			}
			if got := int64(len(res.Records)); got != 480 || res.Window != c.w {
				t.Fatalf("read %v with %d records, want all of %v", res.Window, got, c.w)
			}
		})
	}
}

// kindSource records, for each request, whether the limiter takes it for a bulk page.
type kindSource struct {
	*fakeAPI
	mu   sync.Mutex
	bulk map[int]int // page number → bulk requests
	seq  map[int]int // page number → one-after-another requests
}

func (k *kindSource) Describe(ctx context.Context, q Query, st *Stats) (Page, error) {
	k.mu.Lock()
	if priorityOf(ctx).bulk {
		k.bulk[q.PageNum]++
	} else {
		k.seq[q.PageNum]++
	}
	k.mu.Unlock()
	return k.fakeAPI.Describe(ctx, q, st)
}

// A window's count and the re-reads of its straddling seconds go to the limiter as
// one-after-another requests; only the pages after the first, read side by side, are bulk.
func TestOnlyPagesReadSideBySideAreBulk(t *testing.T) {
	t.Parallel()
	f := newFake("stable")
	busyHour(f)
	src := &kindSource{fakeAPI: f, bulk: map[int]int{}, seq: map[int]int{}}
	r := NewReader(ReaderConfig{Source: src, Learned: NewLearned(nil), PageSize: 100, TargetPages: 5,
		MaxWindowRecords: 1000, Now: func() time.Time { return t0.Add(2 * time.Hour) }})
	got, gaps := readAll(t, r, t0, t0.Add(time.Hour))
	if missing, extra := sameMultiset(got, f.truth(t0, t0.Add(time.Hour))); missing != 0 || extra != 0 || len(gaps) != 0 {
		t.Fatalf("%d missing, %d extra, gaps %v", missing, extra, gaps)
	}
	if src.bulk[1] != 0 || src.seq[1] == 0 {
		t.Errorf("first pages: %d bulk, %d one after another; want none bulk", src.bulk[1], src.seq[1])
	}
	later := 0
	for page, n := range src.seq {
		if page > 1 {
			later += n
		}
	}
	if later != 0 || src.bulk[2] == 0 {
		t.Errorf("pages after the first: %d one after another, %d bulk page 2s; want all bulk", later, src.bulk[2])
	}
}

// pairSource holds each one-second query until another is asked too (or a minute passes).
type pairSource struct {
	*fakeAPI
	mu      sync.Mutex
	asked   int
	paired  chan struct{}
	timeout bool
}

func (s *pairSource) Describe(ctx context.Context, q Query, st *Stats) (Page, error) {
	if q.End.Sub(q.Start) <= 2*time.Second {
		s.mu.Lock()
		s.asked++
		if s.asked == 2 {
			close(s.paired)
		}
		s.mu.Unlock()
		select {
		case <-s.paired:
		case <-time.After(time.Minute):
			s.mu.Lock()
			s.timeout = true
			s.mu.Unlock()
		}
	}
	return s.fakeAPI.Describe(ctx, q, st)
}

// The straddling seconds of one window are re-read side by side: after one record, seconds of
// 3 copies each (every other second) fill pages of 30, so that the 10th and the 20th of them
// straddle pages, and their re-reads are asked at once.
func TestStraddlingSecondsAreReReadSideBySide(t *testing.T) {
	t.Parallel()
	f := newFake("stable")
	f.add(t0, "single", `{}`)
	for s := 1; s <= 20; s++ { // 61 records: the 30|31st and 60|61st are in seconds 20 and 40
		for range 3 {
			f.add(t0.Add(time.Duration(2*s)*time.Second), fmt.Sprintf("s%d", s), `{}`)
		}
	}
	src := &pairSource{fakeAPI: f, paired: make(chan struct{})}
	r := NewReader(ReaderConfig{Source: src, Learned: NewLearned(nil), PageSize: 30, TargetPages: 5,
		MaxWindowRecords: 1000, Now: func() time.Time { return t0.Add(time.Hour) }})
	// A count seen before vouches for the window's (Learned.trust).
	r.cfg.Learned.trust(100, 30)
	res, err := r.Read(context.Background(), Query{Domain: "d.example.com"}, Window{Start: t0, End: t0.Add(time.Minute)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if missing, extra := sameMultiset(res.Records, f.truth(t0, t0.Add(time.Minute))); missing != 0 || extra != 0 || len(res.Gaps) != 0 {
		t.Fatalf("%d missing, %d extra, gaps %v", missing, extra, res.Gaps)
	}
	if src.asked != 2 || src.timeout {
		t.Fatalf("%d seconds re-read, one waited a minute alone: %v; want 2 re-read at once", src.asked, src.timeout)
	}
}

// A window read several pages at a time aims at whole pages less twice its count's spread:
// its last page nearly full, seldom one too many.
func TestTheTargetIsWholePagesLessTheSpread(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pageSize, targetPages, maxWindow, want int
	}{
		{1000, 25, 5000, 1911}, // 2.5 pages → 2: 2,000 − 2√2,000
		{100, 25, 5000, 2400},  // 25 pages: 2,500 − 2√2,500
		{100, 3, 5000, 266},    // 3 pages: 300 − 2√300
		{100, 25, 100, 80},     // one page: 100 − 2√100
	} {
		r := NewReader(ReaderConfig{Source: newFake("stable"), Learned: NewLearned(nil), PageSize: c.pageSize,
			TargetPages: c.targetPages, MaxWindowRecords: c.maxWindow})
		if got := r.Target(); got != c.want {
			t.Errorf("page size %d, %d target pages, windows of at most %d: target %d, want %d",
				c.pageSize, c.targetPages, c.maxWindow, got, c.want)
		}
	}
}
