package extract

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// maxInWindow returns the most sends within any one-second window.
func maxInWindow(ts []time.Time) int {
	best := 0
	j := 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= time.Second {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestLimiterNeverExceedsTheLimitInAnySecond(t *testing.T) {
	t.Parallel()
	l := NewLimiter(20)
	var mu sync.Mutex
	var tickets []*Ticket
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds a hang
	defer cancel()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				tk, err := l.Wait(ctx)
				if err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
				mu.Lock()
				tickets = append(tickets, tk)
				enough := len(tickets) >= 70
				mu.Unlock()
				if enough {
					return
				}
			}
		})
	}
	wg.Wait()
	// The admission instants, as the limiter took them when it let each request go: a time
	// taken by the test after Wait returns could be late by any scheduler delay and make two
	// admissions look closer together than they were.
	sent := make([]time.Time, len(tickets))
	l.mu.Lock()
	for i, tk := range tickets {
		sent[i] = tk.t
	}
	l.mu.Unlock()
	slices.SortFunc(sent, time.Time.Compare)
	if got := maxInWindow(sent); got > 20 {
		t.Errorf("%d sends in one second, limit 20", got)
	}
}

func TestLimiterShareAndThrottleLowerTheRate(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	l.SetShare(0.5)
	if got := l.Limit(); got != 15 {
		t.Errorf("limit with half the budget = %v, want 15", got)
	}
	l.Throttled()
	if got := l.Limit(); got != 7.5 {
		t.Errorf("limit after a 429 = %v, want 7.5", got)
	}
	l.SetShare(1)
	if got := l.Limit(); got != 15 {
		t.Errorf("limit after a 429 with the whole budget = %v, want 15", got)
	}
}

func TestA429WidensTheMarginForTheRestOfTheRun(t *testing.T) {
	t.Parallel()
	l := NewLimiter(30)
	for i, want := range []time.Duration{50, 100, 200, 400, 400} {
		if got := l.Margin(); got != want*time.Millisecond {
			t.Errorf("after %d 429s the margin is %v, want %v", i, got, want*time.Millisecond)
		}
		l.Throttled()
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
