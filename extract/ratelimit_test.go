package extract

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/internal/poll"
)

func TestLimiterNeverExceedsTheLimitInAnySecond(t *testing.T) {
	t.Parallel()
	l := NewLimiter(20)
	tickets := waitMany(t, l, 16, 70)
	if got := maxWithin(admitted(l, tickets), time.Second); got > 20 {
		t.Errorf("%d sends in one second, limit 20", got)
	}
}

// admitted returns the instants the limiter admitted tickets at, sorted: a time taken by the
// test after Wait returns could be late by any scheduler delay and make two admissions look
// closer together than they were.
func admitted(l *Limiter, tickets []*Ticket) []time.Time {
	sent := make([]time.Time, len(tickets))
	l.mu.Lock()
	for i, tk := range tickets {
		sent[i] = tk.t
	}
	l.mu.Unlock()
	slices.SortFunc(sent, time.Time.Compare)
	return sent
}

// maxWithin returns the most instants of sorted ts within any window [t, t+d).
func maxWithin(ts []time.Time, d time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= d {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// At the API's limit of 30 requests/s, with more callers than the limit, no one second (and no
// 1.02 s: the margin) ever holds a 31st admission, while every 30 follow each other closely.
func TestLimiterNeverLets31RequestsIntoOneSecondAt30PerSecond(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	tickets := waitMany(t, l, 40, 100)
	sent := admitted(l, tickets)
	if got := maxWithin(sent, time.Second); got > 30 {
		t.Errorf("%d admissions in one second, limit 30", got)
	}
	if got := maxWithin(sent, time.Second+20*time.Millisecond); got > 30 {
		t.Errorf("%d admissions in 1.02 s (one second and the margin), want at most 30", got)
	}
}

// The pace is the guard's rate: the limit per one second plus the margin, so that requests are
// spread evenly instead of bunching and then waiting for the guard. Rates written out.
func TestThePaceIsTheLimitPerOneSecondAndTheMargin(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	check := func(when string, want float64) {
		t.Helper()
		if got := float64(l.pace.Limit()); math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: pace %v requests/s, want %v", when, got, want)
		}
	}
	check("new, margin 20 ms", 30/1.02)
	l.Throttled(nil) // margin 40 ms
	check("after a 429", 30/1.04)
	l.Throttled(nil) // at once: half the rate for a while, margin 80 ms
	check("after a second 429", 15/1.08)
	l.SetShare(0.5) // 7.5/s: 7 per second
	check("half the budget after two 429s", 7/1.08)
	l.SetShare(0.01) // 0.15/s: one per 6.67 s
	check("a hundredth of the budget after two 429s", 1/(1/0.15+0.08))
}

// A lone 429 only widens the margin; one within five seconds of the one before it also halves
// the rate for five seconds.
func TestLimiterShareAndThrottleLowerTheRate(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	l.SetShare(0.5)
	check := func(when string, want float64) {
		t.Helper()
		if got := l.Limit(); got != want {
			t.Errorf("limit %s = %v, want %v", when, got, want)
		}
	}
	check("with half the budget", 15)
	l.Throttled(nil)
	check("after a lone 429", 15)
	now = now.Add(4 * time.Second)
	l.Throttled(nil)
	check("after a second 429 four seconds later", 7.5)
	now = now.Add(4 * time.Second)
	check("four seconds after that", 7.5)
	l.SetShare(1)
	check("then with the whole budget", 15)
	now = now.Add(time.Second)
	check("five seconds after the second 429", 30)
	now = now.Add(time.Second)
	l.Throttled(nil)
	check("after a 429 six seconds after the one before", 30)
}

// 429s to requests sent before the previous 429 came back are one stall of the machine, already
// answered: neither the margin nor the rate changes.
func TestA429ToARequestSentBeforeThePreviousOneChangesNothing(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	early := &Ticket{l: l, t: now.Add(-100 * time.Millisecond)}
	l.Throttled(early)
	now = now.Add(50 * time.Millisecond)
	l.Throttled(early) // sent before the first 429 came back
	l.Throttled(&Ticket{l: l, t: now.Add(-60 * time.Millisecond)})
	if got, want := l.Margin(), 40*time.Millisecond; got != want {
		t.Errorf("margin after one stall's three 429s = %v, want %v", got, want)
	}
	if got := l.Limit(); got != 30 {
		t.Errorf("limit after one stall's three 429s = %v, want 30", got)
	}
	// A request sent after the first 429 came back and answered 429 too: the margin did not
	// suffice, and the 429s follow each other closely.
	l.Throttled(&Ticket{l: l, t: now.Add(-10 * time.Millisecond)})
	if got, want := l.Margin(), 80*time.Millisecond; got != want {
		t.Errorf("margin after a later request's 429 = %v, want %v", got, want)
	}
	if got := l.Limit(); got != 15 {
		t.Errorf("limit after a later request's 429 = %v, want 15", got)
	}
}

func TestA429WidensTheMarginForTheRestOfTheRun(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	for i, want := range []time.Duration{20, 40, 80, 160, 320, 400, 400} {
		if got := l.Margin(); got != want*time.Millisecond {
			t.Errorf("after %d 429s the margin is %v, want %v", i, got, want*time.Millisecond)
		}
		l.Throttled(nil)
	}
}

func TestLimiterPausedByAZeroShareResumesWhenRaised(t *testing.T) {
	t.Parallel()
	l := NewLimiter(50)
	l.SetShare(0)
	done := make(chan error, 1)
	go func() { _, err := l.Wait(context.Background()); done <- err }()
	select {
	case <-done:
		t.Fatal("a paused limiter let a request through")
	case <-time.After(300 * time.Millisecond):
	}
	l.SetShare(1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // bounds a hang
		t.Fatal("the limiter did not resume")
	}
	for range 5 { // the bucket still works after the pause
		if _, err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLimiterBelowOneRequestPerSecondSpacesRequestsByOneOverTheRate(t *testing.T) {
	t.Parallel()
	l := NewLimiter(2)
	l.SetShare(0.25) // 0.5 requests/s
	start := time.Now()
	for range 2 {
		if _, err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("two requests at 0.5/s took %v, want at least 2 s apart", took)
	}
}

// waitMany has workers goroutines call l.Wait until n tickets are out (a few more may come as
// the workers stop) and returns the tickets.
func waitMany(t *testing.T, l *Limiter, workers, n int) []*Ticket {
	t.Helper()
	var mu sync.Mutex
	var tickets []*Ticket
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds a hang
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				tk, err := l.Wait(ctx)
				if err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
				mu.Lock()
				tickets = append(tickets, tk)
				enough := len(tickets) >= n
				mu.Unlock()
				if enough {
					return
				}
			}
		})
	}
	wg.Wait()
	return tickets
}

// Requests waiting at once are admitted by priority (one-after-another requests before bulk
// pages, then the earliest WithPriority first, a context without one before any), then in the
// order they came; one whose context ends while it waits is skipped and does not hold up the
// others.
func TestLimiterAdmitsWaitingRequestsByPriority(t *testing.T) {
	t.Parallel()
	l := NewLimiter(20) // one every 51 ms
	if _, err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Hold the turn so that every request below waits for it.
	if err := l.turn.take(context.Background(), priority{}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	type req struct {
		name string
		ctx  context.Context
	}
	cancelled, cancel := context.WithCancel(WithPriority(context.Background(), base))
	reqs := []req{
		{"late", WithPriority(context.Background(), base.Add(time.Hour))},
		{"early-first", WithPriority(context.Background(), base.Add(time.Minute))},
		{"cancelled", cancelled},
		{"none", context.Background()},
		{"early-second", WithPriority(context.Background(), base.Add(time.Minute))},
		{"bulk-earliest", asBulk(WithPriority(context.Background(), base))},
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			if _, err := l.Wait(r.ctx); err != nil {
				if r.name != "cancelled" {
					t.Errorf("%s: %v", r.name, err)
				}
				return
			}
			mu.Lock()
			order = append(order, r.name)
			mu.Unlock()
		})
		// Let each one queue before the next (the order among equal priorities is arrival).
		if !poll.Within(time.Minute, func() bool { l.turn.mu.Lock(); defer l.turn.mu.Unlock(); return l.turn.waiting.Len() == i+1 }) {
			t.Fatalf("request %s did not queue", r.name)
		}
	}
	cancel()
	if !poll.Within(time.Minute, func() bool { l.turn.mu.Lock(); defer l.turn.mu.Unlock(); return l.turn.waiting.Len() == len(reqs)-1 }) {
		t.Fatal("the cancelled request did not leave the queue")
	}
	l.turn.pass()
	wg.Wait()
	want := []string{"none", "early-first", "early-second", "late", "bulk-earliest"}
	if !slices.Equal(order, want) {
		t.Errorf("admitted in the order %v, want %v", order, want)
	}
	if at, ok := Priority(reqs[1].ctx); !ok || !at.Equal(base.Add(time.Minute)) {
		t.Errorf("Priority = %v, %v; want %v", at, ok, base.Add(time.Minute))
	}
	if _, ok := Priority(context.Background()); ok {
		t.Error("a context without a priority reports one")
	}
}
