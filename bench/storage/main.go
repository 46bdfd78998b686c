// Command storage is the storage benchmark: one sync of livesim's realistic records into a fresh
// PostgreSQL database, then the database's growth per record (every relation of the schema:
// heap, TOAST, indexes, free-space and visibility maps) against the records' JSON as the API
// serves it (the bytes of each record's JSON object). It also says where the bytes go: each
// column's share (sum of pg_column_size) and each index's size.
//
//	go run ./bench/storage [-records-per-day 10000] [-domains 2] [-days 3] [-keep]
//
// DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/postgres); the
// benchmark creates its own database there and drops it unless -keep.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/pipeline"
)

func main() {
	perDay := flag.Int("records-per-day", 10000, "records per domain and day")
	domains := flag.Int("domains", 2, "domains")
	days := flag.Int("days", 3, "days of history")
	keep := flag.Bool("keep", false, "keep the database afterwards (its name is printed)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, *perDay, *domains, *days, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/storage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, perDay, domains, days int, keep bool) error {
	end := time.Now().Add(-10 * time.Minute).Truncate(time.Minute)
	sim, err := livesim.New(livesim.Config{Seed: 1, NumDomains: domains, RecordsPerDay: perDay, DaysBack: days,
		RateLimit: 1000, Now: func() time.Time { return end }})
	if err != nil {
		return err
	}
	simURL, err := sim.Start()
	if err != nil {
		return err
	}
	defer sim.Close()

	dbURL, name, drop, err := freshDatabase(ctx)
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "database:           %s (kept)\n", name)
	} else {
		defer drop()
	}
	if err := load.Migrate(ctx, dbURL, load.MigrateUp, io.Discard); err != nil {
		return err
	}
	store, err := load.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer store.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	before, err := relationBytes(ctx, conn)
	if err != nil {
		return err
	}
	client, err := extract.NewClient(extract.ClientConfig{Endpoint: simURL, AccessKey: livesim.DefaultAccessKey,
		SecretKey: livesim.DefaultSecretKey, Limiter: extract.NewLimiter(1000)})
	if err != nil {
		return err
	}
	p, err := pipeline.New(pipeline.Config{Client: client, Store: store, Logger: zap.NewNop(), RunID: "bench-storage",
		PageSize: 1000, InitialLookback: time.Duration(days)*24*time.Hour + time.Hour, Now: func() time.Time { return end }})
	if err != nil {
		return err
	}
	res := p.Sync(ctx, sim.Domains())
	for _, d := range res.Domains {
		if d.Outcome != pipeline.OutcomeSuccess {
			return fmt.Errorf("domain %s: %s: %v", d.Domain, d.Outcome, d.Err)
		}
	}
	afterSync, err := relationBytes(ctx, conn)
	if err != nil {
		return err
	}
	// What autovacuum does anyway: the steady state has visibility and free-space maps.
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return err
	}
	after, err := relationBytes(ctx, conn)
	if err != nil {
		return err
	}

	// The records the sync archived: each domain's from its first start to its watermark.
	var records, served int64
	for _, d := range sim.Domains() {
		var from, to time.Time
		if err := conn.QueryRow(ctx, `SELECT first_start, watermark FROM sync_checkpoints WHERE domain = $1 AND filter_key = ''`, d).Scan(&from, &to); err != nil {
			return fmt.Errorf("checkpoint of %s: %w", d, err)
		}
		for _, r := range sim.Records(d, from, to) {
			n, err := servedSize(&r)
			if err != nil {
				return err
			}
			records++
			served += n
		}
	}
	var rows int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM callback_records) + (SELECT coalesce(sum(copies), 0) FROM callback_rejects)`).Scan(&rows); err != nil {
		return err
	}
	if rows != records {
		return fmt.Errorf("archive holds %d records, livesim served %d", rows, records)
	}
	perRecord := float64(after-before) / float64(records)
	jsonPerRecord := float64(served) / float64(records)
	fmt.Fprintf(out, "records:            %d (%d domains x %d days x %d/day, duplicates included)\n", records, domains, days, perDay)
	fmt.Fprintf(out, "JSON as served:     %d bytes, %.0f bytes per record\n", served, jsonPerRecord)
	fmt.Fprintf(out, "database growth:    %d bytes after the sync (%.0f per record), %d after VACUUM ANALYZE\n",
		afterSync-before, float64(afterSync-before)/float64(records), after-before)
	fmt.Fprintf(out, "bytes per record:   %.0f = %.2f x the JSON as served (after VACUUM ANALYZE)\n", perRecord, perRecord/jsonPerRecord)
	fmt.Fprintln(out)
	if err := printRelations(ctx, conn, out, records); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return printColumns(ctx, conn, out, records)
}

// servedSize is the length of the record's JSON object as livesim serves it: the 15 fields as
// strings, HTML characters not escaped.
func servedSize(r *callback.Record) (int64, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return 0, err
	}
	return int64(len(bytes.TrimSuffix(b.Bytes(), []byte("\n")))), nil
}

// relationBytes sums pg_total_relation_size (heap, TOAST, indexes, maps) over every table and
// materialized view of the current schema; partitions are tables of their own.
func relationBytes(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var n int64
	err := conn.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm')`).Scan(&n)
	return n, err
}

// printRelations lists, per table (partitions summed into their parent), heap, TOAST and each
// index, in bytes per record.
func printRelations(ctx context.Context, conn *pgx.Conn, out io.Writer, records int64) error {
	rows, err := conn.Query(ctx, `
		WITH parts AS (
			SELECT c.oid, coalesce(root.relname, c.relname) AS tbl
			FROM pg_class c
			LEFT JOIN LATERAL (SELECT p.relname FROM pg_partition_ancestors(c.oid) a JOIN pg_class p ON p.oid = a.relid
			                   WHERE p.relispartition = false AND p.oid <> c.oid) root ON true
			WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
		), items AS (
			SELECT tbl, 'heap' AS what, pg_relation_size(oid) + pg_relation_size(oid, 'fsm') + pg_relation_size(oid, 'vm') AS bytes FROM parts
			UNION ALL
			SELECT tbl, 'toast', pg_total_relation_size(oid) - pg_indexes_size(oid)
			       - pg_relation_size(oid) - pg_relation_size(oid, 'fsm') - pg_relation_size(oid, 'vm') FROM parts
			UNION ALL
			SELECT p.tbl, 'index ' || coalesce(pi.relname, i.relname), pg_relation_size(x.indexrelid)
			FROM parts p JOIN pg_index x ON x.indrelid = p.oid JOIN pg_class i ON i.oid = x.indexrelid
			LEFT JOIN pg_inherits ih ON ih.inhrelid = i.oid LEFT JOIN pg_class pi ON pi.oid = ih.inhparent
		)
		SELECT tbl, what, sum(bytes)::bigint FROM items GROUP BY 1, 2 HAVING sum(bytes) > 0 ORDER BY 3 DESC`)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "| relation | part | bytes | bytes per record |")
	fmt.Fprintln(out, "|---|---|---:|---:|")
	for rows.Next() {
		var tbl, what string
		var n int64
		if err := rows.Scan(&tbl, &what, &n); err != nil {
			return err
		}
		fmt.Fprintf(out, "| %s | %s | %d | %.1f |\n", tbl, what, n, float64(n)/float64(records))
	}
	return rows.Err()
}

// printColumns sums pg_column_size per column of the archive's partitioned tables, per record
// (a value's stored size: compressed and TOASTed values count what they occupy, not the
// 18-byte pointer only, so the sum can exceed the heap).
func printColumns(ctx context.Context, conn *pgx.Conn, out io.Writer, records int64) error {
	var tables []string
	rows, err := conn.Query(ctx, `SELECT relname FROM pg_class WHERE relkind = 'p' AND relnamespace = current_schema()::regnamespace ORDER BY 1`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return err
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, t := range tables {
		var cols []string
		rows, err := conn.Query(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, t)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return err
			}
			cols = append(cols, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		fmt.Fprintf(out, "| %s column | bytes per record (sum of pg_column_size / records) |\n|---|---:|\n", t)
		var total float64
		for _, c := range cols {
			var n int64
			if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(sum(pg_column_size(%s)), 0)::bigint FROM %s`,
				pgx.Identifier{c}.Sanitize(), pgx.Identifier{t}.Sanitize())).Scan(&n); err != nil {
				return err
			}
			total += float64(n) / float64(records)
			fmt.Fprintf(out, "| %s | %.1f |\n", c, float64(n)/float64(records))
		}
		fmt.Fprintf(out, "| (all columns) | %.1f |\n", total)
	}
	return nil
}

// freshDatabase creates a database on DATABASE_URL's server and returns its URL, name and a drop
// func.
func freshDatabase(ctx context.Context) (string, string, func(), error) {
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", "", nil, fmt.Errorf("connect to DATABASE_URL: %w (start PostgreSQL or set DATABASE_URL)", err)
	}
	name := fmt.Sprintf("cbstorage_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		return "", "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		conn.Close(ctx)
		return "", "", nil, err
	}
	u.Path = "/" + name
	return u.String(), name, func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}, nil
}
