package migrations_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/migrations"
	"github.com/cbarchive/cbarchive/transform"
)

// latencyCase is a record whose latency_ms is written out by hand.
type latencyCase struct {
	stream, callbackTime, responseTime string
	want                               *int64 // nil: NULL
}

func ms(v int64) *int64 { return &v }

var latencyCases = []latencyCase{
	{"negative", "2025-06-30T20:00:00+08:00", "2025-06-30T19:59:58.5+08:00", ms(-1500)},
	{"negative under a millisecond", "2025-06-30T12:00:03Z", "2025-06-30T12:00:02.9995Z", ms(0)},
	{"year 9999", "2025-06-30T12:00:01Z", "9999-12-31T23:59:59.999Z", ms(251651015998999)},
	{"year 0001", "2025-06-30T12:00:01Z", "0001-01-01T00:00:00Z", ms(-63886881601000)},
	// 0.9992 ms as received; the stored times keep whole microseconds (02.000000 and 02.001000),
	// from which migration 00052's view computes 1.
	{"finer than microseconds", "2025-06-30T12:00:02.0000009Z", "2025-06-30T12:00:02.0010001Z", ms(0)},
	{"no response time", "2025-06-30T12:00:04Z", "", nil},
	{"response time not a time", "2025-06-30T12:00:05Z", "soon", nil},
	{"ordinary", "2025-07-01T08:00:06+08:00", "2025-07-01T08:00:06.042+08:00", ms(42)},
}

func latencyRecords(t *testing.T) []transform.Row {
	t.Helper()
	var rows []transform.Row
	for _, c := range latencyCases {
		row, err := transform.Normalize(callback.Record{Domain: "latency.example.com", App: "live", Stream: c.stream,
			CallbackTime: c.callbackTime, CallbackEventType: "push_start", CallbackMethod: "post",
			CallbackAddress: "http://hooks.example.com/cb", CallbackStatus: "success", CallbackBody: `{"a":1}`,
			CallbackResponseCode: "200", CallbackResponseHeader: "HTTP/1.1 200 OK", CallbackResponseBody: "ok",
			CallbackResponseTime: c.responseTime})
		if err != nil {
			t.Fatalf("%s: %v", c.stream, err)
		}
		rows = append(rows, row)
	}
	return rows
}

// latencies is latency_ms of callback_records per stream of latency.example.com.
func latencies(t *testing.T, ctx context.Context, conn *pgx.Conn) map[string]*int64 {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT stream, latency_ms FROM callback_records WHERE domain = 'latency.example.com'`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*int64{}
	var stream string
	var v *int64
	if _, err := pgx.ForEachRow(rows, []any{&stream, &v}, func() error {
		if v != nil {
			n := *v
			got[stream] = &n
		} else {
			got[stream] = nil
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func show(v *int64) string {
	if v == nil {
		return "NULL"
	}
	return strconv.FormatInt(*v, 10)
}

func checkLatencies(t *testing.T, ctx context.Context, conn *pgx.Conn, when string) {
	t.Helper()
	got := latencies(t, ctx, conn)
	for _, c := range latencyCases {
		g, ok := got[c.stream]
		if !ok {
			t.Errorf("%s: record %q is not archived", when, c.stream)
			continue
		}
		if (g == nil) != (c.want == nil) || (g != nil && *g != *c.want) {
			t.Errorf("%s: record %q (%s → %q): latency_ms = %s, want %s", when, c.stream, c.callbackTime, c.responseTime, show(g), show(c.want))
		}
	}
}

func viewDef(t *testing.T, ctx context.Context, conn *pgx.Conn) string {
	t.Helper()
	var def string
	if err := conn.QueryRow(ctx, `SELECT pg_get_viewdef('callback_records'::regclass)`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	return def
}

func hasLatencyColumn(t *testing.T, ctx context.Context, conn *pgx.Conn) bool {
	t.Helper()
	var has bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'callback_store'::regclass
		AND attname = 'latency_ms' AND NOT attisdropped)`).Scan(&has); err != nil {
		t.Fatal(err)
	}
	return has
}

// An archive migrated up to 00070 before migration 00053 existed, converted from the previous
// layout (all odd records, and records whose latency is written out above): migration 00053
// applies out of order, is killed mid-fill and resumed, and leaves every analysts' column as the
// previous layout had it (latency_ms included, which the view of 00052 computed differently for
// a time finer than microseconds); `migrate down` restores the view of 00052 and drops the
// column; up again gives the same.
func TestLatencyMigrationUpDownUpKeepsEveryRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, db, p := previousLayout(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows := append(archiveRecords(t), latencyRecords(t)...)
	loadLegacy(t, ctx, conn, rows)
	analysts := analystView(t, ctx, conn)
	checkLatencies(t, ctx, conn, "the previous layout")

	// The archive as main left it: 00050-00052 and 00070 applied, 00053 not.
	if _, err := p.UpTo(ctx, 52); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyVersion(ctx, 70, true); err != nil {
		t.Fatal(err)
	}
	view52 := viewDef(t, ctx, conn)
	computed := analystView(t, ctx, conn)
	if got := latencies(t, ctx, conn)["finer than microseconds"]; got == nil || *got != 1 {
		t.Fatalf("migration 00052's view gives latency_ms %s for the time finer than microseconds, want 1 (the case no longer tells the rules apart)", show(got))
	}

	// Up, killed after two batches, then again to the end.
	killed, cancel := context.WithCancel(ctx)
	w := &cancelAfter{n: 2, marker: "rows filled in all", cancel: cancel}
	pk, err := migrations.NewProvider(db, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pk.Up(killed); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("the killed migration: %v, want cancelled\n%s", err, w.out.String())
	}
	var filled, left int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE latency_ms IS NOT NULL),
			count(*) FILTER (WHERE latency_ms IS NULL AND response_time IS NOT NULL) FROM callback_store`).Scan(&filled, &left); err != nil {
		t.Fatal(err)
	}
	if filled == 0 || left == 0 {
		t.Fatalf("after the kill: %d rows filled, %d left; want some of each\n%s", filled, left, w.out.String())
	}
	if got := analystView(t, ctx, conn); !slices.Equal(got, computed) || viewDef(t, ctx, conn) != view52 {
		t.Fatalf("mid-migration, callback_records is not migration 00052's view:\n%s", diff(computed, got))
	}
	var progress bytes.Buffer
	pu, err := migrations.NewProvider(db, &progress)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pu.Up(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Source.Version != migrations.LatencyVersion {
		t.Fatalf("up applied %v, want only %d", res, migrations.LatencyVersion)
	}
	if !strings.Contains(progress.String(), "rows filled in all") || !strings.Contains(progress.String(), "latency_ms filled in") {
		t.Errorf("no progress in the migration's output:\n%s", progress.String())
	}
	if got := analystView(t, ctx, conn); !slices.Equal(got, analysts) {
		t.Fatalf("after up, callback_records differs from the previous layout:\n%s", diff(analysts, got))
	}
	checkLatencies(t, ctx, conn, "after up")
	if def := viewDef(t, ctx, conn); strings.Contains(def, "extract") {
		t.Errorf("after up, the view still computes latency_ms:\n%s", def)
	}
	var validated bool
	if err := conn.QueryRow(ctx, `SELECT convalidated FROM pg_constraint WHERE conrelid = 'callback_store'::regclass
		AND conname = 'callback_store_latency_ms_written'`).Scan(&validated); err != nil || !validated {
		t.Errorf("the check that rows with a response time have latency_ms: validated %v (%v)", validated, err)
	}
	if _, err := conn.Exec(ctx, `UPDATE callback_store SET latency_ms = NULL WHERE response_time IS NOT NULL`); err == nil {
		t.Error("a row with a response time and no latency_ms was accepted")
	}

	// Down: the view of migration 00052, no column.
	if _, err := pu.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if def := viewDef(t, ctx, conn); def != view52 {
		t.Errorf("after down, callback_records is not migration 00052's view:\n%s\nwant\n%s", def, view52)
	}
	if hasLatencyColumn(t, ctx, conn) {
		t.Error("after down, callback_store still has latency_ms")
	}
	if got := analystView(t, ctx, conn); !slices.Equal(got, computed) {
		t.Fatalf("after down, callback_records differs from before up:\n%s", diff(computed, got))
	}

	// Up again.
	if _, err := pu.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got := analystView(t, ctx, conn); !slices.Equal(got, analysts) {
		t.Fatalf("after up, down and up, callback_records differs from the previous layout:\n%s", diff(analysts, got))
	}
	checkLatencies(t, ctx, conn, "after up, down and up")
	assertOriginals(t, ctx, conn, rows)
}
