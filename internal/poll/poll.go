// Package poll waits in tests for a condition, never for a fixed time: a test that sleeps and
// then asserts fails on a slow machine and wastes time on a fast one.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 20 * time.Millisecond

// Until checks cond every Interval until it holds, and fails t naming what it waited for if it
// still does not after timeout. Give a generous timeout: it bounds a hang, not the speed of the
// code under test.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("gave up after %s waiting for %s", timeout, what)
	}
}

// Within checks cond every Interval until it holds (true) or timeout passes (false).
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}
