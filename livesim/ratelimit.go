package livesim

import (
	"sync"
	"time"
)

// slidingLimiter admits at most limit requests per access key in any sliding one-second
// window. Only admitted requests occupy the window, so a client that backs off recovers.
type slidingLimiter struct {
	mu    sync.Mutex
	limit int // negative: unlimited
	seen  map[string][]time.Time
}

func newSlidingLimiter(limit int) *slidingLimiter {
	return &slidingLimiter{limit: limit, seen: map[string][]time.Time{}}
}

func (l *slidingLimiter) allow(key string, now time.Time) bool {
	if l.limit < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.seen[key]
	cut := 0
	for cut < len(ts) && now.Sub(ts[cut]) >= time.Second {
		cut++
	}
	ts = ts[cut:]
	if len(ts) >= l.limit {
		l.seen[key] = ts
		return false
	}
	l.seen[key] = append(ts, now)
	return true
}

// maxInAnySecond is the largest number of times within any window [t, t+1s).
func maxInAnySecond(times []time.Time) int {
	best, i := 0, 0
	for j := range times {
		for times[j].Sub(times[i]) >= time.Second {
			i++
		}
		best = max(best, j-i+1)
	}
	return best
}
