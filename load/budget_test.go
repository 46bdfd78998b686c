package load

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/internal/poll"
)

type shares struct {
	mu  sync.Mutex
	v   float64
	all []float64
}

func (s *shares) set(v float64) { s.mu.Lock(); s.v = v; s.all = append(s.all, v); s.mu.Unlock() }
func (s *shares) get() float64  { s.mu.Lock(); defer s.mu.Unlock(); return s.v }

// history records every share a member was given, in order.
func (s *shares) history() []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]float64(nil), s.all...)
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
	poll.Until(t, time.Minute, "the first member to take the whole budget back", func() bool { return a.get() == 1 })
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
	bSeen := len(b.history())
	var killedAt time.Time
	if err := s.Pool().QueryRow(ctx, "SELECT now() FROM pg_terminate_backend($1)", pid).Scan(&killedAt); err != nil {
		t.Fatal(err)
	}
	// a's heartbeat reconnects and renews its row; then b refreshes after that renewal, counting
	// a again. Waited for by what the database shows, not by the clock.
	heartbeat := func(member string) (at time.Time) {
		if err := s.Pool().QueryRow(ctx, `SELECT heartbeat_at FROM rate_budget_members
			WHERE account = encode(sha256('AK1'), 'hex') AND member_id = $1`, member).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	poll.Until(t, time.Minute, "a to reconnect and renew its membership", func() bool { return heartbeat("run-a").After(killedAt) })
	renewed := heartbeat("run-a")
	poll.Until(t, time.Minute, "b to count the members after a's renewal", func() bool { return heartbeat("run-b").After(renewed) })
	if a.get() != 0.5 || b.get() != 0.5 {
		t.Fatalf("after a's connection died: shares %v and %v, want 0.5 each (a reconnected, b still counts it)", a.get(), b.get())
	}
	if h := b.history()[bSeen:]; len(h) != 0 {
		t.Errorf("b's share changed to %v while a reconnected: it counted a gone", h)
	}
}
