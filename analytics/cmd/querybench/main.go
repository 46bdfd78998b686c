// Command querybench times the analysts' guide queries (docs/analysts.md) on a generated archive
// of millions of callback rows spread over the 12 months of 2025, and prints a Markdown table.
//
//	go run ./analytics/cmd/querybench -rows 10000000            # create, generate, time, drop
//	go run ./analytics/cmd/querybench -rows 10000000 -keep      # keep the database afterwards
//	go run ./analytics/cmd/querybench -db cbarchive_qbench -reuse   # time an existing one again
//
// It is not part of `go test`: generating 10 million rows takes minutes and gigabytes.
// The server is DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); the
// benchmark database is created next to it and dropped at the end unless -keep.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose

	"github.com/cbarchive/cbarchive/analytics"
	"github.com/cbarchive/cbarchive/migrations"
)

func main() {
	rows := flag.Int64("rows", 10_000_000, "rows to generate")
	dbName := flag.String("db", "cbarchive_qbench", "benchmark database name")
	keep := flag.Bool("keep", false, "keep the database afterwards")
	reuse := flag.Bool("reuse", false, "use the existing database -db as it is (no generation)")
	guide := flag.String("guide", "docs/analysts.md", "the guide whose queries are timed")
	runs := flag.Int("runs", 3, "timed runs of each query")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *rows, *dbName, *keep, *reuse, *guide, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "querybench:", err)
		os.Exit(1)
	}
}

func adminURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func run(ctx context.Context, rows int64, dbName string, keep, reuse bool, guidePath string, runs int) error {
	admin := adminURL()
	u, err := url.Parse(admin)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/" + dbName
	dbURL := u.String()

	if !reuse {
		ac, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		ident := pgx.Identifier{dbName}.Sanitize()
		if _, err := ac.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return err
		}
		if _, err := ac.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
			return err
		}
		ac.Close(ctx)
		if err := migrate(ctx, dbURL); err != nil {
			return err
		}
		if err := generate(ctx, dbURL, rows); err != nil {
			return err
		}
	}
	if !keep && !reuse {
		defer func() {
			ac, err := pgx.Connect(context.WithoutCancel(ctx), admin)
			if err != nil {
				fmt.Fprintln(os.Stderr, "querybench: drop:", err)
				return
			}
			defer ac.Close(context.WithoutCancel(ctx))
			if _, err := ac.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pgx.Identifier{dbName}.Sanitize()+" WITH (FORCE)"); err != nil {
				fmt.Fprintln(os.Stderr, "querybench: drop:", err)
			}
		}()
	}
	return timeQueries(ctx, dbURL, guidePath, runs)
}

func migrate(ctx context.Context, dbURL string) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := migrations.NewProvider(db, io.Discard)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// generateSQL inserts rows [$1, $2) of $3 spread evenly over 2025 (one every 365d/$3). Rows come
// in sessions of 20 consecutive events of one stream: push_start, snapshots and recordings,
// push_end (1 session in 50 loses its end). 5 domains × 3 apps × 2000 streams. 4 % fail at
// random (500, 502, or a timeout with no response), and push.beta.example fails everything
// from 02:00 to 03:00 UTC on 2025-06-11 (the outage). Recordings of push.gamma.example are slow.
// About 450 bytes of column data per row.
const generateSQL = `
INSERT INTO callback_store (domain, app, stream, event_type, callback_time, method, address,
    status, request_body, response_code, response_status_line, response_headers, response_header,
    response_body, response_time, latency_ms, error_code, error_message, identity_hash, ordinal, flags, rules_version)
SELECT dom, app, stream, ev, t, 'post',
    'https://hooks.' || dom || '/live/' || split_part(ev, '_', 1),
    CASE WHEN fail THEN 'fail' ELSE 'success' END,
    body,
    code,
    CASE code WHEN 200 THEN 'HTTP/1.1 200 OK' WHEN 500 THEN 'HTTP/1.1 500 Internal Server Error'
              WHEN 502 THEN 'HTTP/1.1 502 Bad Gateway' END,
    CASE WHEN code IS NULL THEN '{}'::jsonb
         ELSE '{"content-type":"application/json","content-length":"25"}'::jsonb END,
    CASE WHEN code IS NULL THEN ''
         ELSE CASE code WHEN 200 THEN 'HTTP/1.1 200 OK' WHEN 500 THEN 'HTTP/1.1 500 Internal Server Error'
                        ELSE 'HTTP/1.1 502 Bad Gateway' END
              || E'\r\nContent-Type: application/json\r\nContent-Length: 25' END,
    CASE WHEN code = 200 THEN '{"code":0,"message":"ok"}' WHEN code IS NULL THEN ''
         ELSE '{"code":' || code || ',"message":"error"}' END,
    t + lat * interval '1 millisecond',
    lat,
    CASE WHEN NOT fail THEN '' WHEN code IS NULL THEN 'dial tcp: i/o timeout'
         ELSE 'callback response status code is ' || code END,
    CASE WHEN NOT fail THEN '' WHEN code IS NULL THEN 'CallbackRequestFailed'
         ELSE 'CallbackStatusCodeNotOK' END,
    ('x' || left(md5(i::text), 16))::bit(64)::bigint, 0,
    (16 + CASE WHEN code IS NULL THEN 0 ELSE 32 END)::smallint, 1
FROM (
    SELECT i, dom, app, stream, ev, t, fail, body,
        CASE WHEN NOT fail THEN 200 WHEN outage OR h % 3 = 1 THEN 502 WHEN h % 3 = 0 THEN 500 END AS code,
        CASE WHEN fail AND NOT outage AND h % 3 = 2 THEN NULL
             ELSE 5 + (h * 7919) % 796 + CASE WHEN dom = 'push.gamma.example' AND ev = 'record_event' THEN 1500 ELSE 0 END
        END AS lat
    FROM (
        SELECT i, dom, app, stream, ev, t, h, outage, outage OR h < 40 AS fail,
            '{"event":"' || ev || '","domain":"' || dom || '","app":"' || app || '","stream":"' || stream ||
            '","timestamp":' || extract(epoch FROM t)::bigint || ',"nonce":"' || left(md5(i::text), 8) || '"}' AS body
        FROM (
            SELECT i, dom, app, stream, ev, t, h,
                dom = 'push.beta.example' AND t >= '2025-06-11 02:00Z' AND t < '2025-06-11 03:00Z' AS outage
            FROM (
                SELECT i,
                    (ARRAY['push.alpha.example','push.beta.example','push.gamma.example','push.delta.example','push.epsilon.example'])[1 + (i / 20) % 5] AS dom,
                    (ARRAY['live','edu','game'])[1 + (i / 100) % 3] AS app,
                    'cam-' || (i / 300) % 2000 AS stream,
                    CASE WHEN i % 20 = 0 THEN 'push_start'
                         WHEN i % 20 = 19 AND (i / 20) % 50 <> 7 THEN 'push_end'
                         WHEN i % 5 = 0 THEN 'record_event'
                         ELSE 'snapshot_event' END AS ev,
                    '2025-01-01 00:00Z'::timestamptz + (i * (31536000.0 / $3)) * interval '1 second' AS t,
                    ((i * 2654435761) % 4294967296) % 1000 AS h
                FROM generate_series($1::bigint, $2::bigint - 1) AS i
            ) a
        ) b
    ) c
) d`

func generate(ctx context.Context, dbURL string, rows int64) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SET synchronous_commit = off; SET jit = off`); err != nil {
		return err
	}
	for m := 1; m <= 12; m++ {
		from := time.Date(2025, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
		to := from.AddDate(0, 1, 0)
		q := fmt.Sprintf(`CREATE TABLE callback_store_y2025m%02d PARTITION OF callback_store FOR VALUES FROM ('%s') TO ('%s')`,
			m, from.Format(time.RFC3339), to.Format(time.RFC3339))
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("create partition: %w", err)
		}
	}
	start := time.Now()
	const chunk = 250_000
	for lo := int64(0); lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		if _, err := conn.Exec(ctx, generateSQL, lo, hi, rows); err != nil {
			return fmt.Errorf("generate rows %d..%d: %w", lo, hi, err)
		}
		fmt.Fprintf(os.Stderr, "generated %d/%d rows (%s)\n", hi, rows, time.Since(start).Round(time.Second))
	}
	if _, err := conn.Exec(ctx, `VACUUM (ANALYZE) callback_store`); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	t := time.Now()
	var n int64
	if err := conn.QueryRow(ctx, `SELECT cbarchive_refresh_analytics(rebuild => true)`).Scan(&n); err != nil {
		return fmt.Errorf("refresh: %w", err)
	}
	fmt.Printf("generated %d rows in %s; cbarchive_refresh_analytics(rebuild => true): %d rollup rows in %s\n",
		rows, time.Since(start).Round(time.Second), n, time.Since(t).Round(time.Millisecond))
	if _, err := conn.Exec(ctx, `ANALYZE callback_hourly`); err != nil {
		return err
	}
	return nil
}

// extra queries timed beside the guide's: the alternatives the schema was chosen against, and the
// refresh the sync command runs.
var extra = []analytics.GuideQuery{
	{Label: "plain-hourly", Title: "q1 over a plain view (GROUP BY hour on callback_records) instead of the rollup", SQL: `
WITH v AS (
    SELECT date_trunc('hour', callback_time, 'UTC') AS hour, domain, app, event_type, count(*) AS total,
           count(*) FILTER (WHERE cbarchive_failed(status, response_code, error_code, error_message)) AS failed,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
           count(DISTINCT stream) AS streams
    FROM callback_records GROUP BY 1, 2, 3, 4)
SELECT hour, domain, sum(failed)::float8 / sum(total) FROM v
WHERE hour >= '2025-06-11 00:00Z' AND hour < '2025-06-12 00:00Z' GROUP BY 1, 2 ORDER BY 1, 2`},
	{Label: "day-scan", Title: "the same day aggregated straight from callback_records (pruned to one partition)", SQL: `
SELECT date_trunc('hour', callback_time, 'UTC') AS hour, domain,
       avg(cbarchive_failed(status, response_code, error_code, error_message)::int)
FROM callback_records
WHERE callback_time >= '2025-06-11 00:00Z' AND callback_time < '2025-06-12 00:00Z'
GROUP BY 1, 2 ORDER BY 1, 2`},
	{Label: "refresh-day", Title: "cbarchive_refresh_analytics(from_time, to_time) over one day", SQL: `
SELECT cbarchive_refresh_analytics(from_time => '2025-06-11 00:00Z', to_time => '2025-06-11 23:59Z')`},
}

func timeQueries(ctx context.Context, dbURL, guidePath string, runs int) error {
	md, err := os.ReadFile(guidePath)
	if err != nil {
		return err
	}
	qs, err := analytics.GuideQueries(string(md))
	if err != nil {
		return fmt.Errorf("%s: %w", guidePath, err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var rows, bytes int64
	if err := conn.QueryRow(ctx, `SELECT count(*), pg_total_relation_size('callback_store_y2025m06') * 12 FROM callback_records`).Scan(&rows, &bytes); err != nil {
		return err
	}
	fmt.Printf("\n%d rows; about %d MB with indexes (June × 12)\n\n", rows, bytes>>20)
	if err := printIndexSizes(ctx, conn); err != nil {
		return err
	}

	fmt.Printf("| query | rows returned | median ms | min ms | max ms | plan: partitions scanned; indexes |\n|---|---|---|---|---|---|\n")
	for _, q := range append(qs, extra...) {
		var times []time.Duration
		var n int
		for range runs {
			t := time.Now()
			r, err := conn.Query(ctx, q.SQL)
			if err != nil {
				return fmt.Errorf("%s: %w", q.Label, err)
			}
			n = 0
			for r.Next() {
				n++
			}
			if err := r.Err(); err != nil {
				return fmt.Errorf("%s: %w", q.Label, err)
			}
			times = append(times, time.Since(t))
		}
		slices.Sort(times)
		plan, err := planSummary(ctx, conn, q.SQL)
		if err != nil {
			return fmt.Errorf("%s: explain: %w", q.Label, err)
		}
		ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
		fmt.Printf("| %s: %s | %d | %s | %s | %s | %s |\n", q.Label, strings.TrimSpace(q.Title), n,
			ms(times[len(times)/2]), ms(times[0]), ms(times[len(times)-1]), plan)
	}
	return nil
}

func printIndexSizes(ctx context.Context, conn *pgx.Conn) error {
	r, err := conn.Query(ctx, `
		SELECT pi.indexrelid::regclass::text, pg_size_pretty(sum(pg_relation_size(c.inhrelid)))
		FROM pg_index pi
		JOIN pg_inherits c ON c.inhparent = pi.indexrelid
		WHERE pi.indrelid = 'callback_store'::regclass
		GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Printf("| index (all partitions) | size |\n|---|---|\n")
	for r.Next() {
		var name, size string
		if err := r.Scan(&name, &size); err != nil {
			return err
		}
		fmt.Printf("| %s | %s |\n", name, size)
	}
	fmt.Println()
	return r.Err()
}

// planSummary says how many partitions of callback_records the plan scans (at plan time: a
// LATERAL side is pruned at run time) and which indexes it uses.
func planSummary(ctx context.Context, conn *pgx.Conn, sql string) (string, error) {
	if strings.Contains(sql, "SELECT cbarchive_refresh_analytics(") {
		return "-", nil
	}
	var doc []map[string]any
	if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql).Scan(&doc); err != nil {
		return "", err
	}
	parts, idx := map[string]bool{}, map[string]bool{}
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if r, ok := n["Relation Name"].(string); ok && strings.HasPrefix(r, "callback_store_y") {
			parts[r] = true
		}
		if i, ok := n["Index Name"].(string); ok {
			// Partition indexes are named <partition>_<columns>_idx: keep the columns part.
			if _, rest, ok := strings.Cut(i, "callback_store_y"); ok && len(rest) > 8 {
				i = rest[8:]
			}
			idx[i] = true
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				walk(m)
			}
		}
	}
	walk(doc[0]["Plan"].(map[string]any))
	names := make([]string, 0, len(idx))
	for i := range idx {
		names = append(names, i)
	}
	slices.Sort(names)
	if len(names) == 0 {
		names = []string{"none"}
	}
	return fmt.Sprintf("%d; %s", len(parts), strings.Join(names, ", ")), nil
}
