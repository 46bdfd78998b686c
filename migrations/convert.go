package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/cbarchive/cbarchive/transform"
)

// Migration 00051 moves the archive's rows between the layout of migration 00001 (the table
// callback_records, with raw, raw_original and two sha256 hashes per row) and callback_store
// (migration 00050), in place and without the API: every row is rebuilt from what is stored.
// It runs outside a transaction, in batches that each commit: a batch deletes rows from one
// partition of the source and inserts them, converted, into the destination, so a killed run
// loses nothing and the next run continues with what is left. A source partition is dropped
// once empty. Progress goes to the migration's output. Columns that later migrations add to
// callback_store (addedLater: latency_ms, migration 00053) are not there yet when it runs: the
// later migration fills them for the rows moved here.
const ConvertVersion = 51

// storeTable is the table of migration 00050.
const storeTable = "callback_store"

// convertBatch is the number of rows a batch moves (a variable for the tests).
var convertBatch = 5000

// legacyTable and legacyColumns are the previous layout (migrations 00001 and 00052's down).
const legacyTable = "callback_records"

var legacyColumns = []string{
	"domain", "app", "stream", "event_type", "callback_time", "method", "address", "status",
	"request_body", "request_body_json", "response_code", "response_status_line",
	"response_headers", "response_body", "response_body_json", "response_time", "latency_ms",
	"error_code", "error_message", "raw", "raw_original", "sanitized", "identity_hash",
	"content_hash", "rules_version", "ordinal", "first_seen_at", "updated_at",
}

// convertMigration is migration 00051, writing its progress to w.
func convertMigration(w io.Writer) *goose.Migration {
	run := func(toStore bool) func(ctx context.Context, db *sql.DB) error {
		return func(ctx context.Context, db *sql.DB) error {
			c, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.Raw(func(dc any) error {
				conn := dc.(*stdlib.Conn).Conn()
				if toStore {
					return moveRows(ctx, conn, w, legacyTable, storeTable, legacyToStore)
				}
				return moveRows(ctx, conn, w, storeTable, legacyTable, storeToLegacy)
			})
		}
	}
	return goose.NewGoMigration(ConvertVersion,
		&goose.GoFunc{RunDB: run(true)}, &goose.GoFunc{RunDB: run(false)})
}

// converter reads a batch deleted from the source (the columns it names) and returns the
// destination's column names and rows.
type converter struct {
	source string // the RETURNING list
	dest   []string
	row    func(values []any) ([]any, error)
}

var legacyToStore = converter{
	source: "raw::text, raw_original, identity_hash, ordinal, first_seen_at, updated_at",
	dest:   append(transform.ColumnNames(transform.StoreColumns), "ordinal", "first_seen_at", "updated_at"),
	row: func(v []any) ([]any, error) {
		var raw string
		var rawOriginal, identity []byte
		if err := scanAll(v, &raw, &rawOriginal, &identity); err != nil {
			return nil, err
		}
		rec, err := transform.RecordFromRaw([]byte(raw), rawOriginal)
		if err != nil {
			return nil, err
		}
		row, err := transform.Normalize(rec)
		if err != nil {
			return nil, fmt.Errorf("normalize %.200s: %w", raw, err)
		}
		// The key stays what it was: the ordinals were numbered under it.
		row.IdentityHash = identity
		out := transform.StoreValues(make([]any, 0, len(transform.StoreColumns)+3), &row)
		return append(out, v[3], v[4], v[5]), nil
	},
}

var storeToLegacy = converter{
	source: transform.StoredColumns() + ", identity_hash, ordinal, first_seen_at, updated_at",
	dest:   legacyColumns,
	row: func(v []any) ([]any, error) {
		var stored transform.Row
		dest := transform.StoredTargets(&stored)
		n := len(dest)
		if err := scanAll(v[:n], dest...); err != nil {
			return nil, err
		}
		rec, err := transform.RecordFromRow(&stored)
		if err != nil {
			return nil, err
		}
		r, err := transform.Normalize(rec)
		if err != nil {
			return nil, fmt.Errorf("normalize the record of %s %s: %w", stored.Domain, stored.CallbackTime.Format(time.RFC3339Nano), err)
		}
		// The key stays what it was (its first 8 bytes are the stored identity_hash).
		if id, ok := v[n].(int64); !ok || id != r.IdentityKey() {
			return nil, fmt.Errorf("row %s %s: identity_hash %v is not the record's (%d): the row was changed by hand",
				stored.Domain, stored.CallbackTime.Format(time.RFC3339Nano), v[n], r.IdentityKey())
		}
		return []any{r.Domain, r.App, r.Stream, r.EventType, r.CallbackTime, r.Method, r.Address, r.Status,
			r.RequestBody, nilIfEmpty(r.RequestBodyJSON), r.ResponseCode, r.ResponseStatusLine,
			string(r.ResponseHeaders), r.ResponseBody, nilIfEmpty(r.ResponseBodyJSON), r.ResponseTime, r.LatencyMS,
			r.ErrorCode, r.ErrorMessage, string(r.Raw), r.RawOriginal, r.Sanitized, r.IdentityHash,
			r.ContentHash, r.RulesVersion, v[n+1], v[n+2], v[n+3]}, nil
	},
}

// scanAll assigns values read as pgx's default Go types to the destinations by re-encoding
// nothing: each destination takes the value as it is (types must match).
func scanAll(values []any, dest ...any) error {
	for i, d := range dest {
		v := values[i]
		switch p := d.(type) {
		case *string:
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("column %d: %T, want text", i, v)
			}
			*p = s
		case *[]byte:
			if v == nil {
				*p = nil
				continue
			}
			switch b := v.(type) {
			case []byte:
				*p = b
			case string:
				*p = []byte(b)
			default:
				return fmt.Errorf("column %d: %T, want bytes", i, v)
			}
		case *time.Time:
			t, ok := v.(time.Time)
			if !ok {
				return fmt.Errorf("column %d: %T, want a time", i, v)
			}
			*p = t
		case **time.Time:
			if v == nil {
				*p = nil
				continue
			}
			t, ok := v.(time.Time)
			if !ok {
				return fmt.Errorf("column %d: %T, want a time", i, v)
			}
			*p = &t
		case **int32:
			if v == nil {
				*p = nil
				continue
			}
			n, ok := v.(int32)
			if !ok {
				return fmt.Errorf("column %d: %T, want an integer", i, v)
			}
			*p = &n
		case *int16:
			n, ok := v.(int16)
			if !ok {
				return fmt.Errorf("column %d: %T, want a smallint", i, v)
			}
			*p = n
		default:
			return fmt.Errorf("column %d: cannot read into %T", i, d)
		}
	}
	return nil
}

// partition is one partition of a partitioned table: its name and its bound.
type partition struct{ name, bound string }

// partitionsOf lists the partitions of table, which must be a partitioned table (else the schema
// is not what migration version expects).
func partitionsOf(ctx context.Context, conn *pgx.Conn, table string, version int64) ([]partition, error) {
	var kind string
	if err := conn.QueryRow(ctx, `SELECT coalesce((SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)), '')`, table).Scan(&kind); err != nil {
		return nil, fmt.Errorf("find %s: %w", table, err)
	}
	if kind != "p" {
		return nil, fmt.Errorf("%s is not a partitioned table (relkind %q): the schema is not what migration %05d expects", table, kind, version)
	}
	rows, err := conn.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass ORDER BY c.relname`, table)
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (partition, error) {
		var p partition
		err := r.Scan(&p.name, &p.bound)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list partitions of %s: %w", table, err)
	}
	return parts, nil
}

// inBatches runs batch, each call in a transaction of its own that commits, until it reports no
// more work, and prints the progress of partition part after each batch ("migration NNNNN:
// part: N rows <done> in all", *total counting every partition's rows). A killed run loses
// nothing: what committed stays, and batch must find the rest again on the next run.
func inBatches(ctx context.Context, conn *pgx.Conn, w io.Writer, version int64, part, done string, total *int64,
	batch func(tx pgx.Tx) (n int64, more bool, err error)) error {
	for {
		var n int64
		var more bool
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			n, more, err = batch(tx)
			return err
		})
		if err != nil {
			return fmt.Errorf("partition %s, %d rows %s so far (run the migration again to continue): %w", part, *total, done, err)
		}
		if n > 0 {
			*total += n
			fmt.Fprintf(w, "migration %05d: %s: %d rows %s in all\n", version, part, *total, done)
		}
		if !more {
			return nil
		}
	}
}

// moveRows moves every row of from's partitions into to, converted, partition by partition.
func moveRows(ctx context.Context, conn *pgx.Conn, w io.Writer, from, to string, cv converter) error {
	parts, err := partitionsOf(ctx, conn, from, ConvertVersion)
	if err != nil {
		return fmt.Errorf("move rows from %s: %w", from, err)
	}
	keep, err := presentColumns(ctx, conn, to, cv.dest)
	if err != nil {
		return err
	}
	var moved int64
	for _, p := range parts {
		suffix := strings.TrimPrefix(p.name, from)
		dest := to + suffix
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s %s`,
			pgx.Identifier{dest}.Sanitize(), pgx.Identifier{to}.Sanitize(), p.bound)); err != nil {
			return fmt.Errorf("create partition %s: %w", dest, err)
		}
		var estimate float64
		_ = conn.QueryRow(ctx, `SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = $1::regclass`, p.name).Scan(&estimate)
		fmt.Fprintf(w, "migration %05d: moving %s into %s (about %.0f rows)\n", ConvertVersion, p.name, dest, estimate)
		err := inBatches(ctx, conn, w, ConvertVersion, p.name, "moved", &moved, func(tx pgx.Tx) (int64, bool, error) {
			n, err := moveBatch(ctx, tx, p.name, to, cv, keep)
			return n, n > 0, err
		})
		if err != nil {
			return fmt.Errorf("move rows into %s: %w", to, err)
		}
		if _, err := conn.Exec(ctx, `DROP TABLE `+pgx.Identifier{p.name}.Sanitize()); err != nil {
			return fmt.Errorf("drop the emptied partition %s: %w", p.name, err)
		}
	}
	fmt.Fprintf(w, "migration %05d: %d rows moved from %s into %s\n", ConvertVersion, moved, from, to)
	return nil
}

// addedLater are the columns of callback_store that migrations after 00051 add (and fill for
// the rows already there): migration 00051 runs before them, so it writes such a column only
// when the table has it.
var addedLater = map[string]int64{"latency_ms": LatencyVersion}

// presentColumns says which of the destination's columns cols table has: all of them, except
// columns of addedLater that a later migration has not added yet (any other missing column is
// an error).
func presentColumns(ctx context.Context, conn *pgx.Conn, table string, cols []string) ([]bool, error) {
	rows, err := conn.Query(ctx, `SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`, table)
	if err != nil {
		return nil, fmt.Errorf("list the columns of %s: %w", table, err)
	}
	has, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list the columns of %s: %w", table, err)
	}
	keep := make([]bool, len(cols))
	for i, c := range cols {
		keep[i] = slices.Contains(has, c)
		if _, later := addedLater[c]; !keep[i] && !later {
			return nil, fmt.Errorf("%s has no column %s: the schema is not what migration %05d expects", table, c, ConvertVersion)
		}
	}
	return keep, nil
}

// kept returns the values of v whose keep is true.
func kept[T any](v []T, keep []bool) []T {
	out := make([]T, 0, len(v))
	for i, x := range v {
		if keep[i] {
			out = append(out, x)
		}
	}
	return out
}

// moveBatch moves up to convertBatch rows of partition part into table to, in transaction tx,
// writing the destination's columns that keep marks.
func moveBatch(ctx context.Context, tx pgx.Tx, part, to string, cv converter, keep []bool) (int64, error) {
	rows, err := tx.Query(ctx, fmt.Sprintf(`DELETE FROM %[1]s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %[1]s LIMIT %[2]d)) RETURNING %[3]s`,
		pgx.Identifier{part}.Sanitize(), convertBatch, cv.source))
	if err != nil {
		return 0, err
	}
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			rows.Close()
			return 0, err
		}
		r, err := cv.row(v)
		if err != nil {
			rows.Close()
			return 0, err
		}
		out = append(out, kept(r, keep))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(out) == 0 {
		return 0, nil
	}
	return tx.CopyFrom(ctx, pgx.Identifier{to}, kept(cv.dest, keep), pgx.CopyFromRows(out))
}

func nilIfEmpty(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// goMigrations are the migrations written in Go, writing their progress to w.
func goMigrations(w io.Writer) []*goose.Migration {
	return []*goose.Migration{convertMigration(w), latencyMigration(w)}
}

// GoVersions returns the versions of the migrations written in Go (the SQL ones are the files
// of FS). Test helpers hash them with FS to tell one schema from another.
func GoVersions() []int64 {
	var out []int64
	for _, m := range goMigrations(io.Discard) {
		out = append(out, m.Version)
	}
	return out
}

// NewProvider returns the goose provider of every migration: the embedded SQL files and the Go
// migrations, which write their progress to w.
//
// Migrations may be applied out of order: an archive migrated before a migration numbered below
// its latest one existed (00053 came after 00070) gets it on the next `migrate up`, and a
// `migrate down` then rolls back the migration applied last.
func NewProvider(db *sql.DB, w io.Writer, opts ...goose.ProviderOption) (*goose.Provider, error) {
	opts = append([]goose.ProviderOption{
		goose.WithGoMigrations(goMigrations(w)...),
		goose.WithAllowOutofOrder(true),
	}, opts...)
	return goose.NewProvider(goose.DialectPostgres, db, FS, opts...)
}
