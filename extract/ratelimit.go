package extract

import (
	"container/heap"
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// windowMargin is added to the one-second window: the limiter lets at most the limit through
// in any one second plus this margin, counted from when each request was written, and paces
// requests evenly at that rate (the limit per 1.02 s, 98 % of the limit). The margin absorbs
// how much later than the requests before it the server may see a request (its arrival is
// counted when the server gets to it, which a busy machine delays by a varying amount). A
// 429 doubles it for the rest of the run (Throttled), so a server or a machine that needs
// more gets more, at the cost of rate; a wider default (50 ms) cost 3 % of the rate on every
// run.
const windowMargin = 20 * time.Millisecond

// throttlePause is how long the limiter runs at half speed after a 429 that came within
// throttlePause of the one before it.
const throttlePause = 5 * time.Second

// Limiter is the process-wide gate for API requests. Every attempt, retries included, passes
// Wait once. As a hard guarantee it never lets more than the limit through in any sliding
// window of one second plus the margin (counted from when each request was written, see
// Ticket.Sent); it paces requests evenly at that same rate with a token bucket of burst 1
// (golang.org/x/time/rate), so that sends are spread out rather than bunched at the start of
// each second. Its rate is the configured limit times the share of the account's budget this
// process holds (see Budget) and is halved for a while when 429s follow each other closely.
type Limiter struct {
	mu        sync.Mutex
	base      float64 // configured requests per second
	share     float64 // fraction of the account budget held by this process (0..1]
	slowUntil time.Time
	throttled time.Time // the latest 429
	pace      *rate.Limiter
	sent      []*Ticket // admitted requests of about the last second
	margin    time.Duration
	now       func() time.Time
	turn      turns // who waits next: one request at a time, by priority
}

// maxMargin bounds how far 429s widen the one-second guard's margin.
const maxMargin = 400 * time.Millisecond

// NewLimiter returns a limiter allowing perSecond requests in any one-second window.
func NewLimiter(perSecond float64) *Limiter {
	l := &Limiter{base: perSecond, share: 1, margin: windowMargin, now: time.Now}
	l.pace = rate.NewLimiter(rate.Inf, 1)
	l.setPace(perSecond, windowMargin)
	return l
}

// guard returns how many requests the hard guard lets into its window, and the window without
// the margin, at the rate r (> 0): floor(r) per second, or one per 1/r below one per second.
func guard(r float64) (n int, window time.Duration) {
	if r < 1 {
		return 1, time.Duration(float64(time.Second) / r)
	}
	return int(math.Floor(r)), time.Second
}

// effective returns the current limit; l.mu must be held.
func (l *Limiter) effective(now time.Time) float64 {
	r := l.base * l.share
	if now.Before(l.slowUntil) {
		r /= 2
	}
	return r
}

// SetShare sets the fraction of the configured rate this process may use, 0..1; 0 pauses
// every request until the share is raised again.
func (l *Limiter) SetShare(share float64) {
	share = min(max(share, 0), 1)
	l.mu.Lock()
	l.share = share
	r, margin := l.effective(l.now()), l.margin
	l.mu.Unlock()
	l.setPace(r, margin)
}

// setPace sets the token bucket's rate to what the guard allows at the rate r with margin: n
// requests per window + margin, evenly spaced. A zero rate (paused) leaves the bucket alone:
// the bucket would spend its burst for good, and Wait holds paused requests itself.
func (l *Limiter) setPace(r float64, margin time.Duration) {
	if r > 0 {
		n, window := guard(r)
		l.pace.SetLimit(rate.Limit(float64(n) / (window + margin).Seconds()))
	}
}

// Throttled tells the limiter the API answered 429 to the request of ticket t (nil when not
// known). Every 429 widens the one-second guard's margin for the rest of the run (doubling
// it, at most 400 ms): the server saw our requests closer together than we sent them, as a
// busy machine makes them arrive. A 429 within throttlePause of the one before it also halves
// the rate for throttlePause: the budget is overdrawn (another client of the account), not
// only bunched. A 429 to a request sent before the previous 429 came back changes nothing:
// one stall of the machine bunches several requests, and the first 429 already answered it.
// So a lone 429 costs a little rate for the rest of the run, not half of it for seconds.
func (l *Limiter) Throttled(t *Ticket) {
	l.mu.Lock()
	now := l.now()
	if t != nil && !l.throttled.IsZero() && t.t.Before(l.throttled) {
		l.mu.Unlock()
		return
	}
	if !l.throttled.IsZero() && now.Sub(l.throttled) < throttlePause {
		l.slowUntil = now.Add(throttlePause)
	}
	l.throttled = now
	l.margin = min(2*l.margin, maxMargin)
	r, margin := l.effective(now), l.margin
	l.mu.Unlock()
	l.setPace(r, margin)
}

// Margin returns the one-second guard's current margin.
func (l *Limiter) Margin() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.margin
}

// Limit returns the current requests per second.
func (l *Limiter) Limit() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.effective(l.now())
}

// Ticket is one admitted request. Sent moves its time later when the request actually left
// (for example after a connection was dialled), so the one-second guard counts it where the
// server will see it.
type Ticket struct {
	l *Limiter
	t time.Time
}

// Sent records when the request was actually written; it only ever moves the time later.
func (t *Ticket) Sent(at time.Time) {
	if t == nil {
		return
	}
	t.l.mu.Lock()
	if at.After(t.t) {
		t.t = at
	}
	t.l.mu.Unlock()
}

// Wait blocks until one more request may be sent, or ctx ends. Requests waiting at once are
// admitted by priority (WithPriority), then in the order they came.
func (l *Limiter) Wait(ctx context.Context) (*Ticket, error) {
	if err := l.turn.take(ctx, priorityOf(ctx)); err != nil {
		return nil, err
	}
	defer l.turn.pass()
	return l.wait(ctx)
}

func (l *Limiter) wait(ctx context.Context) (*Ticket, error) {
	for {
		// Paused (the process lost its place in the account's shared budget): wait.
		if l.Limit() <= 0 {
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if err := l.pace.Wait(ctx); err != nil {
			return nil, err
		}
		break
	}
	for {
		l.mu.Lock()
		now := l.now()
		r := l.effective(now)
		if r <= 0 {
			l.mu.Unlock()
			return l.wait(ctx)
		}
		if !l.slowUntil.IsZero() && !now.Before(l.slowUntil) {
			l.slowUntil = time.Time{}
			l.setPace(r, l.margin)
		}
		// Sends in the last second (plus margin); wait for the oldest of them to age out when
		// there are already n.
		// Below one request per second the window is 1/r long, so that n processes sharing a
		// small budget still send at most the budget in any second.
		n, window := guard(r)
		horizon := now.Add(-window - l.margin)
		var inWindow int
		var oldest time.Time
		for _, tk := range l.sent {
			if tk.t.After(horizon) {
				inWindow++
				if oldest.IsZero() || tk.t.Before(oldest) {
					oldest = tk.t
				}
			}
		}
		if inWindow < n {
			tk := &Ticket{l: l, t: now}
			l.sent = append(l.sent, tk)
			if keep := 2 * (n + 1); len(l.sent) > 4*keep {
				// Drop tickets that can no longer count: older than the window.
				kept := l.sent[:0]
				for _, old := range l.sent {
					if old.t.After(horizon) {
						kept = append(kept, old)
					}
				}
				l.sent = kept
			}
			l.mu.Unlock()
			return tk, nil
		}
		wait := oldest.Sub(horizon) + time.Millisecond
		l.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

type priorityKey struct{}

// WithPriority returns ctx whose API requests the limiter admits before those of contexts with
// a later at, when both wait at once (a context without one comes first), within their kind:
// a window's requests that come one after another (its count, the re-reads of its straddling
// seconds) go before the pages a window reads side by side (pages 2 and on), which fill the
// rate in between. The pipeline gives each window its start: every window's count is asked as
// soon as it can be, so its pages are there to be read when others run out, the window a
// domain commits next is not held up behind pages read ahead of it, and the oldest history,
// closest to the API's horizon, is read first.
func WithPriority(ctx context.Context, at time.Time) context.Context {
	return context.WithValue(ctx, priorityKey{}, at)
}

// Priority returns the priority WithPriority gave ctx, if any.
func Priority(ctx context.Context) (time.Time, bool) {
	at, ok := ctx.Value(priorityKey{}).(time.Time)
	return at, ok
}

type bulkKey struct{}

// asBulk marks ctx's requests as pages read side by side (see WithPriority).
func asBulk(ctx context.Context) context.Context {
	return context.WithValue(ctx, bulkKey{}, true)
}

// priority orders waiting requests: one-after-another requests before bulk pages, then by
// time, lower first.
type priority struct {
	bulk bool
	at   int64
}

func (p priority) before(o priority) bool {
	if p.bulk != o.bulk {
		return !p.bulk
	}
	return p.at < o.at
}

// priorityOf is ctx's priority as the limiter orders it.
func priorityOf(ctx context.Context) priority {
	p := priority{at: math.MinInt64}
	if at, ok := Priority(ctx); ok {
		p.at = at.UnixNano()
	}
	p.bulk, _ = ctx.Value(bulkKey{}).(bool)
	return p
}

// turns lets one waiter at a time through to the limiter's pace: the first by priority (see
// priority.before), then the earliest come.
type turns struct {
	mu      sync.Mutex
	busy    bool
	seq     uint64
	waiting waiters
}

type waiter struct {
	prio  priority
	seq   uint64
	ready chan struct{} // closed when it is this waiter's turn
	index int           // in the heap; -1 once taken out
}

// take waits for the caller's turn.
func (t *turns) take(ctx context.Context, prio priority) error {
	t.mu.Lock()
	if !t.busy {
		t.busy = true
		t.mu.Unlock()
		return nil
	}
	t.seq++
	w := &waiter{prio: prio, seq: t.seq, ready: make(chan struct{})}
	heap.Push(&t.waiting, w)
	t.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		if w.index >= 0 {
			heap.Remove(&t.waiting, w.index)
			t.mu.Unlock()
			return ctx.Err()
		}
		t.mu.Unlock()
		// Its turn came as ctx ended: hand it on.
		t.pass()
		return ctx.Err()
	}
}

// pass ends the caller's turn and gives it to the next waiter.
func (t *turns) pass() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waiting.Len() == 0 {
		t.busy = false
		return
	}
	close(heap.Pop(&t.waiting).(*waiter).ready)
}

// waiters is a heap of waiters by (prio, seq).
type waiters []*waiter

func (h waiters) Len() int { return len(h) }
func (h waiters) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio.before(h[j].prio)
	}
	return h[i].seq < h[j].seq
}
func (h waiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}
