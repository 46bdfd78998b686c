// Package archivetest checks an archive against livesim's truth, for end-to-end tests.
package archivetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/livesim"
)

// truthCols are the 15 API fields, as columns of the comparison table.
var truthCols = []string{"domain", "app", "stream", "callback_time", "event_type", "method", "address", "status",
	"body", "response_code", "response_header", "response_body", "response_time", "error_code", "error_message"}

// AssertExact checks that callback_records in the database at dbURL holds exactly sim's records
// between from and to (inclusive, by callback time) for domain ("" = all), as a multiset of the
// 15 API fields, compared by query (EXCEPT ALL both ways), not by counting only. For the
// records of the plain shapes livesim generates it also checks every derived column (times,
// latency, response code, status line, headers, JSON bodies, the columns copied as text)
// against values this package works out from the record itself (see derive).
func AssertExact(t testing.TB, dbURL string, sim *livesim.Sim, domain string, from, to time.Time) {
	t.Helper()
	ctx := context.Background()
	truth := sim.Records(domain, from, to)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE truth ("+strings.Join(truthCols, " text, ")+" text)"); err != nil {
		t.Fatal(err)
	}
	rows := make([][]any, len(truth))
	for i, r := range truth {
		f := r.Fields()
		row := make([]any, len(f))
		for j := range f {
			row[j] = f[j]
		}
		rows[i] = row
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"truth"}, truthCols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	// The archived rows of the range, read from the view once: the view computes raw on every
	// read, and a query that takes its 15 fields apart computes it once per field.
	fields := make([]string, len(callback.FieldNames))
	for i, n := range callback.FieldNames {
		fields[i] = "raw->>'" + n + "' AS " + truthCols[i]
	}
	derived := make([]string, len(derivedCols))
	for i, c := range derivedCols {
		derived[i] = c + " AS d_" + c
	}
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE archived AS SELECT "+strings.Join(fields, ", ")+", "+strings.Join(derived, ", ")+
		" FROM callback_records WHERE ($1 = '' OR domain = $1) AND callback_time BETWEEN $2 AND $3", domain, from, to); err != nil {
		t.Fatal(err)
	}
	archived := "SELECT " + strings.Join(truthCols, ", ") + " FROM archived"
	const all = "SELECT * FROM truth"
	var missing, extra, n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+all+" EXCEPT ALL "+archived+") x").Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+archived+" EXCEPT ALL "+all+") x").Scan(&extra); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM archived").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if missing != 0 || extra != 0 || n != len(truth) {
		t.Fatalf("archive differs from the API's records in %s..%s (domain %q): %d missing, %d extra; %d rows for %d records",
			from.Format(time.RFC3339), to.Format(time.RFC3339), domain, missing, extra, n, len(truth))
	}
	assertDerived(t, conn, truth, domain)
}

// derivedCols are the columns assertDerived compares, after the 15 API fields (in the table
// archived, each is named with the prefix d_).
var derivedCols = []string{"callback_time", "response_time", "latency_ms", "response_code", "response_status_line",
	"response_headers", "request_body_json", "response_body_json",
	"domain", "app", "stream", "event_type", "method", "address", "status", "request_body", "response_body", "error_code", "error_message"}

// assertDerived compares the derived columns of the archived rows of plain records with the
// values derive works out, as multisets keyed by the 15 API fields. The archived rows are those
// AssertExact read into the table archived.
func assertDerived(t testing.TB, conn *pgx.Conn, truth []callback.Record, domain string) {
	t.Helper()
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE expect (`+strings.Join(truthCols, " text, ")+` text,
		x_callback_time timestamptz, x_response_time timestamptz, x_latency_ms bigint, x_response_code integer,
		x_status_line text, x_headers jsonb, x_request_json jsonb, x_response_json jsonb)`); err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for _, r := range truth {
		d, ok := derive(r)
		if !ok {
			continue
		}
		f := r.Fields()
		row := make([]any, 0, len(f)+8)
		for _, v := range f {
			row = append(row, v)
		}
		row = append(row, d.callbackTime, d.responseTime, d.latencyMS, d.responseCode, d.statusLine, d.headers, d.requestJSON, d.responseJSON)
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return
	}
	cols := append(append([]string{}, truthCols...), "x_callback_time", "x_response_time", "x_latency_ms", "x_response_code",
		"x_status_line", "x_headers", "x_request_json", "x_response_json")
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"expect"}, cols, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	derived := make([]string, len(derivedCols))
	for i, c := range derivedCols {
		derived[i] = "d_" + c
	}
	archived := `SELECT ` + strings.Join(truthCols, ", ") + `, ` + strings.Join(derived, ", ") + `
		FROM archived
		WHERE (` + strings.Join(truthCols, ", ") + `) IN (SELECT ` + strings.Join(truthCols, ", ") + ` FROM expect)`
	expected := `SELECT ` + strings.Join(truthCols, ", ") + `,
		x_callback_time, x_response_time, x_latency_ms, x_response_code, x_status_line, x_headers, x_request_json, x_response_json,
		domain, app, stream, event_type, method, address, status, body, response_body, error_code, error_message
		FROM expect`
	var wrong, unmatched int
	var example string
	if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(min(x::text), '') FROM (`+archived+` EXCEPT ALL `+expected+`) x`).Scan(&wrong, &example); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (`+expected+` EXCEPT ALL `+archived+`) x`).Scan(&unmatched); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 || unmatched != 0 {
		var want string
		_ = conn.QueryRow(ctx, `SELECT coalesce(min(x::text), '') FROM (`+expected+` EXCEPT ALL `+archived+`) x`).Scan(&want)
		t.Fatalf("derived columns differ from the records' own values in %d of %d rows (domain %q)\n archived: %.600s\n expected: %.600s",
			max(wrong, unmatched), len(rows), domain, example, want)
	}
}

// AssertExactUpToWatermarks checks every checkpointed domain is exact from its first start up
// to (not including) its watermark, and that there is at least one checkpoint.
func AssertExactUpToWatermarks(t testing.TB, dbURL string, sim *livesim.Sim) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT domain, first_start, watermark FROM sync_checkpoints WHERE filter_key = ''")
	if err != nil {
		t.Fatal(err)
	}
	type cp struct {
		domain      string
		first, mark time.Time
	}
	var cps []cp
	for rows.Next() {
		var c cp
		if err := rows.Scan(&c.domain, &c.first, &c.mark); err != nil {
			t.Fatal(err)
		}
		cps = append(cps, c)
	}
	conn.Close(ctx)
	if len(cps) == 0 {
		t.Fatal("no checkpoints")
	}
	for _, c := range cps {
		// A watermark means every second before it is archived: the records at the watermark
		// itself belong to the next window.
		AssertExact(t, dbURL, sim, c.domain, c.first, c.mark.Add(-time.Nanosecond))
	}
}
