package pipeline

import (
	"net/http"
	"net/http/httptrace"
	"sort"
	"sync"
	"testing"
	"time"
)

// sendLog is a transport that records, for every request written to the wire, an interval
// [lo, hi] that contains the moment it was written: lo is taken before the request is handed
// to the transport, hi when the transport reports it written. Counting only requests whose
// whole interval falls inside one second never blames the limiter for a slow machine: a
// scheduler delay widens an interval, it cannot make sends look closer together.
type sendLog struct {
	base  http.RoundTripper
	mu    sync.Mutex
	sends []sendInterval
}

type sendInterval struct{ lo, hi time.Time }

func newSendLog() *sendLog {
	return &sendLog{base: http.DefaultTransport.(*http.Transport).Clone()}
}

func (l *sendLog) RoundTrip(req *http.Request) (*http.Response, error) {
	lo := time.Now()
	var mu sync.Mutex
	var hi time.Time
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		mu.Lock()
		hi = time.Now()
		mu.Unlock()
	}}
	resp, err := l.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	mu.Lock()
	written := hi
	mu.Unlock()
	if !written.IsZero() { // never written: the server never saw it
		l.mu.Lock()
		l.sends = append(l.sends, sendInterval{lo, written})
		l.mu.Unlock()
	}
	return resp, err
}

// count returns how many requests were written.
func (l *sendLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sends)
}

// maxSurelyInOneSecond returns the largest number of requests that were certainly written
// within one second of each other.
func (l *sendLog) maxSurelyInOneSecond() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maxSurelyInOneSecond(l.sends)
}

// maxSurelyInOneSecond returns the most intervals that lie entirely within [lo, lo+1s) for
// some lo: those sends certainly shared a one-second window, wherever in its interval each was.
func maxSurelyInOneSecond(sends []sendInterval) int {
	s := append([]sendInterval(nil), sends...)
	sort.Slice(s, func(i, j int) bool { return s[i].lo.Before(s[j].lo) })
	best := 0
	for i := range s {
		n := 0
		for j := i; j < len(s) && s[j].lo.Sub(s[i].lo) < time.Second; j++ {
			if s[j].hi.Sub(s[i].lo) < time.Second {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}

func TestMaxSurelyInOneSecond(t *testing.T) {
	t.Parallel()
	at := func(ms int) time.Time { return time.Unix(1700000000, 0).Add(time.Duration(ms) * time.Millisecond) }
	iv := func(lo, hi int) sendInterval { return sendInterval{at(lo), at(hi)} }
	tests := []struct {
		name  string
		sends []sendInterval
		want  int
	}{
		{"none", nil, 0},
		{"three tight sends", []sendInterval{iv(0, 1), iv(500, 501), iv(998, 999)}, 3},
		{"exactly one second apart", []sendInterval{iv(0, 1), iv(1000, 1001)}, 1},
		{"a wide interval may lie outside", []sendInterval{iv(0, 1), iv(10, 1200), iv(900, 901)}, 2},
		{"unsorted", []sendInterval{iv(900, 901), iv(0, 1), iv(100, 101)}, 3},
	}
	for _, tt := range tests {
		if got := maxSurelyInOneSecond(tt.sends); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
