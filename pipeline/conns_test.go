package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

// One setting caps the process's connections, the rate budget's and partition creation's
// included: a sync of more domains than the cap allows at once never opens more, and ends exact.
func TestASyncNeverOpensMoreConnectionsThanItsCap(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 14, NumDomains: 6, RecordsPerDay: 400, DaysBack: 1, Now: func() time.Time { return end }})
	const maxConns = load.MinMaxConns
	capped, err := load.OpenWith(context.Background(), h.dbURL, load.Options{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(capped.Close)
	// Count the archive database's sessions from outside, from the admin database.
	admin, err := pgx.Connect(context.Background(), pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var dbName string
	if err := capped.Pool().QueryRow(context.Background(), "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	h.store.Close() // the harness's own store must not count
	h.store = capped
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var n int64
			if admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", dbName).Scan(&n) == nil && n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	res := h.pipeline(opts{lookback: 25 * time.Hour, pageSize: 50, targetPgs: 2}).Sync(context.Background(), h.sim.Domains())
	close(stop)
	wg.Wait()
	mustSucceed(t, res)
	h.assertExactUpToWatermarks()
	if p := peak.Load(); p > maxConns {
		t.Errorf("the archive database saw %d sessions at once; the cap is %d", p, maxConns)
	} else if p < 2 {
		t.Errorf("peak of %d sessions: the sampler saw nothing", p)
	}
	t.Logf("peak %d sessions of %d allowed", peak.Load(), maxConns)
}
