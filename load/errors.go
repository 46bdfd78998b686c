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
	// ErrLockLost means a run's lease of a (domain, filter) expired or was taken over while it
	// ran: the window being committed was not, and the domain must stop.
	ErrLockLost = errors.New("lost the lock of the domain")
	// ErrNoPartition means a row's month has no partition of callback_records: a partition
	// the loader believed present was dropped or detached. Nothing was committed.
	ErrNoPartition = errors.New("no partition for the row")
	// ErrRunNotStarted is returned by FinishRun for a run StartRun never recorded.
	ErrRunNotStarted = errors.New("run was not started")
	// ErrConfig marks a database failure that no retry can fix: the role or its password is
	// refused, the database does not exist, or the role lacks a privilege. Fix DATABASE_URL or
	// the database's grants, then rerun. IsConfigError also covers ErrSchemaOutdated and
	// ErrSchemaNewer.
	ErrConfig = errors.New("database configuration error (a retry cannot fix it)")
)

// SQLSTATE codes the archive acts on (PostgreSQL, "Appendix A. PostgreSQL Error Codes").
const (
	SQLStateInvalidAuthorization      = "28000" // invalid_authorization_specification: unknown role, or pg_hba.conf refuses it
	SQLStateInvalidPassword           = "28P01" // invalid_password
	SQLStateInvalidCatalogName        = "3D000" // invalid_catalog_name: the database does not exist
	SQLStateInvalidSchemaName         = "3F000" // invalid_schema_name
	SQLStateInsufficientPrivilege     = "42501" // insufficient_privilege
	SQLStateUndefinedTable            = "42P01" // undefined_table
	SQLStateUndefinedColumn           = "42703" // undefined_column
	SQLStateUndefinedObject           = "42704" // undefined_object
	SQLStateUndefinedFunction         = "42883" // undefined_function
	SQLStateCheckViolation            = "23514" // check_violation (also: no partition for a row)
	SQLStateUniqueViolation           = "23505" // unique_violation
	SQLStateCharacterNotInRepertoire  = "22021" // character_not_in_repertoire
	SQLStateUntranslatableCharacter   = "22P05" // untranslatable_character
	SQLStateInvalidTextRepresentation = "22P02" // invalid_text_representation
	SQLStateInvalidJSONText           = "22032" // invalid_json_text
	SQLStateSerializationFailure      = "40001" // serialization_failure
	SQLStateDeadlockDetected          = "40P01" // deadlock_detected
	SQLStateLockNotAvailable          = "55P03" // lock_not_available
	SQLStateQueryCanceled             = "57014" // query_canceled
	SQLStateAdminShutdown             = "57P01" // admin_shutdown
	SQLStateCrashShutdown             = "57P02" // crash_shutdown
	SQLStateCannotConnectNow          = "57P03" // cannot_connect_now
	SQLStateDiskFull                  = "53100" // disk_full
	SQLStateInFailedTransaction       = "25P02" // in_failed_sql_transaction
)

// sqlStateMeanings are the readable names `status` shows first for a failure's SQLSTATE.
var sqlStateMeanings = map[string]string{
	SQLStateInvalidAuthorization:      "role refused",
	SQLStateInvalidPassword:           "password refused",
	SQLStateInvalidCatalogName:        "database does not exist",
	SQLStateInvalidSchemaName:         "schema does not exist",
	SQLStateInsufficientPrivilege:     "insufficient privilege",
	SQLStateUndefinedTable:            "schema not migrated (undefined table)",
	SQLStateUndefinedColumn:           "schema not migrated (undefined column)",
	SQLStateUndefinedObject:           "schema not migrated (undefined object)",
	SQLStateUndefinedFunction:         "schema not migrated (undefined function)",
	SQLStateCheckViolation:            "check violation",
	SQLStateCharacterNotInRepertoire:  "character not in repertoire",
	SQLStateUntranslatableCharacter:   "untranslatable character",
	SQLStateInvalidTextRepresentation: "invalid text representation",
	SQLStateInvalidJSONText:           "invalid JSON text",
	SQLStateSerializationFailure:      "serialization failure",
	SQLStateDeadlockDetected:          "deadlock detected",
	SQLStateLockNotAvailable:          "lock not available",
	SQLStateQueryCanceled:             "statement cancelled",
	SQLStateAdminShutdown:             "database shut down",
	SQLStateCrashShutdown:             "database crashed",
	SQLStateCannotConnectNow:          "database starting up",
	SQLStateDiskFull:                  "disk full",
	SQLStateInFailedTransaction:       "transaction aborted",
}

// SQLStateMeaning returns a short readable name of a SQLSTATE ("insufficient privilege" for
// 42501), or "SQLSTATE <code>" for a code the archive does not name.
func SQLStateMeaning(code string) string {
	if m, ok := sqlStateMeanings[code]; ok {
		return m
	}
	switch {
	case strings.HasPrefix(code, "08"):
		return "connection failure"
	case strings.HasPrefix(code, "53"):
		return "database out of resources"
	}
	return "SQLSTATE " + code
}

// IsConfigError reports whether err is a database failure that no retry can fix: ErrConfig
// (role, password, database, privileges) or a schema this binary cannot use.
func IsConfigError(err error) bool {
	return errors.Is(err, ErrConfig) || errors.Is(err, ErrSchemaOutdated) || errors.Is(err, ErrSchemaNewer)
}

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
	case code == SQLStateInvalidAuthorization || code == SQLStateInvalidPassword:
		return fmt.Errorf("%w: the database refused the role or its password: check the user and password in DATABASE_URL, or create the role: %w",
			ErrConfig, err)
	case code == SQLStateInvalidCatalogName:
		return fmt.Errorf("%w: the database named in DATABASE_URL does not exist: create it (CREATE DATABASE) or fix the URL, then run cbarchive migrate up: %w", ErrConfig, err)
	case code == SQLStateInsufficientPrivilege:
		schema := pgErr.SchemaName
		if schema == "" {
			schema = "public"
		}
		return fmt.Errorf("%w: the database user lacks a privilege the archive needs: run cbarchive migrate up as the owner of schema %s, or grant the user the archive's tables there (see docs/reference.md, \"Database rights\"): %w",
			ErrConfig, schema, err)
	case code == SQLStateInvalidSchemaName:
		return fmt.Errorf("%w: the schema in DATABASE_URL's search_path does not exist: create it or fix search_path: %w", ErrConfig, err)
	case code == SQLStateUndefinedTable || code == SQLStateUndefinedColumn || code == SQLStateUndefinedObject || code == SQLStateUndefinedFunction:
		return fmt.Errorf("%w: %w", ErrSchemaOutdated, err)
	case code == SQLStateCheckViolation && pgErr.ConstraintName == "":
		// A CHECK constraint's violation names the constraint; a row that no partition
		// accepts (PostgreSQL: "no partition of relation … found for row") names none.
		return fmt.Errorf("%w: a row's month has no partition of callback_records (was one dropped or detached?); rerun to let the loader create it: %w", ErrNoPartition, err)
	case code == SQLStateCharacterNotInRepertoire || code == SQLStateUntranslatableCharacter:
		return fmt.Errorf("a row holds text PostgreSQL cannot store (NUL or invalid UTF-8): package transform must sanitize it; report this as a bug with the record: %w", err)
	case code == SQLStateInvalidTextRepresentation || code == SQLStateInvalidJSONText:
		return fmt.Errorf("a JSON column holds invalid JSON: package transform must only fill it with valid JSON; report this as a bug: %w", err)
	case code == SQLStateSerializationFailure || code == SQLStateDeadlockDetected || code == SQLStateLockNotAvailable:
		return fmt.Errorf("%w: %w", ErrRetryable, err)
	case code == SQLStateQueryCanceled:
		return fmt.Errorf("statement cancelled (statement_timeout or an operator): nothing of the window was committed: %w", err)
	case code == SQLStateAdminShutdown || code == SQLStateCrashShutdown || code == SQLStateCannotConnectNow || strings.HasPrefix(code, "08"):
		return fmt.Errorf("%w: database shut down or connection lost: %w", ErrRetryable, err)
	case code == SQLStateDiskFull:
		return fmt.Errorf("database disk is full: free space or grow the volume, then rerun: %w", err)
	case strings.HasPrefix(code, "53"):
		return fmt.Errorf("database is out of resources (memory, connections): lower concurrency or raise limits, then rerun: %w", err)
	case code == SQLStateInFailedTransaction:
		return fmt.Errorf("transaction already aborted by an earlier error: %w", err)
	}
	return err
}

func isConnError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.Timeout(err)
}
