package analytics

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/migrations"
)

// asReader runs sql as cbarchive_reader in a transaction that is rolled back.
func asReader(ctx context.Context, s seeded, sql string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE cbarchive_reader`); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, sql)
	return err
}

func isPermissionDenied(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "42501"
}

// cbarchive_reader reads the archive, the views and the run history, and nothing else; it
// writes nothing.
func TestReaderRoleReadsOnly(t *testing.T) {
	t.Parallel()
	s := newSeeded(t)
	ctx := context.Background()
	for _, rel := range []string{"callback_records", "callback_failures", "push_sessions", "callback_hourly",
		"sync_runs", "sync_gaps", "sync_checkpoints", "callback_rejects", "analytics_refresh_state"} {
		if err := asReader(ctx, s, `SELECT * FROM `+rel+` LIMIT 1`); err != nil {
			t.Errorf("reader cannot select from %s: %v", rel, err)
		}
	}
	// A partition created after the grant is read through the parent.
	if _, err := s.pool.Exec(ctx, `CREATE TABLE callback_store_y2025m08 PARTITION OF callback_store
		FOR VALUES FROM ('2025-08-01 00:00Z') TO ('2025-09-01 00:00Z')`); err != nil {
		t.Fatal(err)
	}
	if err := asReader(ctx, s, `SELECT count(*) FROM callback_records WHERE callback_time >= '2025-08-01 00:00Z'`); err != nil {
		t.Errorf("reader cannot read a new partition through the parent: %v", err)
	}
	for _, stmt := range []string{
		`INSERT INTO callback_records (domain, status) SELECT domain, status FROM callback_records LIMIT 1`,
		`UPDATE callback_records SET status = 'x'`,
		`DELETE FROM callback_records`,
		`INSERT INTO sync_checkpoints (domain, first_start, watermark) VALUES ('x', now(), now())`,
		`UPDATE sync_checkpoints SET watermark = now()`,
		`DELETE FROM sync_runs`,
		`DELETE FROM callback_hourly`,
		`SELECT * FROM rate_budget_members`,
		`SELECT * FROM goose_db_version`,
		`SELECT * FROM callback_store_y2025m06 LIMIT 1`,
		`SELECT * FROM callback_store LIMIT 1`,
		`SELECT cbarchive_refresh_analytics()`,
		`CREATE TABLE reader_scratch (x int)`,
	} {
		if err := asReader(ctx, s, stmt); !isPermissionDenied(err) {
			t.Errorf("reader ran %q: err = %v, want permission denied", stmt, err)
		}
	}
}

// The role is cluster-wide: migrating many databases at once works, and migrating one down
// keeps the role (and its grants) for the others.
func TestReaderRoleMigrationDownKeepsOtherDatabases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := pgtest.NewMigrated(t), pgtest.NewMigrated(t)
	db, err := sql.Open("pgx", a)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := migrations.NewProvider(db, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 20); err != nil {
		t.Fatalf("down to 20: %v", err)
	}
	conn, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE cbarchive_reader; SELECT count(*) FROM callback_failures`); err != nil {
		t.Errorf("after database A migrated down, B's reader: %v", err)
	}
	_ = tx.Rollback(ctx)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}

// The incremental refresh recomputes the hours of the runs since the last refresh, and gives
// what a rebuild gives.
func TestRefreshAnalyticsIncremental(t *testing.T) {
	t.Parallel()
	s := newSeeded(t)
	ctx := context.Background()
	hour := time.Date(2025, 6, 12, 5, 0, 0, 0, time.UTC)
	var before int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(total), 0) FROM callback_hourly
		WHERE domain = 'push.alpha.example' AND hour = $1`, hour).Scan(&before); err != nil {
		t.Fatal(err)
	}
	// A sync run archives 3 failed callbacks in that hour.
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO callback_store (domain, app, stream, event_type, callback_time, method, address, status,
			request_body, response_header, response_body, error_code, error_message, identity_hash, ordinal, flags, rules_version)
		SELECT 'push.alpha.example', 'live', 'cam-9', 'snapshot_event', $1::timestamptz + i * interval '1 minute', 'post',
			'https://hooks.push.alpha.example/live/snapshot', 'fail', '{}', '', '', 'x', 'y',
			i, 0, 16, 1
		FROM generate_series(1, 3) i`, hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO sync_runs (run_id, command, domain, finished_at, outcome,
		window_start, window_end, records_new) VALUES ('late', 'sync', 'push.alpha.example', now(), 'ok', $1, $2, 3)`,
		hour.Add(time.Minute), hour.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var written int64
	if err := s.pool.QueryRow(ctx, `SELECT cbarchive_refresh_analytics()`).Scan(&written); err != nil {
		t.Fatal(err)
	}
	var after int64
	if err := s.pool.QueryRow(ctx, `SELECT sum(total) FROM callback_hourly
		WHERE domain = 'push.alpha.example' AND hour = $1`, hour).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before+3 || written == 0 {
		t.Errorf("after the run: total %d (was %d, want +3), %d rollup rows written", after, before, written)
	}
	// Runs finished well before the last refresh are not redone (those within a minute of it
	// are, in case their commit raced with it).
	if _, err := s.pool.Exec(ctx, `UPDATE sync_runs SET finished_at = now() - interval '1 hour' WHERE run_id = 'late'`); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(ctx, `SELECT cbarchive_refresh_analytics()`).Scan(&written); err != nil {
		t.Fatal(err)
	}
	if written != 0 {
		t.Errorf("a refresh with no new runs wrote %d rows", written)
	}
	// The incremental result equals a rebuild.
	var diff int64
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		`CREATE TEMP TABLE inc AS SELECT * FROM callback_hourly`,
		`SELECT cbarchive_refresh_analytics(rebuild => true)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM ((SELECT * FROM inc EXCEPT ALL SELECT * FROM callback_hourly)
		UNION ALL (SELECT * FROM callback_hourly EXCEPT ALL SELECT * FROM inc)) d`).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("incremental rollup differs from a rebuild in %d rows", diff)
	}
}
