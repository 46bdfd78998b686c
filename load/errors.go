package load

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

var (
	// ErrSchemaOutdated means the database lacks migrations this binary needs.
	ErrSchemaOutdated = errors.New("database schema is outdated: run `cbarchive migrate up`")
	// ErrSchemaNewer means the database has migrations this binary does not know: a newer
	// cbarchive migrated it. Upgrade this binary.
	ErrSchemaNewer = errors.New("database schema is newer than this cbarchive: upgrade cbarchive")
	// ErrRetryable marks a failure that a rerun is expected to fix (lost connection, deadlock,
	// serialization failure, lock timeout). Nothing of the failed window was committed.
	ErrRetryable = errors.New("transient database failure: nothing was committed, rerun to retry")
	// ErrLocked means another run holds the (domain, filter) lock; see LockedError.
	ErrLocked = errors.New("locked by another run")
	// ErrRunNotStarted is returned by FinishRun for a run StartRun never recorded.
	ErrRunNotStarted = errors.New("run was not started")
)

// translate turns a *pgconn.PgError (or a connection failure) into an error that says what to
// do, keeping the original reachable with errors.As. Other errors pass through.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if pgconn.SafeToRetry(err) || isConnError(err) {
			return fmt.Errorf("%w: %w", ErrRetryable, err)
		}
		return err
	}
	code := pgErr.Code
	switch {
	case code == "42P01" || code == "42703" || code == "42704" || code == "42883":
		// undefined table/column/object/function
		return fmt.Errorf("%w: %w", ErrSchemaOutdated, err)
	case code == "23514" && strings.Contains(pgErr.Message, "no partition"):
		return fmt.Errorf("a row's month has no partition of callback_records (was one dropped or detached?); rerun to let the loader create it: %w", err)
	case code == "22021" || code == "22P05":
		return fmt.Errorf("a row holds text PostgreSQL cannot store (NUL or invalid UTF-8): package transform must sanitize it; report this as a bug with the record: %w", err)
	case code == "22P02" || code == "22032":
		return fmt.Errorf("a JSON column holds invalid JSON: package transform must only fill it with valid JSON; report this as a bug: %w", err)
	case code == "40001" || code == "40P01" || code == "55P03":
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	case code == "57014":
		return fmt.Errorf("statement cancelled (statement_timeout or an operator): nothing of the window was committed: %w", err)
	case code == "57P01" || code == "57P02" || code == "57P03" || strings.HasPrefix(code, "08"):
		return fmt.Errorf("%w: database shut down or connection lost: %w", ErrRetryable, err)
	case code == "53100":
		return fmt.Errorf("database disk is full: free space or grow the volume, then rerun: %w", err)
	case strings.HasPrefix(code, "53"):
		return fmt.Errorf("database is out of resources (memory, connections): lower concurrency or raise limits, then rerun: %w", err)
	case code == "42501":
		return fmt.Errorf("database user lacks a privilege the archive needs (grant it on the cbarchive schema): %w", err)
	case code == "25P02":
		return fmt.Errorf("transaction already aborted by an earlier error: %w", err)
	}
	return err
}

func isConnError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err)
}
