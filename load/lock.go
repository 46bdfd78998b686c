package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockedError says that another run holds a (domain, filter) lease, and who it is.
type LockedError struct {
	Key CheckpointKey
	// Holder describes the holding run: host, process id and run id, since when it holds the
	// lease and when it last renewed it. Empty if the holder went away while we looked.
	Holder string
}

func (e *LockedError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("%s is locked by another cbarchive run", e.Key)
	}
	return fmt.Sprintf("%s is locked by another cbarchive run (%s): wait for it to finish; a run that died lets go when its lease expires", e.Key, e.Holder)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lease timing: a lease lasts leaseTTL from its last renewal and is renewed every
// leaseRenewal. A run that dies without releasing blocks its domain for at most leaseTTL.
const (
	leaseTTL     = 30 * time.Second
	leaseRenewal = 5 * time.Second
)

// lockPollInterval is how often Lock retries while it waits.
const lockPollInterval = 250 * time.Millisecond

// Lease is a run's exclusive right to commit windows of one (domain, filter) checkpoint: a row
// of sync_leases, renewed in the background, checked by every window's commit (see
// WindowOpts.Lease) in the commit's own transaction. It holds no connection between renewals.
type Lease struct {
	s      *Store
	key    CheckpointKey
	token  string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu   sync.Mutex
	lost error // set when a renewal found the lease gone
}

// TryLock takes key's lease without waiting. ok is false when another run holds it.
func (s *Store) TryLock(ctx context.Context, key CheckpointKey, holder string) (l *Lease, ok bool, err error) {
	token := newToken()
	ok, err = s.acquire(ctx, key, token, holder)
	if err != nil || !ok {
		return nil, false, err
	}
	return s.startLease(key, token), true, nil
}

// Lock takes key's lease, waiting up to timeout. When it cannot, the error is a *LockedError
// (errors.Is ErrLocked) naming the holder.
func (s *Store) Lock(ctx context.Context, key CheckpointKey, holder string, timeout time.Duration) (*Lease, error) {
	token := newToken()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := s.acquire(ctx, key, token, holder)
		if err != nil {
			return nil, err
		}
		if ok {
			return s.startLease(key, token), nil
		}
		if !time.Now().Before(deadline) {
			h, _ := s.LockHolder(ctx, key)
			return nil, fmt.Errorf("waited %s: %w", timeout, &LockedError{Key: key, Holder: h})
		}
		t := time.NewTimer(min(lockPollInterval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock %s: %w", key, ctx.Err())
		case <-t.C:
		}
	}
}

// acquire inserts the lease, or takes over an expired one.
func (s *Store) acquire(ctx context.Context, key CheckpointKey, token, holder string) (bool, error) {
	if holder == "" {
		holder = "unnamed run"
	}
	host, _ := os.Hostname()
	holder = fmt.Sprintf("host=%s pid=%d %s", host, os.Getpid(), holder)
	tag, err := s.pool.Exec(ctx, `INSERT INTO sync_leases (domain, filter_key, token, holder, expires_at)
		VALUES ($1, $2, $3, $4, now() + $5::interval)
		ON CONFLICT (domain, filter_key) DO UPDATE
		SET token = excluded.token, holder = excluded.holder, acquired_at = now(), heartbeat_at = now(),
		    expires_at = excluded.expires_at
		WHERE sync_leases.expires_at <= now()`,
		key.Domain, key.FilterKey, token, holder, leaseTTL.String())
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", key, translate(err))
	}
	return tag.RowsAffected() == 1, nil
}

func (s *Store) startLease(key CheckpointKey, token string) *Lease {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lease{s: s, key: key, token: token, cancel: cancel, done: make(chan struct{})}
	go l.renew(ctx)
	return l
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// renew extends the lease every leaseRenewal until Release. A renewal that finds the lease
// gone (expired and taken, or deleted) marks it lost for good; one that fails (the database is
// unreachable) is retried at the next tick, and the commit's own check decides meanwhile.
func (l *Lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(leaseRenewal)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, leaseRenewal)
		tag, err := l.s.pool.Exec(rctx, `UPDATE sync_leases SET heartbeat_at = now(), expires_at = now() + $4::interval
			WHERE domain = $1 AND filter_key = $2 AND token = $3 AND expires_at > now()`,
			l.key.Domain, l.key.FilterKey, l.token, leaseTTL.String())
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			continue
		}
		if tag.RowsAffected() == 0 {
			l.mu.Lock()
			l.lost = fmt.Errorf("%w: %s", ErrLockLost, l.key)
			l.mu.Unlock()
			return
		}
	}
}

// Err returns nil while the lease is believed held, and an error wrapping ErrLockLost once a
// renewal found it gone. A nil Err does not prove the lease is held: the commit checks that.
func (l *Lease) Err() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// check verifies, inside the commit's transaction, that the lease is still this run's and
// unexpired, and keeps it so until the transaction ends (FOR SHARE blocks a takeover).
func (l *Lease) check(ctx context.Context, tx pgx.Tx) error {
	var held bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM sync_leases
		WHERE domain = $1 AND filter_key = $2 AND token = $3 AND expires_at > now() FOR SHARE)`,
		l.key.Domain, l.key.FilterKey, l.token).Scan(&held)
	if err != nil {
		return fmt.Errorf("check the lease of %s: %w", l.key, translate(err))
	}
	if !held {
		return fmt.Errorf("%w: %s: it expired or another run took it over; nothing of this window was committed", ErrLockLost, l.key)
	}
	return nil
}

// Release gives the lease up; calling it more than once is safe.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		l.cancel()
		<-l.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = l.s.pool.Exec(ctx, `DELETE FROM sync_leases WHERE domain = $1 AND filter_key = $2 AND token = $3`,
			l.key.Domain, l.key.FilterKey, l.token)
	})
}

// LockHolder describes the run holding key's lease, or "" when nobody holds it.
func (s *Store) LockHolder(ctx context.Context, key CheckpointKey) (string, error) {
	var desc string
	err := s.pool.QueryRow(ctx, `SELECT format('%s, since %s, renewed %s',
			holder, to_char(acquired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			to_char(heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
		FROM sync_leases WHERE domain = $1 AND filter_key = $2 AND expires_at > now()`,
		key.Domain, key.FilterKey).Scan(&desc)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find holder of %s: %w", key, translate(err))
	}
	return desc, nil
}
