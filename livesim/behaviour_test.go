package livesim

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// page fetches one page and fails the test on anything but a success.
func (b *testBundle) page(t *testing.T, q describeBody, num, size int) ([]callback.Record, int) {
	t.Helper()
	c := b.do(t, actionDescribe, q.with("PageNum", num, "PageSize", size))
	if c.status != http.StatusOK || c.ans.Result == nil {
		t.Fatalf("page %d: status %d err %v body %.300s", num, c.status, c.err, c.body)
	}
	return stripRaw(c.ans.Result.CallbackInfoList), c.ans.Result.Pagination.TotalCount
}

func multiset(recs []callback.Record) map[[15]string]int {
	m := map[[15]string]int{}
	for i := range recs {
		m[recs[i].Fields()]++
	}
	return m
}

// denseFixture: three seconds of one domain, added out of time order: 120 records at t0,
// 40 at t0+5s, 80 at t0+1s. It returns the bundle and the three groups by time.
func denseFixture(t *testing.T, cfg Config) (b *testBundle, a, bb, c []callback.Record, t0 time.Time) {
	t.Helper()
	cfg.EmptyData, cfg.Domains, cfg.RateLimit = true, []string{"o.example.com"}, -1
	b = setup(t, cfg)
	t0 = testNow.Add(-time.Hour)
	a = b.sim.AddBurst("o.example.com", t0, 120)
	c = b.sim.AddBurst("o.example.com", t0.Add(5*time.Second), 40)
	bb = b.sim.AddBurst("o.example.com", t0.Add(time.Second), 80)
	if n := len(multiset(slices.Concat(a, bb, c))); n != 240 {
		t.Fatalf("fixture records are not distinct: %d distinct of 240", n)
	}
	return b, a, bb, c, t0
}

func TestAnswerOrders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		order Order
		// check judges one whole-window answer of 240 records.
		check func(t *testing.T, got, a, b, c []callback.Record)
		// unstable: paging through the window skips and repeats records.
		unstable bool
	}{
		{OrderStable, func(t *testing.T, got, a, b, c []callback.Record) {
			equalRecords(t, got, slices.Concat(a, b, c))
		}, false},
		{OrderNewestFirst, func(t *testing.T, got, a, b, c []callback.Record) {
			equalRecords(t, got, slices.Concat(c, b, a))
		}, false},
		{OrderShuffleTies, func(t *testing.T, got, a, b, c []callback.Record) {
			// Seconds ascending: the first 120 are a's, then b's 80, then c's 40, each group
			// as a set, and not in insertion order.
			for _, part := range []struct {
				got, want []callback.Record
			}{{got[:120], a}, {got[120:200], b}, {got[200:], c}} {
				if !mapsEqual(multiset(part.got), multiset(part.want)) {
					t.Fatalf("a second's records are not together in time order")
				}
			}
			if slices.Equal(fieldsOf(got[:120]), fieldsOf(a)) {
				t.Error("the 120 records of one second came in insertion order")
			}
		}, true},
		{OrderShuffle, func(t *testing.T, got, a, b, c []callback.Record) {
			if !mapsEqual(multiset(got), multiset(slices.Concat(a, b, c))) {
				t.Fatal("a whole-window answer is not the window's records")
			}
			if mapsEqual(multiset(got[:120]), multiset(a)) {
				t.Error("the first 120 records are the earliest second's: not shuffled")
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.order), func(t *testing.T) {
			t.Parallel()
			b, a, bb, c, t0 := denseFixture(t, Config{Order: tt.order, Seed: 9})
			q := window(t0.Add(-time.Minute), t0.Add(time.Minute))
			first, total := b.page(t, q, 1, 1000)
			if total != 240 || len(first) != 240 {
				t.Fatalf("TotalCount %d, %d records; want 240", total, len(first))
			}
			tt.check(t, first, a, bb, c)
			second, _ := b.page(t, q, 1, 1000)
			if changed := !slices.Equal(fieldsOf(first), fieldsOf(second)); changed != tt.unstable {
				t.Errorf("two identical requests answered in different orders: %v, want %v", changed, tt.unstable)
			}
			// Paging: each request cuts its own ordered sequence.
			var paged []callback.Record
			for p := 1; p <= 5; p++ {
				recs, total := b.page(t, q, p, 50)
				if total != 240 || len(recs) != min(50, 240-(p-1)*50) {
					t.Fatalf("page %d: TotalCount %d, %d records", p, total, len(recs))
				}
				paged = append(paged, recs...)
			}
			got, want := multiset(paged), multiset(slices.Concat(a, bb, c))
			missing, repeated := 0, 0
			for k, n := range want {
				if got[k] == 0 {
					missing += n
				}
			}
			for _, n := range got {
				repeated += n - 1
			}
			if tt.unstable {
				if missing == 0 || repeated == 0 {
					t.Errorf("paging an unstable order: %d missing, %d repeated; want both > 0", missing, repeated)
				}
			} else if missing != 0 || repeated != 0 {
				t.Errorf("paging a stable order: %d missing, %d repeated; want none", missing, repeated)
			}
		})
	}
}

func fieldsOf(recs []callback.Record) [][15]string {
	out := make([][15]string, len(recs))
	for i := range recs {
		out[i] = recs[i].Fields()
	}
	return out
}

func mapsEqual(a, b map[[15]string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestResultCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		order Order
		cap   int
		extra []any // more query fields
		// want: TotalCount, then the length of pages 1..4 of 50.
		total int
		pages [4]int
	}{
		{"stable, cap below the matches", OrderStable, 120, nil, 120, [4]int{50, 50, 20, 0}},
		{"stable, cap on a page boundary", OrderStable, 100, nil, 100, [4]int{50, 50, 0, 0}},
		{"stable, filtered query", OrderStable, 70, []any{"CallbackEventType", []string{"snapshot_event", "record_event"}}, 70, [4]int{50, 20, 0, 0}},
		{"stable, cap above the matches", OrderStable, 1000, nil, 240, [4]int{50, 50, 50, 50}},
		{"newest first", OrderNewestFirst, 120, nil, 120, [4]int{50, 50, 20, 0}},
		{"shuffled", OrderShuffle, 60, nil, 60, [4]int{50, 10, 0, 0}},
		{"ties shuffled", OrderShuffleTies, 130, nil, 130, [4]int{50, 50, 30, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, a, bb, c, t0 := denseFixture(t, Config{Order: tt.order, ResultCap: tt.cap})
			q := window(t0.Add(-time.Minute), t0.Add(time.Minute)).with(tt.extra...)
			var served []callback.Record
			for p := 1; p <= 4; p++ {
				recs, total := b.page(t, q, p, 50)
				if total != tt.total || len(recs) != tt.pages[p-1] {
					t.Fatalf("page %d: TotalCount %d, %d records; want %d, %d", p, total, len(recs), tt.total, tt.pages[p-1])
				}
				served = append(served, recs...)
			}
			// What is hidden: in a stable order exactly the records past the cap.
			switch tt.order {
			case OrderStable:
				if tt.extra == nil {
					equalRecords(t, served, slices.Concat(a, bb, c)[:min(tt.cap, 200)])
				}
			case OrderNewestFirst:
				equalRecords(t, served, slices.Concat(c, bb, a)[:tt.cap])
			}
			if recs, _ := b.page(t, q, 1, 1000); len(recs) != tt.total {
				t.Errorf("one page of 1000 served %d records past a cap of %d", len(recs), tt.cap)
			}
		})
	}
	t.Run("SetResultCap", func(t *testing.T) {
		t.Parallel()
		b, _, _, _, t0 := denseFixture(t, Config{})
		q := window(t0.Add(-time.Minute), t0.Add(time.Minute))
		if err := b.sim.SetResultCap(10); err != nil {
			t.Fatal(err)
		}
		if recs, total := b.page(t, q, 1, 1000); total != 10 || len(recs) != 10 {
			t.Fatalf("after SetResultCap(10): TotalCount %d, %d records", total, len(recs))
		}
		if err := b.sim.SetResultCap(-1); err == nil || !strings.Contains(err.Error(), "-1") {
			t.Errorf("SetResultCap(-1): %v", err)
		}
		if err := b.sim.SetOrder("sideways"); err == nil || !strings.Contains(err.Error(), "sideways") {
			t.Errorf("SetOrder(sideways): %v", err)
		}
	})
}

func TestLimitsCountedDifferently(t *testing.T) {
	t.Parallel()
	// testNow is 2025-03-18 12:00 UTC+8.
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name      string
		cfg       Config
		from, to  time.Time
		refused   string // "" ok; "span" or "history"
		wantInMsg string // in the refusal's message
	}{
		{"exact: 31×24h allowed", Config{}, testNow.Add(-31 * day), testNow, "", ""},
		{"exact: 31×24h+1s refused", Config{}, testNow.Add(-31*day - time.Second), testNow, "span", "31 days"},
		{"inclusive: 31×24h refused", Config{LimitCounting: CountInclusive}, testNow.Add(-31 * day), testNow, "span", "31 days"},
		{"inclusive: 31×24h−1s allowed", Config{LimitCounting: CountInclusive}, testNow.Add(-31*day + time.Second), testNow, "", ""},
		{"calendar: 31 dates allowed", Config{LimitCounting: CountCalendar}, at("2025-02-16T00:00:00+08:00"), at("2025-03-18T23:59:59+08:00"), "", ""},
		{"calendar: 30 days 2 h over 32 dates refused", Config{LimitCounting: CountCalendar}, at("2025-02-14T23:00:00+08:00"), at("2025-03-16T23:00:00+08:00").Add(2 * time.Hour), "span", "31 days"},
		{"shorter span: 30×24h+1s refused", Config{MaxSpanDays: 30}, testNow.Add(-30*day - time.Second), testNow, "span", "30 days"},
		{"shorter span: 30×24h allowed", Config{MaxSpanDays: 30}, testNow.Add(-30 * day), testNow, "", ""},
		{"exact: 366×24h ago allowed", Config{}, testNow.Add(-366 * day), testNow.Add(-365 * day), "", ""},
		{"exact: 366×24h+1s ago refused", Config{}, testNow.Add(-366*day - time.Second), testNow.Add(-365 * day), "history", "366 days"},
		{"inclusive: 366×24h ago refused", Config{LimitCounting: CountInclusive}, testNow.Add(-366 * day), testNow.Add(-365 * day), "history", "366 days"},
		{"calendar: 366×24h−10min ago on an earlier date refused", Config{LimitCounting: CountCalendar}, testNow.Add(-366*day + 10*time.Minute), testNow.Add(-365 * day), "history", "366 days"},
		{"calendar: today's date 365 days back allowed", Config{LimitCounting: CountCalendar}, at("2024-03-18T00:00:00+08:00"), at("2024-03-19T00:00:00+08:00"), "", ""},
		{"shorter history: 365×24h+1s refused", Config{MaxHistoryDays: 365}, testNow.Add(-365*day - time.Second), testNow.Add(-364 * day), "history", "365 days"},
		{"shorter history: 365×24h allowed", Config{MaxHistoryDays: 365}, testNow.Add(-365 * day), testNow.Add(-364 * day), "", ""},
		{"both shorter, inclusive", Config{MaxSpanDays: 30, MaxHistoryDays: 365, LimitCounting: CountInclusive}, testNow.Add(-30 * day), testNow, "span", "30 days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.EmptyData, cfg.RateLimit = true, -1
			b := setup(t, cfg)
			c := b.do(t, actionDescribe, window(tt.from, tt.to))
			st := b.sim.Stats()
			switch tt.refused {
			case "":
				if c.status != 200 || c.code() != "" {
					t.Fatalf("status %d code %q body %.300s, want a success", c.status, c.code(), c.body)
				}
				return
			case "span":
				if st.SpanViolations != 1 || st.HistoryViolations != 0 {
					t.Errorf("stats %+v, want one span violation", st)
				}
			case "history":
				if st.HistoryViolations != 1 || st.SpanViolations != 0 {
					t.Errorf("stats %+v, want one history violation", st)
				}
			}
			if c.status != 400 || c.code() != CodeInvalidParam {
				t.Fatalf("status %d code %q, want 400 InvalidParam", c.status, c.code())
			}
			if msg := c.ans.ResponseMetadata.Error.Message; !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not say %q", msg, tt.wantInMsg)
			}
		})
	}
}

func TestUnlistedDomains(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 2, Domains: []string{"a.example.com"}, UnlistedDomains: []string{"gone.example.com"},
		RecordsPerDay: 100, DaysBack: 1, RateLimit: -1})
	c := b.do(t, actionListDomains, map[string]int{"PageNum": 1, "PageSize": 100})
	if c.ans.Result == nil || c.ans.Result.Total != 1 || len(c.ans.Result.DomainList) != 1 || c.ans.Result.DomainList[0].Domain != "a.example.com" {
		t.Fatalf("ListDomainDetail answered %.300s, want only a.example.com", c.body)
	}
	from, to := testNow.Add(-24*time.Hour), testNow
	gone := b.sim.Records("gone.example.com", from, to)
	listed := b.sim.Records("a.example.com", from, to)
	if len(gone) < 50 || len(listed) < 50 {
		t.Fatalf("the unlisted domain has %d records, the listed one %d; want both generated", len(gone), len(listed))
	}
	for _, r := range gone {
		if r.Domain != "gone.example.com" {
			t.Fatalf("record of %q among the unlisted domain's", r.Domain)
		}
	}
	equalRecords(t, b.fetchAll(t, window(from, to).with("DomainList", []string{"gone.example.com"}), 1000), gone)
	whole := b.fetchAll(t, window(from, to), 1000)
	if len(whole) != len(gone)+len(listed) {
		t.Errorf("an account-wide query served %d records, want %d + %d", len(whole), len(gone), len(listed))
	}
	if got := b.sim.UnlistedDomains(); len(got) != 1 || got[0] != "gone.example.com" {
		t.Errorf("UnlistedDomains() = %v", got)
	}
	if _, err := New(Config{Domains: []string{"x.example.com"}, UnlistedDomains: []string{"x.example.com"}}); err == nil || !strings.Contains(err.Error(), "x.example.com") {
		t.Errorf("a domain both listed and unlisted: %v", err)
	}
}

func TestBursts(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 4, Domains: []string{"a.example.com", "b.example.com"}, RecordsPerDay: 50, DaysBack: 2,
		BurstSize: 300, BurstsPerDay: 2, RateLimit: -1})
	for _, d := range b.sim.Domains() {
		perSecond := map[string]int{}
		for _, r := range b.sim.Records(d, testNow.Add(-48*time.Hour), testNow) {
			perSecond[r.CallbackTime]++
		}
		dense := 0
		for _, n := range perSecond {
			if n >= 300 {
				dense++
			}
		}
		// 48 hours touch 3 UTC+8 dates, 2 bursts each: the middle date's 2 are in the data,
		// the first and last dates' only when they fall after 12:00 and before 12:00.
		if dense < 2 || dense > 6 {
			t.Errorf("%s: %d seconds with >= 300 records, want 2..6", d, dense)
		}
	}
	at := testNow.Add(-2 * time.Hour).Add(300 * time.Millisecond)
	recs := b.sim.AddBurst("b.example.com", at, 250)
	if len(recs) != 250 || len(multiset(recs)) != 250 {
		t.Fatalf("AddBurst returned %d records, %d distinct; want 250 distinct", len(recs), len(multiset(recs)))
	}
	want := at.Truncate(time.Second).In(cst).Format(time.RFC3339)
	for _, r := range recs {
		if r.CallbackTime != want || r.Domain != "b.example.com" {
			t.Fatalf("burst record at %s of %s, want %s of b.example.com", r.CallbackTime, r.Domain, want)
		}
	}
	got, total := b.page(t, window(at.Add(-time.Second), at.Add(time.Second)).with("DomainList", []string{"b.example.com"}), 1, 1000)
	if total != 250 || !mapsEqual(multiset(got), multiset(recs)) {
		t.Errorf("the burst's second served %d records (TotalCount %d), want the 250 added", len(got), total)
	}
}

func TestBehaviourConfigValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"order", Config{Order: "random"}, `"random"`},
		{"counting", Config{LimitCounting: "lunar"}, `"lunar"`},
		{"cap", Config{ResultCap: -5}, "-5"},
		{"span", Config{MaxSpanDays: 32}, "32"},
		{"history", Config{MaxHistoryDays: 400}, "400"},
		{"burst", Config{BurstSize: -1}, "-1"},
		{"unlisted empty name", Config{UnlistedDomains: []string{""}}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
