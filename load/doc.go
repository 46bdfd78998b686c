// Package load writes what the pipeline archives into PostgreSQL: a window's rows, its rejects
// and its checkpoint in one transaction, plus the bookkeeping around runs (sync_runs), lost
// ranges (sync_gaps), per-(domain, filter) leases (sync_leases, see Lease), the account's shared
// rate budget and schema migrations.
//
// A window is staged with COPY into a per-connection TEMP table and merged with one set-based
// INSERT … SELECT … ON CONFLICT statement. Rows equal to what is archived are dropped before the
// insert, so a re-read writes nothing (no new tuple versions, no WAL): the archive's promises 2, 3,
// 4 and 7 in docs/reference.md are kept here.
//
// What this package must not do: call the API, normalize records (that is package transform),
// log on its own (it returns errors that say what to do and the caller logs them; only the rate
// budget's background heartbeat, which has no caller to return to, logs through the Logger
// given in BudgetOpts), read configuration from the
// environment, or relax durability (synchronous_commit, fsync) behind the caller's back. Errors
// never contain the password of the database URL.
package load
