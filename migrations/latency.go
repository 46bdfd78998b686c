package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cbarchive/cbarchive/transform"
)

// Migration 00053 stores latency_ms in callback_store again (the view of migration 00052
// computed it with numeric arithmetic on every row it read, which made the analysts' latency
// queries slower than the table before migration 00050). The loader writes it as
// transform.Normalize derives it (one rule, the same as before migration 00050).
//
// Up, outside a transaction: the nullable column is added (metadata only), with a check that
// every row with a response_time has it (NOT VALID: new and updated rows are checked at once,
// so a writer that leaves it out fails instead of archiving rows without it); the rows already
// archived are filled in batches of blocks that each commit, partition by partition, with
// progress in the migration's output (a killed run keeps what committed, and the next run
// continues with the rows still NULL); then the check is validated and callback_records selects
// the column. Until then the view computes it as before, so analysts see the same values
// throughout. Down, in one transaction: the view of migration 00052 again, the column dropped.
const LatencyVersion = 53

// latencyCheck is the constraint that every row with a response time has its latency.
const latencyCheck = "callback_store_latency_ms_written"

// latencyComputed is how migration 00052's view computes latency_ms.
const latencyComputed = "trunc((extract(epoch FROM response_time) - extract(epoch FROM callback_time)) * 1000)::bigint AS latency_ms"

// viewOf00052 returns the CREATE OR REPLACE VIEW statement of callback_records as migration
// 00052 creates it, with its latency_ms expression replaced by latency (itself when latency is
// latencyComputed). The statement is read from the migration's file, so it is written once.
func viewOf00052(latency string) (string, error) {
	b, err := fs.ReadFile(FS, "00052_callback_records_view.sql")
	if err != nil {
		return "", err
	}
	text := string(b)
	const head = "CREATE VIEW callback_records AS"
	i := strings.Index(text, head)
	if i < 0 {
		return "", fmt.Errorf("migration 00052 has no %q: migration %05d cannot restore its view", head, LatencyVersion)
	}
	n := strings.Index(text[i:], ";\n")
	if n < 0 {
		return "", fmt.Errorf("migration 00052's view has no end: migration %05d cannot restore it", LatencyVersion)
	}
	view := text[i : i+n]
	if strings.Count(view, latencyComputed) != 1 {
		return "", fmt.Errorf("migration 00052's view does not compute latency_ms as %q: migration %05d cannot replace it", latencyComputed, LatencyVersion)
	}
	view = strings.Replace(view, latencyComputed, latency, 1)
	return "CREATE OR REPLACE VIEW" + strings.TrimPrefix(view, "CREATE VIEW"), nil
}

// latencyMigration is migration 00053, writing its progress to w.
func latencyMigration(w io.Writer) *goose.Migration {
	run := func(f func(ctx context.Context, conn *pgx.Conn, w io.Writer) error) func(ctx context.Context, db *sql.DB) error {
		return func(ctx context.Context, db *sql.DB) error {
			c, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Raw(func(dc any) error { return f(ctx, dc.(*stdlib.Conn).Conn(), w) })
		}
	}
	return goose.NewGoMigration(LatencyVersion, &goose.GoFunc{RunDB: run(latencyUp)}, &goose.GoFunc{RunDB: run(latencyDown)})
}

func latencyUp(ctx context.Context, conn *pgx.Conn, w io.Writer) error {
	view, err := viewOf00052("latency_ms")
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+storeTable+` ADD COLUMN IF NOT EXISTS latency_ms bigint`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `COMMENT ON COLUMN `+storeTable+`.latency_ms IS 'response_time - callback_time in whole milliseconds, rounded toward zero, as transform.Normalize derives it from the times as received; NULL when there is no response time'`); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_constraint WHERE conrelid = $1::regclass AND conname = $2)`,
			storeTable, latencyCheck).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		_, err := tx.Exec(ctx, `ALTER TABLE `+storeTable+` ADD CONSTRAINT `+latencyCheck+
			` CHECK (latency_ms IS NOT NULL OR response_time IS NULL) NOT VALID`)
		return err
	})
	if err != nil {
		return fmt.Errorf("add %s.latency_ms: %w", storeTable, err)
	}
	parts, err := partitionsOf(ctx, conn, storeTable, LatencyVersion)
	if err != nil {
		return fmt.Errorf("fill latency_ms: %w", err)
	}
	var filled int64
	for _, p := range parts {
		if err := fillLatency(ctx, conn, w, p.name, &filled); err != nil {
			return fmt.Errorf("fill %s.latency_ms: %w", storeTable, err)
		}
	}
	fmt.Fprintf(w, "migration %05d: latency_ms filled in %d rows of %s\n", LatencyVersion, filled, storeTable)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+storeTable+` VALIDATE CONSTRAINT `+latencyCheck); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, view)
		return err
	})
	if err != nil {
		return fmt.Errorf("validate %s and make callback_records select the stored latency_ms: %w", latencyCheck, err)
	}
	return nil
}

func latencyDown(ctx context.Context, conn *pgx.Conn, _ io.Writer) error {
	view, err := viewOf00052(latencyComputed)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, view); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `ALTER TABLE `+storeTable+` DROP CONSTRAINT IF EXISTS `+latencyCheck+`, DROP COLUMN IF EXISTS latency_ms`)
		return err
	})
	if err != nil {
		return fmt.Errorf("restore the view of migration 00052 and drop %s.latency_ms: %w", storeTable, err)
	}
	return nil
}

// fillLatency fills latency_ms in the rows of partition part that have a response_time and no
// latency_ms, in batches of blocks (about convertBatch rows each) that each commit. A filled
// row's new version has latency_ms, wherever it lands, so the walk over the blocks the partition
// had at the start meets every row that needs it exactly once.
func fillLatency(ctx context.Context, conn *pgx.Conn, w io.Writer, part string, filled *int64) error {
	var blocks, perBlock int64
	var estimate float64
	if err := conn.QueryRow(ctx, `SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint,
			greatest(c.reltuples, 0), CASE WHEN c.relpages > 0 AND c.reltuples > 0 THEN ceil(c.reltuples / c.relpages)::bigint ELSE 0 END
		FROM pg_class c WHERE c.oid = $1::regclass`, part).Scan(&blocks, &estimate, &perBlock); err != nil {
		return fmt.Errorf("size of %s: %w", part, err)
	}
	if perBlock <= 0 {
		perBlock = 10 // never analyzed: about 700-byte rows, 8 KB blocks
	}
	step := max(1, int64(convertBatch)/perBlock)
	fmt.Fprintf(w, "migration %05d: filling latency_ms in %s (about %.0f rows, %d blocks)\n", LatencyVersion, part, estimate, blocks)
	ident := pgx.Identifier{part}.Sanitize()
	selectRows := `SELECT ctid, callback_time, response_time, flags, originals::text FROM ` + ident + `
		WHERE ctid >= ('(' || $1::bigint || ',0)')::tid AND ctid < ('(' || $2::bigint || ',0)')::tid
		  AND latency_ms IS NULL AND response_time IS NOT NULL
		FOR UPDATE`
	update := `UPDATE ` + ident + ` AS t SET latency_ms = f.ms
		FROM unnest($1::tid[], $2::bigint[]) AS f(at, ms) WHERE t.ctid = f.at`
	next := int64(0)
	return inBatches(ctx, conn, w, LatencyVersion, part, "filled", filled, func(tx pgx.Tx) (int64, bool, error) {
		from, to := next, next+step
		rows, err := tx.Query(ctx, selectRows, from, to)
		if err != nil {
			return 0, false, err
		}
		type fill struct {
			at  pgtype.TID
			row transform.Row
		}
		var fills []fill
		for rows.Next() {
			var f fill
			if err := rows.Scan(&f.at, &f.row.CallbackTime, &f.row.ResponseTime, &f.row.Flags, &f.row.Originals); err != nil {
				rows.Close()
				return 0, false, err
			}
			fills = append(fills, f)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, false, err
		}
		ats := make([]pgtype.TID, 0, len(fills))
		mss := make([]int64, 0, len(fills))
		for i := range fills {
			f := &fills[i]
			ms, err := transform.StoredLatencyMS(&f.row)
			if err != nil {
				return 0, false, fmt.Errorf("row at %v (callback_time %s): %w", f.at, f.row.CallbackTime.Format(time.RFC3339Nano), err)
			}
			if ms == nil {
				return 0, false, fmt.Errorf("row at %v (callback_time %s): response_time %s is set but the record's CallbackResponseTime gives no latency: the row was changed by hand; set its response_time to NULL or its latency_ms by hand, then run the migration again",
					f.at, f.row.CallbackTime.Format(time.RFC3339Nano), f.row.ResponseTime.Format(time.RFC3339Nano))
			}
			ats = append(ats, f.at)
			mss = append(mss, *ms)
		}
		if len(fills) > 0 {
			tag, err := tx.Exec(ctx, update, ats, mss)
			if err != nil {
				return 0, false, err
			}
			if tag.RowsAffected() != int64(len(fills)) {
				return 0, false, fmt.Errorf("%d rows filled of the %d locked: the partition changed under the migration", tag.RowsAffected(), len(fills))
			}
		}
		next = to
		return int64(len(fills)), next < blocks, nil
	})
}
