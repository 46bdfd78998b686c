package load

import (
	"context"
	"sync"
	"testing"
	"time"
)

type shares struct {
	mu sync.Mutex
	v  float64
}

func (s *shares) set(v float64) { s.mu.Lock(); s.v = v; s.mu.Unlock() }
func (s *shares) get() float64  { s.mu.Lock(); defer s.mu.Unlock(); return s.v }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProcessesOfOneAccountSplitItsBudget(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	var a, b, other shares
	ba, err := s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-a", OnShare: a.set})
	if err != nil {
		t.Fatal(err)
	}
	defer ba.Leave(time.Time{})
	if a.get() != 1 {
		t.Fatalf("a lone process has share %v, want 1", a.get())
	}
	// A process of another account does not take from this one.
	bo, err := s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK2", RunID: "run-other", OnShare: other.set})
	if err != nil {
		t.Fatal(err)
	}
	defer bo.Leave(time.Time{})

	start := time.Now()
	bb, err := s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-b", OnShare: b.set})
	if err != nil {
		t.Fatal(err)
	}
	// The newcomer waits until the other member has seen it and halved its share.
	if time.Since(start) < budgetSettle {
		t.Errorf("the second member joined after %v, before the first could slow down", time.Since(start))
	}
	if a.get() != 0.5 || b.get() != 0.5 {
		t.Fatalf("shares after the second joined: a %v, b %v; want 0.5 each", a.get(), b.get())
	}
	if other.get() != 1 {
		t.Errorf("the other account's share is %v, want 1", other.get())
	}
	bb.Leave(time.Time{})
	waitFor(t, "the first member to take the whole budget back", func() bool { return a.get() == 1 })
}

func TestASilentMemberExpires(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `INSERT INTO rate_budget_members (account, member_id, heartbeat_at)
		VALUES (encode(sha256('AK1'), 'hex'), 'crashed', now() - interval '10 seconds')`); err != nil {
		t.Fatal(err)
	}
	var a shares
	ba, err := s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-a", OnShare: a.set})
	if err != nil {
		t.Fatal(err)
	}
	defer ba.Leave(time.Time{})
	if a.get() != 1 {
		t.Errorf("a crashed member still counts: share %v", a.get())
	}
}

func TestProcessesJoiningAtOnceSeeEachOtherBeforeSending(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	var a, b shares
	var wg sync.WaitGroup
	var ba, bb *Budget
	var errA, errB error
	wg.Go(func() { ba, errA = s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-a", OnShare: a.set}) })
	wg.Go(func() { bb, errB = s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-b", OnShare: b.set}) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	defer ba.Leave(time.Time{})
	defer bb.Leave(time.Time{})
	// When the later of the two may send, both use half of the budget.
	if a.get() != 0.5 || b.get() != 0.5 {
		t.Fatalf("shares after joining at once: %v and %v, want 0.5 each", a.get(), b.get())
	}
}

func TestAMemberWhoseConnectionDiesReconnectsAndKeepsItsPlace(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	var a, b shares
	ba, err := s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-a", OnShare: a.set})
	if err != nil {
		t.Fatal(err)
	}
	defer ba.Leave(time.Time{})
	bb, err := s.JoinBudget(ctx, BudgetOpts{AccessKey: "AK1", RunID: "run-b", OnShare: b.set})
	if err != nil {
		t.Fatal(err)
	}
	defer bb.Leave(time.Time{})
	pid := ba.conn.PgConn().PID()
	if _, err := s.Pool().Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	// Longer than the others take to count a silent member gone.
	time.Sleep(budgetExpiry + 2*budgetHeartbeat)
	if a.get() != 0.5 || b.get() != 0.5 {
		t.Fatalf("after a's connection died: shares %v and %v, want 0.5 each (a reconnected, b still counts it)", a.get(), b.get())
	}
}
