package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/pipeline"
	"github.com/cbarchive/cbarchive/transform"
)

// tracer records, for -trace, when the sync asked for a page, when each request entered the
// transport (admitted by the limiter), when it was written and when its answer came back; with
// livesim's arrival times it makes a timeline that shows where the rate goes.
type tracer struct {
	mu     sync.Mutex
	events []traceEvent
}

type traceKind int

const (
	askStart    traceKind = iota // Source.Describe called: the page is wanted
	askEnd                       // Source.Describe returned
	sendStart                    // the transport got the request: the limiter admitted it
	wrote                        // the request was written
	sendEnd                      // the answer's headers came back (or the request failed)
	commitStart                  // a domain's window transaction began
	commitEnd                    // and ended
)

type traceEvent struct {
	at     time.Time
	kind   traceKind
	domain string
}

func (t *tracer) add(k traceKind) { t.addFor(k, "") }

func (t *tracer) addFor(k traceKind, domain string) {
	now := time.Now()
	t.mu.Lock()
	t.events = append(t.events, traceEvent{now, k, domain})
	t.mu.Unlock()
}

// tracedSink wraps the archive's window commits.
type tracedSink struct {
	pipeline.StoreSink
	t *tracer
}

func (s tracedSink) CommitWindow(ctx context.Context, o load.WindowOpts, rows []transform.Row, rejects []transform.Reject) (load.Counts, error) {
	s.t.addFor(commitStart, o.Key.Domain)
	defer s.t.addFor(commitEnd, o.Key.Domain)
	return s.StoreSink.CommitWindow(ctx, o, rows, rejects)
}

// source wraps the client's Describe.
type tracedSource struct {
	c *extract.Client
	t *tracer
}

func (s tracedSource) Describe(ctx context.Context, q extract.Query, st *extract.Stats) (extract.Page, error) {
	s.t.addFor(askStart, q.Domain)
	defer s.t.addFor(askEnd, q.Domain)
	return s.c.Describe(ctx, q, st)
}

// tracedTransport wraps the client's transport.
type tracedTransport struct {
	base http.RoundTripper
	t    *tracer
}

func (tt tracedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tt.t.add(sendStart)
	defer tt.t.add(sendEnd)
	ct := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { tt.t.add(wrote) }}
	return tt.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), ct)))
}

// readArrivals reads the arrival times livesim's child wrote (unix nanoseconds, one a line).
func readArrivals(path string) ([]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n, err := strconv.ParseInt(strings.TrimSpace(sc.Text()), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, time.Unix(0, n))
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, sc.Err()
}

// writeArrivals writes arrival times for readArrivals.
func writeArrivals(path string, at []time.Time) error {
	var b strings.Builder
	for _, t := range at {
		b.WriteString(strconv.FormatInt(t.UnixNano(), 10))
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// report writes the timeline, one line per second from the first arrival: arrivals at livesim,
// requests written, and the time-averaged number of pages wanted but not yet admitted by the
// limiter ("waiting") and of requests in flight. A second with few arrivals and nothing
// waiting lacked demand (the pipeline); one with pages waiting was held by the limiter.
func (t *tracer) report(out io.Writer, arrivals []time.Time, limit float64) {
	t.mu.Lock()
	ev := slices.Clone(t.events)
	t.mu.Unlock()
	slices.SortStableFunc(ev, func(a, b traceEvent) int { return a.at.Compare(b.at) })
	if len(arrivals) == 0 || len(ev) == 0 {
		return
	}
	origin, last := arrivals[0], arrivals[len(arrivals)-1]
	if ev[0].at.Before(origin) {
		origin = ev[0].at
	}
	if ev[len(ev)-1].at.After(last) {
		last = ev[len(ev)-1].at
	}
	secs := int(last.Sub(origin)/time.Second) + 1
	type row struct {
		arrivals, written    int
		waitArea, flightArea float64 // request-seconds
	}
	rows := make([]row, secs)
	for _, a := range arrivals {
		rows[int(a.Sub(origin)/time.Second)].arrivals++
	}
	// Integrate the waiting and in-flight counts over time.
	waiting, inFlight := 0, 0
	prev := origin
	var admitted []time.Time // sendStart times not yet matched with a write (FIFO, approximate)
	var delays []time.Duration
	type level struct {
		at               time.Time
		waiting, flights int
		asked, commits   map[string]int // per domain: pages asked for and not answered; commits under way
	}
	var levels []level
	asked, commits := map[string]int{}, map[string]int{}
	integrate := func(to time.Time) {
		for prev.Before(to) {
			s := int(prev.Sub(origin) / time.Second)
			end := origin.Add(time.Duration(s+1) * time.Second)
			if to.Before(end) {
				end = to
			}
			d := end.Sub(prev).Seconds()
			rows[s].waitArea += float64(waiting) * d
			rows[s].flightArea += float64(inFlight) * d
			prev = end
		}
	}
	for _, e := range ev {
		integrate(e.at)
		switch e.kind {
		case askStart:
			waiting++
			asked[e.domain]++
		case askEnd:
			asked[e.domain]--
		case commitStart:
			commits[e.domain]++
		case commitEnd:
			commits[e.domain]--
		case sendStart:
			waiting = max(0, waiting-1)
			inFlight++
			admitted = append(admitted, e.at)
		case wrote:
			rows[int(e.at.Sub(origin)/time.Second)].written++
			if len(admitted) > 0 {
				delays = append(delays, e.at.Sub(admitted[0]))
				admitted = admitted[1:]
			}
		case sendEnd:
			inFlight--
		}
		levels = append(levels, level{e.at, waiting, inFlight, maps.Clone(asked), maps.Clone(commits)})
	}
	// span returns the fewest and most pages waiting during [from, to), and what each domain
	// did: the most pages it had asked for, and whether it was committing.
	span := func(from, to time.Time) (lo, hi int, doing string) {
		askedMost, committing := map[string]int{}, map[string]bool{}
		i, _ := slices.BinarySearchFunc(levels, from, func(l level, t time.Time) int { return l.at.Compare(t) })
		if i > 0 {
			i--
		}
		lo = -1
		for ; i < len(levels) && levels[i].at.Before(to); i++ {
			if lo < 0 || levels[i].waiting < lo {
				lo = levels[i].waiting
			}
			hi = max(hi, levels[i].waiting)
			for d, n := range levels[i].asked {
				askedMost[d] = max(askedMost[d], n)
			}
			for d, n := range levels[i].commits {
				committing[d] = committing[d] || n > 0
			}
		}
		var parts []string
		for _, d := range slices.Sorted(maps.Keys(askedMost)) {
			p := fmt.Sprintf("%s asked ≤%d", strings.TrimSuffix(d, ".example.com"), askedMost[d])
			if committing[d] {
				p += " committing"
			}
			parts = append(parts, p)
		}
		return max(lo, 0), hi, strings.Join(parts, ", ")
	}
	fmt.Fprintf(out, "trace: second  arrivals  written  waiting(avg)  in-flight(avg)\n")
	short := 0
	for i, r := range rows {
		mark := ""
		if float64(r.arrivals) < 0.95*limit && i > 0 && i < secs-1 {
			short++
			mark = "  <"
		}
		fmt.Fprintf(out, "trace: %6d  %8d  %7d  %12.1f  %14.1f%s\n", i, r.arrivals, r.written, r.waitArea, r.flightArea, mark)
	}
	slices.Sort(delays)
	if n := len(delays); n > 0 {
		fmt.Fprintf(out, "trace: admitted→written: median %v, 90%% %v, 99%% %v, max %v (%d requests)\n",
			delays[n/2].Round(10*time.Microsecond), delays[n*9/10].Round(10*time.Microsecond),
			delays[n*99/100].Round(10*time.Microsecond), delays[n-1].Round(10*time.Microsecond), n)
	}
	// Gaps between consecutive arrivals, the largest first.
	type gap struct {
		from time.Time
		d    time.Duration
	}
	var gaps []gap
	for i := 1; i < len(arrivals); i++ {
		gaps = append(gaps, gap{arrivals[i-1], arrivals[i].Sub(arrivals[i-1])})
	}
	// How much closer together the server saw requests than they were written: the shortest
	// span of limit+1 consecutive writes and of limit+1 consecutive arrivals (a span under one
	// second is one request too many in a second), and each arrival's delay after the write of
	// the same rank (both sorted; close to exact when requests are tens of ms apart).
	var writes []time.Time
	for _, e := range ev {
		if e.kind == wrote {
			writes = append(writes, e.at)
		}
	}
	k := int(limit)
	shortest := func(ts []time.Time) time.Duration {
		best := time.Duration(-1)
		for i := k; i < len(ts); i++ {
			if d := ts[i].Sub(ts[i-k]); best < 0 || d < best {
				best = d
			}
		}
		return best
	}
	var late []time.Duration
	for i := 0; i < len(writes) && i < len(arrivals); i++ {
		late = append(late, arrivals[i].Sub(writes[i]))
	}
	slices.Sort(late)
	if n := len(late); n > 0 {
		fmt.Fprintf(out, "trace: shortest span of %d consecutive: written %v, arrived %v; arrival after write (by rank): min %v, median %v, 99%% %v, max %v\n",
			k+1, shortest(writes).Round(time.Millisecond), shortest(arrivals).Round(time.Millisecond),
			late[0].Round(10*time.Microsecond), late[n/2].Round(10*time.Microsecond), late[n*99/100].Round(10*time.Microsecond), late[n-1].Round(10*time.Microsecond))
	}
	// Window commits: how long they took.
	var commitTook []time.Duration
	began := map[string]time.Time{}
	for _, e := range ev {
		switch e.kind {
		case commitStart:
			began[e.domain] = e.at
		case commitEnd:
			commitTook = append(commitTook, e.at.Sub(began[e.domain]))
		}
	}
	slices.Sort(commitTook)
	if n := len(commitTook); n > 0 {
		var sum time.Duration
		for _, d := range commitTook {
			sum += d
		}
		fmt.Fprintf(out, "trace: %d window commits: median %v, 90%% %v, max %v, %.2fs in all\n", n,
			commitTook[n/2].Round(time.Millisecond), commitTook[n*9/10].Round(time.Millisecond), commitTook[n-1].Round(time.Millisecond), sum.Seconds())
	}
	// Time beyond the even spacing 1/limit between arrivals, split by whether pages were waiting
	// for the limiter throughout (the limiter held them) or not (the pipeline asked for too few).
	even := time.Duration(float64(time.Second) / limit)
	var heldByLimiter, lackOfDemand time.Duration
	for _, g := range gaps {
		if g.d <= even {
			continue
		}
		if lo, _, _ := span(g.from.Add(time.Millisecond), g.from.Add(g.d-time.Millisecond)); lo > 0 {
			heldByLimiter += g.d - even
		} else {
			lackOfDemand += g.d - even
		}
	}
	fmt.Fprintf(out, "trace: %.2fs from the first to the last arrival; beyond an even %v spacing: %.2fs with pages waiting for the limiter, %.2fs with none waiting\n",
		arrivals[len(arrivals)-1].Sub(arrivals[0]).Seconds(), even.Round(10*time.Microsecond), heldByLimiter.Seconds(), lackOfDemand.Seconds())
	slices.SortFunc(gaps, func(a, b gap) int { return int(b.d - a.d) })
	for _, g := range gaps[:min(10, len(gaps))] {
		lo, hi, doing := span(g.from.Add(time.Millisecond), g.from.Add(g.d-time.Millisecond))
		fmt.Fprintf(out, "trace: gap of %v after %.2fs: %d to %d pages waiting for the limiter; %s\n",
			g.d.Round(time.Millisecond), g.from.Sub(origin).Seconds(), lo, hi, doing)
	}
	fmt.Fprintf(out, "trace: %d inner seconds below 95%% of the limit\n", short)
}
