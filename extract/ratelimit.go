package extract

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// windowMargin is added to the one-second window of the hard guard, so that small delays
// between our send and the server's clock cannot make two sends look closer than they were.
const windowMargin = 25 * time.Millisecond

// throttlePause is how long the limiter runs at half speed after a 429.
const throttlePause = 5 * time.Second

// Limiter is the process-wide gate for API requests. Every attempt, retries included, passes
// Wait once. It paces requests evenly with a token bucket of burst 1
// (golang.org/x/time/rate) and, as a hard guarantee, never lets more than the limit through
// in any sliding one-second window. Its rate is the configured limit times the share of the
// account's budget this process holds (see Budget) and is halved for a while after a 429.
type Limiter struct {
	mu        sync.Mutex
	base      float64 // configured requests per second
	share     float64 // fraction of the account budget held by this process (0..1]
	slowUntil time.Time
	pace      *rate.Limiter
	sent      []time.Time // send times, newest last; at most ceil(limit)+1 kept
	now       func() time.Time
}

// NewLimiter returns a limiter allowing perSecond requests in any one-second window.
func NewLimiter(perSecond float64) *Limiter {
	l := &Limiter{base: perSecond, share: 1, now: time.Now}
	l.pace = rate.NewLimiter(rate.Limit(perSecond), 1)
	return l
}

// effective returns the current limit; l.mu must be held.
func (l *Limiter) effective(now time.Time) float64 {
	r := l.base * l.share
	if now.Before(l.slowUntil) {
		r /= 2
	}
	return r
}

// SetShare sets the fraction of the configured rate this process may use (0 < share <= 1).
func (l *Limiter) SetShare(share float64) {
	if share <= 0 || share > 1 {
		share = 1
	}
	l.mu.Lock()
	l.share = share
	r := l.effective(l.now())
	l.mu.Unlock()
	l.pace.SetLimit(rate.Limit(r))
}

// Throttled tells the limiter the API answered 429: it halves the rate for a few seconds.
func (l *Limiter) Throttled() {
	l.mu.Lock()
	now := l.now()
	l.slowUntil = now.Add(throttlePause)
	r := l.effective(now)
	l.mu.Unlock()
	l.pace.SetLimit(rate.Limit(r))
}

// Limit returns the current requests per second.
func (l *Limiter) Limit() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.effective(l.now())
}

// Wait blocks until one more request may be sent, or ctx ends.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := l.pace.Wait(ctx); err != nil {
		return err
	}
	for {
		l.mu.Lock()
		now := l.now()
		r := l.effective(now)
		if !l.slowUntil.IsZero() && !now.Before(l.slowUntil) {
			l.slowUntil = time.Time{}
			l.pace.SetLimit(rate.Limit(r))
		}
		n := max(1, int(math.Floor(r)))
		var wait time.Duration
		if len(l.sent) >= n {
			oldest := l.sent[len(l.sent)-n]
			if d := oldest.Add(time.Second + windowMargin).Sub(now); d > 0 {
				wait = d
			}
		}
		if wait == 0 {
			l.sent = append(l.sent, now)
			if keep := n + 1; len(l.sent) > 4*keep {
				l.sent = append(l.sent[:0], l.sent[len(l.sent)-keep:]...)
			}
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
