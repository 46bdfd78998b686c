package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// LockedError says that another run holds a (domain, filter) lock, and who it is.
type LockedError struct {
	Key CheckpointKey
	// Holder describes the holding session: its application_name (cbarchive sets it to the
	// host, process id and key), backend pid, client address and since when. Empty if the holder
	// went away while we looked.
	Holder string
}

func (e *LockedError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("%s is locked by another cbarchive run", e.Key)
	}
	return fmt.Sprintf("%s is locked by another cbarchive run (%s): wait for it to finish, or end that session if it is stuck", e.Key, e.Holder)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// lockPollInterval is how often Lock retries while it waits.
const lockPollInterval = 250 * time.Millisecond

// TryLock takes key's advisory lock without waiting. It is held on a dedicated connection (not
// one of the pool's) until unlock is called or the process dies. ok is false when another
// session holds it.
func (s *Store) TryLock(ctx context.Context, key CheckpointKey) (unlock func(), ok bool, err error) {
	conn, err := s.connect(ctx, lockAppName(key))
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", key, err)
	}
	ok, err = tryLock(ctx, conn, key)
	if err != nil || !ok {
		conn.Close(context.WithoutCancel(ctx))
		return nil, false, err
	}
	return unlocker(conn, key), true, nil
}

// Lock takes key's advisory lock, waiting up to timeout. When it cannot, the error is a
// *LockedError (errors.Is ErrLocked) naming the holder.
func (s *Store) Lock(ctx context.Context, key CheckpointKey, timeout time.Duration) (unlock func(), err error) {
	conn, err := s.connect(ctx, lockAppName(key))
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, err := tryLock(ctx, conn, key)
		if err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, err
		}
		if ok {
			return unlocker(conn, key), nil
		}
		if !time.Now().Before(deadline) {
			holder := lockHolder(ctx, conn, key)
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("waited %s: %w", timeout, &LockedError{Key: key, Holder: holder})
		}
		select {
		case <-ctx.Done():
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("lock %s: %w", key, ctx.Err())
		case <-time.After(min(lockPollInterval, time.Until(deadline))):
		}
	}
}

// LockHolder describes the session holding key's lock, or "" when nobody holds it.
func (s *Store) LockHolder(ctx context.Context, key CheckpointKey) (string, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("find holder of %s: %w", key, translate(err))
	}
	defer conn.Release()
	return lockHolder(ctx, conn.Conn(), key), nil
}

func lockKey(key CheckpointKey) int64 { return advisoryKey("checkpoint", key.Domain, key.FilterKey) }

func lockAppName(key CheckpointKey) string {
	host, _ := os.Hostname()
	// application_name is truncated by the server at 63 bytes; the host and pid come first.
	return fmt.Sprintf("cbarchive host=%s pid=%d lock %s/%s", host, os.Getpid(), key.Domain, key.FilterKey)
}

func tryLock(ctx context.Context, conn *pgx.Conn, key CheckpointKey) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(key)).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock %s: %w", key, translate(err))
	}
	return ok, nil
}

// lockHolder describes who holds key's lock, best effort.
func lockHolder(ctx context.Context, conn *pgx.Conn, key CheckpointKey) string {
	k := uint64(lockKey(key))
	var desc string
	err := conn.QueryRow(ctx, `
		SELECT format('application_name %L, backend pid %s, client %s, since %s',
			a.application_name, a.pid, coalesce(host(a.client_addr), 'local'),
			to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1
		LIMIT 1`, int64(k>>32), int64(k&0xffffffff)).Scan(&desc)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "holder unknown: " + err.Error()
	}
	return desc
}

// unlocker releases the lock and closes its connection; calling it more than once is safe.
func unlocker(conn *pgx.Conn, key CheckpointKey) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			// Closing the session releases the lock even if the unlock statement fails.
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockKey(key))
			_ = conn.Close(ctx)
		})
	}
}
