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
// 15 API fields, compared by query (EXCEPT ALL both ways), not by counting only.
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
	var fields []string
	for _, n := range callback.FieldNames {
		fields = append(fields, "raw->>'"+n+"'")
	}
	const where = " FROM callback_records WHERE ($1 = '' OR domain = $1) AND callback_time BETWEEN $2 AND $3"
	archived := "SELECT " + strings.Join(fields, ", ") + where
	const all = "SELECT * FROM truth"
	var missing, extra, n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+all+" EXCEPT ALL "+archived+") x", domain, from, to).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+archived+" EXCEPT ALL "+all+") x", domain, from, to).Scan(&extra); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*)"+where, domain, from, to).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if missing != 0 || extra != 0 || n != len(truth) {
		t.Fatalf("archive differs from the API's records in %s..%s (domain %q): %d missing, %d extra; %d rows for %d records",
			from.Format(time.RFC3339), to.Format(time.RFC3339), domain, missing, extra, n, len(truth))
	}
}

// AssertExactUpToWatermarks checks every checkpointed domain is exact from its first start to
// its watermark, and that there is at least one checkpoint.
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
		AssertExact(t, dbURL, sim, c.domain, c.first, c.mark)
	}
}
