package livesim

import (
	"cmp"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// Order is the order DescribeLiveCallbackData answers CallbackInfoList in. The API documents
// none; each of these is one the documentation allows.
type Order string

// The answer orders.
const (
	// OrderStable: time ascending, records of the same instant in insertion order, the same
	// on every request. The default.
	OrderStable Order = "stable"
	// OrderShuffleTies: seconds ascending, the records of one second in a fresh random order
	// on every request (a search engine sorting by time without a tie-breaker).
	OrderShuffleTies Order = "shuffle-ties"
	// OrderNewestFirst: time descending, records of the same instant in insertion order.
	OrderNewestFirst Order = "newest-first"
	// OrderShuffle: every request answers its matches in a fresh random order.
	OrderShuffle Order = "shuffle"
)

// AllOrders lists every answer order.
var AllOrders = []Order{OrderStable, OrderShuffleTies, OrderNewestFirst, OrderShuffle}

// ParseOrder returns the order named s, or an error naming s and the accepted names.
func ParseOrder(s string) (Order, error) {
	for _, o := range AllOrders {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown order %q (want one of %v)", s, AllOrders)
}

// LimitCounting is how the span and history limits are counted. The API documents "31 days"
// and "366 days" without saying how they count.
type LimitCounting string

// The ways of counting the limits.
const (
	// CountExact: a span of EndTime − StartTime ≤ MaxSpanDays × 24 h, a StartTime ≥
	// now − MaxHistoryDays × 24 h. The default.
	CountExact LimitCounting = "exact"
	// CountInclusive: both ends count, at second precision: EndTime − StartTime + 1 s ≤
	// MaxSpanDays × 24 h and now − StartTime + 1 s ≤ MaxHistoryDays × 24 h (a query of exactly
	// 31 × 24 h is refused).
	CountInclusive LimitCounting = "inclusive"
	// CountCalendar: calendar days in UTC+8, both ends included: the query may touch at most
	// MaxSpanDays dates, and StartTime's date may be at most MaxHistoryDays − 1 dates before
	// today's (a start 366 days − 10 minutes ago is refused when that reaches an earlier date).
	CountCalendar LimitCounting = "calendar"
)

// AllLimitCountings lists every way of counting the limits.
var AllLimitCountings = []LimitCounting{CountExact, CountInclusive, CountCalendar}

// ParseLimitCounting returns the counting named s, or an error naming s and the accepted names.
func ParseLimitCounting(s string) (LimitCounting, error) {
	for _, c := range AllLimitCountings {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown limit counting %q (want one of %v)", s, AllLimitCountings)
}

// civilDay is the number of the date t falls on in UTC+8.
func civilDay(t time.Time) int64 {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

const day = 24 * time.Hour

// spanRefused reports whether [start, end] exceeds the span limit under c's counting.
func (c Config) spanRefused(start, end time.Time) bool {
	limit := time.Duration(c.MaxSpanDays) * day
	switch c.LimitCounting {
	case CountInclusive:
		return end.Sub(start)+time.Second > limit
	case CountCalendar:
		return civilDay(end)-civilDay(start)+1 > int64(c.MaxSpanDays)
	default:
		return end.Sub(start) > limit
	}
}

// historyRefused reports whether start reaches past the history limit at now under c's
// counting.
func (c Config) historyRefused(start, now time.Time) bool {
	limit := time.Duration(c.MaxHistoryDays) * day
	switch c.LimitCounting {
	case CountInclusive:
		return now.Sub(start)+time.Second > limit
	case CountCalendar:
		return civilDay(now)-civilDay(start)+1 > int64(c.MaxHistoryDays)
	default:
		return start.Before(now.Add(-limit))
	}
}

// arrange puts ms, matches in (at, seq) order, into order o; rnd draws the random orders.
func arrange(ms []*entry, o Order, rnd *mrand.Rand) {
	switch o {
	case OrderNewestFirst:
		slices.SortStableFunc(ms, func(a, b *entry) int { return cmp.Compare(b.at, a.at) })
	case OrderShuffle:
		rnd.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	case OrderShuffleTies:
		for lo := 0; lo < len(ms); {
			sec := second(ms[lo].at)
			hi := lo + 1
			for hi < len(ms) && second(ms[hi].at) == sec {
				hi++
			}
			tie := ms[lo:hi]
			rnd.Shuffle(len(tie), func(i, j int) { tie[i], tie[j] = tie[j], tie[i] })
			lo = hi
		}
	}
}

// second is the whole second (floor) of a serving instant.
func second(at int64) int64 { return time.Unix(0, at).Unix() }

// burstRecords draws n records of domain's profile at the second of at (time in UTC+8, as
// the service writes it), snapshot and record events of random streams.
func (p *domainProfile) burstRecords(r *mrand.Rand, at time.Time, n int) []callback.Record {
	t := at.Truncate(time.Second).In(cst)
	out := make([]callback.Record, n)
	for i := range out {
		event := "snapshot_event"
		if r.IntN(3) == 0 {
			event = "record_event"
		}
		out[i] = p.record(r, t, r.IntN(len(p.streams)), event, int64(r.IntN(3600)))
	}
	return out
}

// bursts generates, for a domain and the day starting at dayStart, BurstsPerDay seconds of
// BurstSize records each.
func (p *domainProfile) bursts(seed int64, dayStart time.Time, size, perDay int) ([]callback.Record, []int64) {
	r := mrand.New(mrand.NewPCG(uint64(seed)^0xb0b5, hashString("burst/"+p.domain)+uint64(dayStart.Unix())))
	var out []callback.Record
	var ats []int64
	for range perDay {
		t := dayStart.Add(time.Duration(r.IntN(86400)) * time.Second)
		out = append(out, p.burstRecords(r, t, size)...)
		for range size {
			ats = append(ats, t.UnixNano())
		}
	}
	return out, ats
}
