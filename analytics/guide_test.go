package analytics

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

const guidePath = "../docs/analysts.md"

// cell formats one value of a query's result the way expectations are written: times in UTC
// RFC3339, numbers of any SQL type with 4 decimals when not integers, NULL as "NULL".
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string:
		return x
	case int16, int32, int64, int:
		return fmt.Sprint(x)
	case float64:
		return num(x)
	case float32:
		return num(float64(x))
	case pgtype.Numeric:
		if !x.Valid {
			return "NULL"
		}
		f, err := x.Float64Value()
		if err != nil {
			return fmt.Sprintf("numeric(%v)", err)
		}
		return num(f.Float64)
	case pgtype.Interval:
		if !x.Valid {
			return "NULL"
		}
		return num(float64(x.Microseconds)/1e6 + float64(x.Days)*86400)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}

func num(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', 4, 64)
}

func ts(t time.Time) string { return cell(t) }

func optInt(p *int) string {
	if p == nil {
		return "NULL"
	}
	return strconv.Itoa(*p)
}

func optInt64(p *int64) string {
	if p == nil {
		return "NULL"
	}
	return strconv.FormatInt(*p, 10)
}

// percentileCont is PostgreSQL's percentile_cont over sorted values.
func percentileCont(sorted []float64, p float64) float64 {
	pos := p * float64(len(sorted)-1)
	lo := math.Floor(pos)
	if int(lo)+1 >= len(sorted) {
		return sorted[int(lo)]
	}
	return sorted[int(lo)] + (sorted[int(lo)+1]-sorted[int(lo)])*(pos-lo)
}

func latencies(rows []seedRow) []float64 {
	var v []float64
	for _, r := range rows {
		if r.Latency != nil {
			v = append(v, float64(*r.Latency))
		}
	}
	slices.Sort(v)
	return v
}

func in(t, from, to time.Time) bool { return !t.Before(from) && t.Before(to) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// session is push_sessions written again in Go.
type session struct {
	Domain, App, Stream string
	Start               time.Time
	End, Superseded     *time.Time
}

func sessions(rows []seedRow) []session {
	type key struct{ d, a, s string }
	by := map[key][]seedRow{}
	for _, r := range rows {
		if r.Event == "push_start" || r.Event == "push_end" {
			k := key{r.Domain, r.App, r.Stream}
			by[k] = append(by[k], r)
		}
	}
	var out []session
	for k, evs := range by {
		slices.SortFunc(evs, func(a, b seedRow) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Event, b.Event))
		})
		for i, s := range evs {
			if s.Event != "push_start" {
				continue
			}
			ses := session{Domain: k.d, App: k.a, Stream: k.s, Start: s.Time}
			// Sorted by (time, event type), push_end sorts before a push_start of the same
			// instant: the next event may sit just before s.
			for j, n := range evs {
				if j != i && (n.Time.After(s.Time) || (n.Time.Equal(s.Time) && n.Event == "push_end")) {
					t := n.Time
					if n.Event == "push_end" {
						ses.End = &t
					} else {
						ses.Superseded = &t
					}
					break
				}
			}
			out = append(out, ses)
		}
	}
	return out
}

// groupBy groups rows by a key, keeping the keys' first-seen order irrelevant (callers sort).
func groupBy[K comparable, V any](vs []V, key func(V) (K, bool)) map[K][]V {
	m := map[K][]V{}
	for _, v := range vs {
		if k, ok := key(v); ok {
			m[k] = append(m[k], v)
		}
	}
	return m
}

func count[V any](vs []V, f func(V) bool) int {
	n := 0
	for _, v := range vs {
		if f(v) {
			n++
		}
	}
	return n
}

// expected answers of the guide's queries, computed from the seed in Go. "*" matches any value.
func expected(rows []seedRow) map[string][][]string {
	failed := func(r seedRow) bool { return r.failed() }
	want := map[string][][]string{}

	{ // q1: failure rate by domain per hour on 2025-06-11
		type k struct {
			h time.Time
			d string
		}
		g := groupBy(rows, func(r seedRow) (k, bool) {
			return k{r.Time.Truncate(time.Hour), r.Domain}, in(r.Time, utc("2025-06-11T00:00:00Z"), utc("2025-06-12T00:00:00Z"))
		})
		var out [][]string
		for key, rs := range g {
			f := count(rs, failed)
			out = append(out, []string{ts(key.h), key.d, strconv.Itoa(len(rs)), strconv.Itoa(f),
				num(math.Round(float64(f)/float64(len(rs))*1e4) / 1e4)})
		}
		want["q1"] = sortRows(out, 0, 1)
	}
	{ // q2: receivers failed during the outage window
		type k struct{ d, a string }
		g := groupBy(rows, func(r seedRow) (k, bool) {
			return k{r.Domain, r.Address}, r.failed() && in(r.Time, utc("2025-06-11T01:00:00Z"), utc("2025-06-11T04:00:00Z"))
		})
		var out [][]string
		for key, rs := range g {
			lo, hi := rs[0].Time, rs[0].Time
			for _, r := range rs {
				lo, hi = minTime(lo, r.Time), maxTime(hi, r.Time)
			}
			out = append(out, []string{key.d, key.a, strconv.Itoa(len(rs)), ts(lo), ts(hi)})
		}
		slices.SortFunc(out, func(a, b []string) int {
			na, _ := strconv.Atoi(a[2])
			nb, _ := strconv.Atoi(b[2])
			return cmp.Or(cmp.Compare(nb, na), cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
		})
		want["q2"] = out
	}
	ss := sessions(rows)
	{ // q3: sessions started on 2025-06-11 that never ended
		var out [][]string
		for _, s := range ss {
			if s.End == nil && in(s.Start, utc("2025-06-11T00:00:00Z"), utc("2025-06-12T00:00:00Z")) {
				sup := "NULL"
				if s.Superseded != nil {
					sup = ts(*s.Superseded)
				}
				out = append(out, []string{s.Domain, s.App, s.Stream, ts(s.Start), sup})
			}
		}
		want["q3"] = sortRows(out, 0, 1, 2, 3)
	}
	{ // q4: slowest addresses over the three days
		g := groupBy(rows, func(r seedRow) (string, bool) {
			return r.Address, r.Latency != nil && in(r.Time, utc("2025-06-10T00:00:00Z"), utc("2025-06-13T00:00:00Z"))
		})
		type agg struct {
			addr     string
			n        int
			p50, p95 float64
			max      float64
		}
		var as []agg
		for a, rs := range g {
			l := latencies(rs)
			as = append(as, agg{a, len(l), percentileCont(l, 0.5), percentileCont(l, 0.95), l[len(l)-1]})
		}
		slices.SortFunc(as, func(a, b agg) int { return cmp.Or(cmp.Compare(b.p95, a.p95), cmp.Compare(a.addr, b.addr)) })
		var out [][]string
		for _, a := range as[:min(10, len(as))] {
			out = append(out, []string{a.addr, strconv.Itoa(a.n), num(a.p50), num(a.p95), num(a.max)})
		}
		want["q4"] = out
	}
	{ // q5: gamma/live latency percentiles per hour and event type on 2025-06-12
		type k struct {
			h time.Time
			e string
		}
		g := groupBy(rows, func(r seedRow) (k, bool) {
			return k{r.Time.Truncate(time.Hour), r.Event}, r.Domain == "push.gamma.example" && r.App == "live" &&
				in(r.Time, utc("2025-06-12T00:00:00Z"), utc("2025-06-13T00:00:00Z"))
		})
		var out [][]string
		for key, rs := range g {
			row := []string{ts(key.h), key.e, strconv.Itoa(len(rs))}
			l := latencies(rs)
			for _, p := range []float64{0.5, 0.95, 0.99} {
				if len(l) == 0 {
					row = append(row, "NULL")
				} else {
					row = append(row, num(percentileCont(l, p)))
				}
			}
			out = append(out, row)
		}
		want["q5"] = sortRows(out, 0, 1)
	}
	{ // q6: failures by kind on 2025-06-11
		type k struct{ d, code, ec, em string }
		g := groupBy(rows, func(r seedRow) (k, bool) {
			return k{r.Domain, optInt(r.Code), r.ErrCode, r.ErrMsg}, r.failed() && in(r.Time, utc("2025-06-11T00:00:00Z"), utc("2025-06-12T00:00:00Z"))
		})
		var out [][]string
		for key, rs := range g {
			out = append(out, []string{key.d, key.code, key.ec, key.em, strconv.Itoa(len(rs))})
		}
		codeKey := func(s string) int {
			if s == "NULL" {
				return math.MaxInt
			}
			n, _ := strconv.Atoi(s)
			return n
		}
		slices.SortFunc(out, func(a, b []string) int {
			na, _ := strconv.Atoi(a[4])
			nb, _ := strconv.Atoi(b[4])
			return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(nb, na), cmp.Compare(codeKey(a[1]), codeKey(b[1])),
				cmp.Compare(a[2], b[2]), cmp.Compare(a[3], b[3]))
		})
		want["q6"] = out
	}
	{ // q7: sessions per domain and day
		type k struct {
			d   string
			day time.Time
		}
		g := groupBy(ss, func(s session) (k, bool) {
			return k{s.Domain, s.Start.Truncate(24 * time.Hour)}, in(s.Start, utc("2025-06-10T00:00:00Z"), utc("2025-06-13T00:00:00Z"))
		})
		var out [][]string
		for key, g := range g {
			var sum, mx float64
			ended := 0
			for _, s := range g {
				if s.End != nil {
					d := s.End.Sub(s.Start).Seconds()
					sum += d
					mx = max(mx, d)
					ended++
				}
			}
			avg, mxs := "NULL", "NULL"
			if ended > 0 {
				avg, mxs = num(math.Round(sum/float64(ended))), num(mx)
			}
			out = append(out, []string{key.d, ts(key.day), strconv.Itoa(len(g)), strconv.Itoa(ended), avg, mxs})
		}
		want["q7"] = sortRows(out, 0, 1)
	}
	{ // q8: one stream's day
		var rs []seedRow
		for _, r := range rows {
			if r.Domain == "push.alpha.example" && r.App == "live" && r.Stream == "cam-1" &&
				in(r.Time, utc("2025-06-11T00:00:00Z"), utc("2025-06-12T00:00:00Z")) {
				rs = append(rs, r)
			}
		}
		slices.SortFunc(rs, func(a, b seedRow) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Event, b.Event)) })
		var out [][]string
		for _, r := range rs {
			out = append(out, []string{ts(r.Time), r.Event, r.Status, optInt(r.Code), optInt64(r.Latency)})
		}
		want["q8"] = out
	}
	{ // q9: the outage's failures with the receiver's answer
		var rs []seedRow
		for _, r := range rows {
			if r.Domain == "push.beta.example" && r.failed() && in(r.Time, outageFrom, outageTo) {
				rs = append(rs, r)
			}
		}
		slices.SortFunc(rs, func(a, b seedRow) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.Event, b.Event))
		})
		var out [][]string
		for _, r := range rs[:min(20, len(rs))] {
			line := "NULL"
			if r.StatusLine != nil {
				line = *r.StatusLine
			}
			excerpt := r.RespBody
			if len([]rune(excerpt)) > 200 {
				excerpt = string([]rune(excerpt)[:200])
			}
			out = append(out, []string{ts(r.Time), r.Stream, r.Event, line, r.ErrCode, r.ErrMsg, excerpt})
		}
		want["q9"] = out
	}
	{ // q10: lag and last run per domain (the lag depends on now: any value)
		var out [][]string
		for _, c := range seedCheckpoints {
			out = append(out, []string{c.Domain, ts(c.Watermark), "*", c.Outcome, ts(c.Watermark.Add(time.Hour + time.Minute))})
		}
		want["q10"] = out
	}
	want["q11"] = [][]string{{seedGap.Domain, ts(seedGap.From), ts(seedGap.To), seedGap.Reason}}
	return want
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

// sortRows sorts by the given columns as strings (times in RFC3339 UTC sort as text).
func sortRows(rows [][]string, cols ...int) [][]string {
	slices.SortFunc(rows, func(a, b []string) int {
		for _, c := range cols {
			if r := cmp.Compare(a[c], b[c]); r != 0 {
				return r
			}
		}
		return 0
	})
	return rows
}

// queryRows runs sql and returns its rows as cells.
func queryRows(ctx context.Context, t *testing.T, s seeded, sql string) ([][]string, error) {
	t.Helper()
	r, err := s.pool.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out [][]string
	for r.Next() {
		vs, err := r.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vs))
		for i, v := range vs {
			row[i] = cell(v)
		}
		out = append(out, row)
	}
	return out, r.Err()
}

func readGuide(t *testing.T) []GuideQuery {
	t.Helper()
	md, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := GuideQueries(string(md))
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	return qs
}

// Every SQL block of the guide runs on the seed and returns exactly the answer computed in Go.
func TestGuideQueriesGiveTheKnownAnswers(t *testing.T) {
	t.Parallel()
	qs := readGuide(t)
	s := newSeeded(t)
	want := expected(s.rows)
	if len(qs) < 10 {
		t.Errorf("the guide has %d queries, want at least 10", len(qs))
	}
	for _, q := range qs {
		if _, ok := want[q.Label]; !ok {
			t.Errorf("%s (%s): no expected answer in the test; add one", q.Label, q.Title)
		}
	}
	ctx := context.Background()
	for _, q := range qs {
		t.Run(q.Label, func(t *testing.T) {
			w := want[q.Label]
			if len(w) == 0 {
				t.Fatalf("%s: the seed gives this query no rows: it proves nothing", q.Label)
			}
			got, err := queryRows(ctx, t, s, q.SQL)
			if err != nil {
				t.Fatalf("%s: %v\n%s", q.Label, err, q.SQL)
			}
			if !matches(got, w) {
				t.Errorf("%s (%s):\n got %d rows:\n%s\nwant %d rows:\n%s", q.Label, q.Title,
					len(got), show(got), len(w), show(w))
				return
			}
			t.Logf("%s: %d rows, as expected", q.Label, len(got))
		})
	}
}

func matches(got, want [][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return false
		}
		for j := range got[i] {
			if want[i][j] != "*" && got[i][j] != want[i][j] {
				return false
			}
		}
	}
	return true
}

func show(rows [][]string) string {
	var b strings.Builder
	for i, r := range rows {
		if i == 30 {
			fmt.Fprintf(&b, "  … %d more\n", len(rows)-30)
			break
		}
		fmt.Fprintf(&b, "  %s\n", strings.Join(r, " | "))
	}
	return b.String()
}

// The extraction refuses blocks that the tests could not tie to an expected answer.
func TestGuideQueriesExtraction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		md      string
		want    []string
		wantErr string
	}{
		{"two labelled blocks", "x\n```sql\n-- q1: a\nSELECT 1;\n```\n```go\nnot sql\n```\n```sql\n-- q2: b\nSELECT 2;\n```\n", []string{"q1", "q2"}, ""},
		{"unlabelled block", "```sql\nSELECT 1;\n```\n", nil, "does not start with"},
		{"label twice", "```sql\n-- q1: a\nSELECT 1;\n```\n```sql\n-- q1: b\nSELECT 1;\n```\n", nil, "used twice"},
		{"unclosed", "```sql\n-- q1: a\nSELECT 1;\n", nil, "not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs, err := GuideQueries(tt.md)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var labels []string
			for _, q := range qs {
				labels = append(labels, q.Label)
			}
			if !slices.Equal(labels, tt.want) {
				t.Errorf("labels = %v, want %v", labels, tt.want)
			}
		})
	}
}
