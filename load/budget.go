package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// Budget timing: members refresh every budgetHeartbeat; a member silent for budgetExpiry is
// gone. A process that joins while others are live waits budgetSettle before its first
// request, so that every other member has already lowered its share.
const (
	budgetHeartbeat = time.Second
	budgetExpiry    = 4 * time.Second
	budgetSettle    = 2*budgetHeartbeat + 500*time.Millisecond
)

// BudgetOpts configures JoinBudget.
type BudgetOpts struct {
	AccessKey string              // the account; only its sha256 is stored
	RunID     string              // this process
	OnShare   func(share float64) // called with 1/n whenever the number of live members n changes
	Logger    *zap.Logger
}

// Budget is this process's membership in its account's shared rate budget: the API's limit
// belongs to the account, so every cbarchive process of the same access key on this database
// uses 1/n of it, n being the live members. A lone process gets all of it.
type Budget struct {
	s      *Store
	conn   *pgx.Conn // its own connection: windows holding every pool connection must not delay the heartbeat
	opts   BudgetOpts
	acct   string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu    sync.Mutex
	share float64
}

// JoinBudget registers this process in the account's budget, sets its share through
// opts.OnShare, and keeps it current until Leave.
func (s *Store) JoinBudget(ctx context.Context, opts BudgetOpts) (*Budget, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	sum := sha256.Sum256([]byte(opts.AccessKey))
	conn, err := s.connect(ctx, "cbarchive-budget")
	if err != nil {
		return nil, fmt.Errorf("join the rate budget: %w", err)
	}
	b := &Budget{s: s, conn: conn, opts: opts, acct: hex.EncodeToString(sum[:]), done: make(chan struct{}), share: -1} // -1: the first apply always reports the share
	fail := func(err error) (*Budget, error) {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	if _, err := conn.Exec(ctx, `DELETE FROM rate_budget_members WHERE heartbeat_at < now() - interval '1 minute'`); err != nil {
		return fail(fmt.Errorf("clean the rate budget: %w", translate(err)))
	}
	// Register in a statement of its own, committed before counting: two processes joining at
	// once then cannot both miss each other (a count in the same statement as the insert does
	// not see a concurrent, uncommitted insert). The later of the two always sees the earlier
	// and waits below; the earlier sees the later at its next heartbeat.
	if _, err := conn.Exec(ctx, `INSERT INTO rate_budget_members (account, member_id) VALUES ($1, $2)
		ON CONFLICT (account, member_id) DO UPDATE SET heartbeat_at = now()`, b.acct, opts.RunID); err != nil {
		return fail(fmt.Errorf("join the rate budget: %w", translate(err)))
	}
	n, err := b.refresh(ctx)
	if err != nil {
		return fail(err)
	}
	if n > 1 {
		opts.Logger.Info("other processes of the same account are running: sharing the rate limit",
			zap.Int("processes", n), zap.Float64("share", 1/float64(n)))
		// Let the others see us and slow down before we send anything.
		t := time.NewTimer(budgetSettle)
		select {
		case <-ctx.Done():
			t.Stop()
			b.remove()
			return fail(ctx.Err())
		case <-t.C:
		}
		if _, err := b.refresh(ctx); err != nil {
			b.remove()
			return fail(err)
		}
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	go b.heartbeat(hctx)
	return b, nil
}

// refresh renews this member's heartbeat, counts the live members and applies the share.
func (b *Budget) refresh(ctx context.Context) (int, error) {
	n, err := b.count(ctx)
	if err != nil {
		return 0, err
	}
	b.apply(n)
	return n, nil
}

// count renews this member's heartbeat and counts the live members, itself included.
func (b *Budget) count(ctx context.Context) (int, error) {
	var n int
	err := b.conn.QueryRow(ctx, `WITH me AS (
			INSERT INTO rate_budget_members (account, member_id) VALUES ($1, $2)
			ON CONFLICT (account, member_id) DO UPDATE SET heartbeat_at = now()
			RETURNING member_id)
		SELECT 1 + count(*) FROM rate_budget_members
		WHERE account = $1 AND member_id <> $2 AND heartbeat_at > now() - $3::interval`,
		b.acct, b.opts.RunID, budgetExpiry.String()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("refresh the rate budget: %w", translate(err))
	}
	return n, nil
}

// apply sets the share for n live members.
func (b *Budget) apply(n int) {
	b.setShare(1 / float64(max(n, 1)))
}

func (b *Budget) setShare(share float64) {
	b.mu.Lock()
	changed := share != b.share
	b.share = share
	b.mu.Unlock()
	if changed && b.opts.OnShare != nil {
		b.opts.OnShare(share)
	}
}

// heartbeat refreshes the membership every second. When it cannot (the connection or the
// database is gone) it reconnects; if it stays unable for almost as long as the others take
// to count it gone, it pauses this process's requests (share 0), since the others are about to
// take its share. Back, it rejoins like a newcomer: it waits until the others have seen it.
func (b *Budget) heartbeat(ctx context.Context) {
	defer close(b.done)
	t := time.NewTicker(budgetHeartbeat)
	defer t.Stop()
	lastOK := time.Now()
	paused := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, budgetHeartbeat)
		n, err := b.count(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.opts.Logger.Warn("cannot refresh the shared rate budget; reconnecting", zap.Error(err))
			b.reconnect(ctx)
			if !paused && time.Since(lastOK) >= budgetExpiry-budgetHeartbeat {
				paused = true
				b.setShare(0)
				b.opts.Logger.Warn("lost the account's shared rate budget: requests are paused until it is back")
			}
			continue
		}
		lastOK = time.Now()
		if paused {
			if n > 1 {
				// The others may have counted us gone: let them see us again first.
				w := time.NewTimer(budgetSettle)
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case <-w.C:
				}
				if n, err = b.count(ctx); err != nil {
					continue
				}
			}
			paused = false
			b.opts.Logger.Info("rejoined the account's shared rate budget", zap.Int("processes", n))
		}
		b.apply(n)
	}
}

// reconnect replaces the budget's connection after a failure.
func (b *Budget) reconnect(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, budgetHeartbeat)
	defer cancel()
	conn, err := b.s.connect(cctx, "cbarchive-budget")
	if err != nil {
		return
	}
	// Only the heartbeat goroutine uses the connection while it runs.
	old := b.conn
	b.conn = conn
	_ = old.Close(context.Background())
}

// Share returns the fraction of the rate limit this process holds.
func (b *Budget) Share() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.share
}

// Leave removes this process from the budget; the others take its share within a second.
// lastSent is when this process sent its last request (zero if unknown): leaving waits until
// that request is more than a second old, so that the others' raised rate and this process's
// last requests never share a one-second window.
func (b *Budget) Leave(lastSent time.Time) {
	b.once.Do(func() {
		if wait := time.Until(lastSent.Add(time.Second + 100*time.Millisecond)); wait > 0 {
			time.Sleep(min(wait, 2*time.Second))
		}
		if b.cancel != nil {
			b.cancel()
			<-b.done
		}
		b.remove()
		_ = b.conn.Close(context.Background())
	})
}

func (b *Budget) remove() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = b.conn.Exec(ctx, `DELETE FROM rate_budget_members WHERE account = $1 AND member_id = $2`, b.acct, b.opts.RunID)
}
