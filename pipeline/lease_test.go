package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

// A run whose lease is taken over (it expired while the run stalled, and another run took
// it) stops that domain at its next commit and commits nothing more of it.
func TestARunThatLosesItsLeaseStopsWithoutCommitting(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 12, Domains: []string{"lease.example.com"}, RecordsPerDay: 2000, DaysBack: 1,
		Now: func() time.Time { return end }})
	var committed atomic.Value // the end of the last window committed before the takeover
	var windows atomic.Int32
	// A small memory budget keeps windows (and commits) to about a page each, so that a commit
	// follows the takeover (windows read while one commits are otherwise committed together).
	o := opts{lookback: 25 * time.Hour, pageSize: 100, targetPgs: 3, inFlight: 800, onWindow: func(e WindowEvent) {
		if windows.Add(1) != 2 {
			return
		}
		committed.Store(e.Window.End)
		if _, err := h.store.Pool().Exec(context.Background(), `UPDATE sync_leases
			SET token = 'other', holder = 'another run', expires_at = now() + interval '1 hour'`); err != nil {
			t.Error(err)
		}
	}}
	res := h.pipeline(o).Sync(context.Background(), h.sim.Domains())
	d := res.Domains[0]
	if d.Outcome != OutcomeFailed || !errors.Is(d.Err, load.ErrLockLost) {
		t.Fatalf("outcome %s, err %v; want failed with ErrLockLost", d.Outcome, d.Err)
	}
	if n := windows.Load(); n != 2 {
		t.Errorf("%d windows committed; want the 2 before the takeover", n)
	}
	cp := h.checkpoints()["lease.example.com"]
	if want := committed.Load().(time.Time); !cp.Watermark.Equal(want) {
		t.Errorf("watermark %v, want %v: the end of the last window committed before the takeover", cp.Watermark, want)
	}
	h.assertExactUpToWatermarks()
}

// Killing the run's database connections does not lose its lease: the lease is a row, not a
// session, so the run reconnects and finishes exact.
func TestKilledConnectionsDoNotLoseTheLease(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 13, Domains: []string{"kill.example.com"}, RecordsPerDay: 2000, DaysBack: 1,
		Now: func() time.Time { return end }})
	var windows atomic.Int32
	// A small memory budget keeps windows (and commits) to about a page each.
	o := opts{lookback: 25 * time.Hour, pageSize: 100, targetPgs: 3, maxTries: 10, inFlight: 800, onWindow: func(WindowEvent) {
		if windows.Add(1) != 2 {
			return
		}
		if _, err := h.store.Pool().Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Error(err)
		}
	}}
	res := h.pipeline(o).Sync(context.Background(), h.sim.Domains())
	mustSucceed(t, res)
	if windows.Load() < 4 {
		t.Fatalf("only %d windows: the kill did not land mid-run", windows.Load())
	}
	h.assertExactUpToWatermarks()
}
