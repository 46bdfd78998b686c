package livesim

import (
	"cmp"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// entry is one stored record with its serving instant and insertion sequence.
type entry struct {
	rec callback.Record
	at  int64  // serving instant, Unix nanoseconds (see the package doc)
	seq uint64 // insertion order: ties on at are served in this order
}

func compareEntries(a, b *entry) int {
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq))
}

// store holds every record, per domain and all together, each slice sorted by (at, seq).
type store struct {
	mu      sync.RWMutex
	seq     uint64
	all     []*entry
	domains map[string][]*entry
}

func newStore() *store {
	return &store{domains: map[string][]*entry{}}
}

// parseCallbackTime parses an API time as an instant: RFC3339 with any offset and optional
// fractional seconds.
func parseCallbackTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// servingInstants gives each record its serving instant: its parsed CallbackTime, or for an
// unparseable one the nearest preceding parseable neighbour's (else the nearest following
// one's, else fallback).
func servingInstants(recs []callback.Record, fallback time.Time) []int64 {
	ats := make([]int64, len(recs))
	ok := make([]bool, len(recs))
	for i := range recs {
		if t, good := parseCallbackTime(recs[i].CallbackTime); good {
			ats[i], ok[i] = t.UnixNano(), true
		}
	}
	last, have := int64(0), false
	for i := range recs {
		if ok[i] {
			last, have = ats[i], true
		} else if have {
			ats[i], ok[i] = last, true
		}
	}
	next := fallback.UnixNano()
	for i := len(recs) - 1; i >= 0; i-- {
		if ok[i] {
			next = ats[i]
		} else {
			ats[i] = next
		}
	}
	return ats
}

// add stores records with the given serving instants. Big batches are appended and sorted;
// small ones are inserted in place.
func (s *store) add(recs []callback.Record, ats []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es := make([]entry, len(recs))
	bulk := len(recs) > 64
	for i := range recs {
		s.seq++
		es[i] = entry{rec: recs[i], at: ats[i], seq: s.seq}
		e := &es[i]
		if bulk {
			s.all = append(s.all, e)
			s.domains[e.rec.Domain] = append(s.domains[e.rec.Domain], e)
			continue
		}
		s.all = insertSorted(s.all, e)
		s.domains[e.rec.Domain] = insertSorted(s.domains[e.rec.Domain], e)
	}
	if bulk {
		s.sortAll()
	}
}

func insertSorted(list []*entry, e *entry) []*entry {
	i, _ := slices.BinarySearchFunc(list, e, compareEntries)
	return slices.Insert(list, i, e)
}

func (s *store) sortAll() {
	slices.SortFunc(s.all, compareEntries)
	for d, list := range s.domains {
		slices.SortFunc(list, compareEntries)
		s.domains[d] = list
	}
}

// bounds returns [lo, hi): the entries of list with from <= at <= to.
func bounds(list []*entry, from, to int64) (int, int) {
	lo, _ := slices.BinarySearchFunc(list, from, func(e *entry, t int64) int {
		if e.at < t {
			return -1
		}
		return 1
	})
	hi, _ := slices.BinarySearchFunc(list, to, func(e *entry, t int64) int {
		if e.at <= t {
			return -1
		}
		return 1
	})
	return lo, max(hi, lo)
}

// records returns copies of the records of domain ("" = all) with from <= at <= to, in
// serving order.
func (s *store) records(domain string, from, to time.Time) []callback.Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.all
	if domain != "" {
		list = s.domains[domain]
	}
	lo, hi := bounds(list, from.UnixNano(), to.UnixNano())
	out := make([]callback.Record, 0, hi-lo)
	for _, e := range list[lo:hi] {
		out = append(out, e.rec)
	}
	return out
}

// updateWhere changes matching records in place; it re-sorts when a change moved a record's
// domain or time.
func (s *store) updateWhere(match func(*callback.Record) bool, change func(*callback.Record)) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, moved := 0, false
	for _, e := range s.all {
		if !match(&e.rec) {
			continue
		}
		domain, ct := e.rec.Domain, e.rec.CallbackTime
		change(&e.rec)
		n++
		if e.rec.CallbackTime != ct {
			if t, ok := parseCallbackTime(e.rec.CallbackTime); ok {
				e.at = t.UnixNano()
			}
			moved = true
		}
		if e.rec.Domain != domain {
			moved = true
		}
	}
	if moved {
		s.domains = map[string][]*entry{}
		for _, e := range s.all {
			s.domains[e.rec.Domain] = append(s.domains[e.rec.Domain], e)
		}
		s.sortAll()
	}
	return n
}

// query is a DescribeLiveCallbackData query.
type query struct {
	domains  []string // nil or empty = all
	app      string   // "" = any
	stream   string   // "" = any
	events   []string // empty = any
	statuses []string // empty = any
	from, to int64    // inclusive, Unix nanoseconds
	offset   int
	limit    int
	order    Order       // "" = OrderStable
	rnd      *mrand.Rand // draws the random orders; nil only for OrderStable and OrderNewestFirst
	cap      int         // 0 = no result cap
}

func (q *query) filtered() bool {
	return q.app != "" || q.stream != "" || len(q.events) > 0 || len(q.statuses) > 0
}

func (q *query) match(r *callback.Record) bool {
	return (q.app == "" || r.App == q.app) &&
		(q.stream == "" || r.Stream == q.stream) &&
		(len(q.events) == 0 || slices.Contains(q.events, r.CallbackEventType)) &&
		(len(q.statuses) == 0 || slices.Contains(q.statuses, r.CallbackStatus))
}

// result is a query's answer: the total number of matches (at most the cap) and the
// requested page.
type result struct {
	total     int
	page      []callback.Record
	firstAt   int64 // serving instant of the page's first record (or of the last match in serving order when the page is empty)
	haveFirst bool
}

// run answers q without rescanning what it does not need: a stable, unfiltered query over
// one sorted slice is two binary searches and a slice; otherwise only the window is scanned.
// An order other than stable arranges all the window's matches first, then pages them.
func (s *store) run(q query) result {
	if q.order != "" && q.order != OrderStable {
		return s.runArranged(q)
	}
	if q.cap > 0 {
		q.limit = max(0, min(q.limit, q.cap-q.offset))
	}
	res := s.runStable(q)
	if q.cap > 0 && res.total > q.cap {
		res.total = q.cap
	}
	return res
}

// runArranged answers q in a non-stable order: it collects the window's matches in
// (at, seq) order, arranges them, caps them and cuts the page.
func (s *store) runArranged(q query) result {
	s.mu.RLock()
	lists := s.windowLists(q)
	var ms []*entry
	mergeLists(lists, func(e *entry) {
		if q.match(&e.rec) {
			ms = append(ms, e)
		}
	})
	s.mu.RUnlock()
	arrange(ms, q.order, q.rnd)
	var res result
	if len(ms) == 0 {
		return res
	}
	res.total = len(ms)
	if q.cap > 0 {
		res.total = min(res.total, q.cap)
	}
	lo := min(q.offset, res.total)
	hi := min(q.offset+q.limit, res.total)
	for _, e := range ms[lo:hi] {
		res.page = append(res.page, e.rec)
	}
	res.haveFirst = true
	if lo < hi {
		res.firstAt = ms[lo].at
	} else {
		res.firstAt = ms[len(ms)-1].at
	}
	return res
}

// windowLists returns the sorted slices q reads, each cut to q's window. The caller holds
// s.mu.
func (s *store) windowLists(q query) [][]*entry {
	var lists [][]*entry
	doms := slices.Compact(slices.Sorted(slices.Values(q.domains)))
	if len(doms) == 0 || len(doms) >= len(s.domains) && allKnown(doms, s.domains) {
		lists = [][]*entry{s.all}
	} else {
		for _, d := range doms {
			if l := s.domains[d]; len(l) > 0 {
				lists = append(lists, l)
			}
		}
	}
	for i, l := range lists {
		lo, hi := bounds(l, q.from, q.to)
		lists[i] = l[lo:hi]
	}
	return lists
}

// mergeLists calls visit on every entry of the sorted lists in (at, seq) order: a k-way
// merge, k being the number of queried domains, small.
func mergeLists(lists [][]*entry, visit func(*entry)) {
	lists = slices.Clone(lists)
	for {
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || compareEntries(l[0], lists[best][0]) < 0) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		e := lists[best][0]
		lists[best] = lists[best][1:]
		visit(e)
	}
}

// runStable answers q in the stable order, uncapped.
func (s *store) runStable(q query) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	lists := s.windowLists(q)
	var res result
	take := func(e *entry) {
		if res.total >= q.offset && res.total < q.offset+q.limit {
			if !res.haveFirst {
				res.firstAt, res.haveFirst = e.at, true
			}
			res.page = append(res.page, e.rec)
		}
		res.total++
	}
	if len(lists) == 1 && !q.filtered() {
		l := lists[0]
		res.total = len(l)
		lo := min(q.offset, len(l))
		hi := min(q.offset+q.limit, len(l))
		for _, e := range l[lo:hi] {
			res.page = append(res.page, e.rec)
		}
		if lo < hi {
			res.firstAt, res.haveFirst = l[lo].at, true
		} else if len(l) > 0 {
			res.firstAt, res.haveFirst = l[len(l)-1].at, true
		}
		return res
	}
	var last *entry
	mergeLists(lists, func(e *entry) {
		if q.match(&e.rec) {
			take(e)
			last = e
		}
	})
	if !res.haveFirst && last != nil {
		res.firstAt, res.haveFirst = last.at, true
	}
	return res
}

func allKnown(doms []string, m map[string][]*entry) bool {
	for _, d := range doms {
		if _, ok := m[d]; !ok {
			return false
		}
	}
	return true
}
