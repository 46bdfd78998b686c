package migrations_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose
	"github.com/pressly/goose/v3"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/migrations"
	"github.com/cbarchive/cbarchive/transform"
)

// TestMain makes the Go migrations' batches small (50 rows), once, before any test runs.
func TestMain(m *testing.M) {
	*migrations.ConvertBatch = 50
	os.Exit(m.Run())
}

// served encodes r as livesim serves it (quotes, backslashes and control characters escaped,
// every other byte as it is, invalid UTF-8 included) and decodes it as the extractor does, so
// that the record carries the bytes as received.
func served(t *testing.T, r callback.Record) callback.Record {
	t.Helper()
	var b bytes.Buffer
	b.WriteByte('{')
	for i, v := range r.Fields() {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:\"", callback.FieldNames[i])
		for j := 0; j < len(v); j++ {
			switch c := v[j]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	var rec callback.Record
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
		t.Fatalf("decode %q: %v", b.Bytes(), err)
	}
	return rec
}

// archiveRecords is what the test archives: two days of livesim's realistic records, the odd
// dataset, and one record three times (three rows with ordinals 0, 1, 2).
func archiveRecords(t *testing.T) []transform.Row {
	t.Helper()
	now := time.Date(2025, 7, 1, 1, 0, 0, 0, time.UTC) // the history crosses a month boundary
	sim, err := livesim.New(livesim.Config{Seed: 7, Domains: []string{"a.example.com"}, RecordsPerDay: 300, DaysBack: 2,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	recs := sim.Records("", time.Time{}, now)
	recs = append(recs, livesim.OddRecords("odd.example.com", now.Add(-time.Hour))...)
	recs = append(recs, recs[10], recs[10])
	var rows []transform.Row
	for _, r := range recs {
		row, err := transform.Normalize(served(t, r))
		if err != nil {
			continue // a reject: not in callback_records, untouched by the migration
		}
		rows = append(rows, row)
	}
	return rows
}

// loadLegacy writes rows into the previous layout as its loader did: ordinals numbered by
// content hash among rows of equal (domain, callback_time, identity_hash).
func loadLegacy(t *testing.T, ctx context.Context, conn *pgx.Conn, rows []transform.Row) {
	t.Helper()
	type key struct {
		domain string
		at     time.Time
		id     string
	}
	groups := map[key][]int{}
	for i, r := range rows {
		k := key{r.Domain, r.CallbackTime, string(r.IdentityHash)}
		groups[k] = append(groups[k], i)
	}
	ordinal := make([]int32, len(rows))
	for _, idx := range groups {
		sort.Slice(idx, func(a, b int) bool { return bytes.Compare(rows[idx[a]].ContentHash, rows[idx[b]].ContentHash) < 0 })
		for o, i := range idx {
			ordinal[i] = int32(o)
		}
	}
	for _, m := range []string{"2025-06", "2025-07"} {
		from, _ := time.Parse("2006-01", m)
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE callback_records_y%sm%s PARTITION OF callback_records FOR VALUES FROM ('%s') TO ('%s')`,
			m[:4], m[5:], from.Format(time.RFC3339), from.AddDate(0, 1, 0).Format(time.RFC3339))); err != nil {
			t.Fatal(err)
		}
	}
	seen := time.Date(2025, 7, 2, 3, 4, 5, 6000, time.UTC)
	_, err := conn.CopyFrom(ctx, pgx.Identifier{"callback_records"}, migrations.LegacyColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		var reqJSON, respJSON any
		if r.RequestBodyJSON != nil {
			reqJSON = string(r.RequestBodyJSON)
		}
		if r.ResponseBodyJSON != nil {
			respJSON = string(r.ResponseBodyJSON)
		}
		return []any{r.Domain, r.App, r.Stream, r.EventType, r.CallbackTime, r.Method, r.Address, r.Status,
			r.RequestBody, reqJSON, r.ResponseCode, r.ResponseStatusLine,
			string(r.ResponseHeaders), r.ResponseBody, respJSON, r.ResponseTime, r.LatencyMS,
			r.ErrorCode, r.ErrorMessage, string(r.Raw), r.RawOriginal, r.Sanitized, r.IdentityHash,
			r.ContentHash, r.RulesVersion, ordinal[i], seen, seen.Add(time.Duration(i) * time.Second)}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// analystView is every analysts' column of callback_records, one text per row, sorted: the
// same query reads the previous table and the new view.
func analystView(t *testing.T, ctx context.Context, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT concat_ws(' | ', domain, app, stream, event_type, callback_time, method, address, status,
			md5(request_body), request_body_json::text, response_code, response_status_line, response_headers::text,
			md5(response_body), md5(response_body_json::text), response_time, latency_ms, error_code, error_message,
			md5(raw::text), sanitized, ordinal, rules_version, first_seen_at, updated_at)
		FROM callback_records`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// legacyTable is every column of the previous table, one text per row, sorted.
func legacyTable(t *testing.T, ctx context.Context, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT c::text FROM callback_records c`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// cancelAfter is a progress writer that cancels the migration after n batches (progress lines
// holding marker), like a kill.
type cancelAfter struct {
	mu     sync.Mutex
	n      int
	marker string
	cancel func()
	out    bytes.Buffer
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Contains(p, []byte(c.marker)) {
		c.n--
		if c.n == 0 {
			c.cancel()
		}
	}
	return c.out.Write(p)
}

func TestConvertUpDownUpKeepsEveryRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, db, _ := previousLayout(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows := archiveRecords(t)
	loadLegacy(t, ctx, conn, rows)
	before := legacyTable(t, ctx, conn)
	analysts := analystView(t, ctx, conn)
	var sanitized int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM callback_records WHERE sanitized`).Scan(&sanitized); err != nil || sanitized == 0 {
		t.Fatalf("the archive holds no sanitized row (%v): the odd records are missing", err)
	}

	// Up, killed after two batches of 50 rows (TestMain), then again to the end.
	killed, cancel := context.WithCancel(ctx)
	w := &cancelAfter{n: 2, marker: "rows moved in all", cancel: cancel}
	pk, err := migrations.NewProvider(db, w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pk.Up(killed); err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("the killed migration: %v, want cancelled", err)
	}
	var moved, left int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM callback_store), (SELECT count(*) FROM callback_records)`).Scan(&moved, &left); err != nil {
		t.Fatal(err)
	}
	if moved != 100 || moved+left != len(rows) {
		t.Fatalf("after the kill: %d rows moved, %d left, want 100 and %d in all", moved, left, len(rows))
	}
	var progress bytes.Buffer
	pu, err := migrations.NewProvider(db, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pu.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "rows moved from callback_records into callback_store") {
		t.Errorf("no progress in the migration's output:\n%s", progress.String())
	}
	if got := analystView(t, ctx, conn); !slices.Equal(got, analysts) {
		t.Fatalf("after up, callback_records differs from before:\n%s", diff(analysts, got))
	}
	assertOriginals(t, ctx, conn, rows)

	// Down to the previous layout: the same table, byte for byte.
	if _, err := pu.DownTo(ctx, 21); err != nil {
		t.Fatal(err)
	}
	if got := legacyTable(t, ctx, conn); !slices.Equal(got, before) {
		t.Fatalf("after down, callback_records differs from before:\n%s", diff(before, got))
	}
	if _, err := pu.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if got := analystView(t, ctx, conn); !slices.Equal(got, analysts) {
		t.Fatalf("after up, down and up, callback_records differs from before:\n%s", diff(analysts, got))
	}
	assertOriginals(t, ctx, conn, rows)
}

// assertOriginals checks that the stored form gives back every record, as a multiset, with the
// bytes as received for the records whose decoding changed text.
func assertOriginals(t *testing.T, ctx context.Context, conn *pgx.Conn, rows []transform.Row) {
	t.Helper()
	q, err := conn.Query(ctx, `SELECT `+transform.StoredColumns()+` FROM callback_store`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[[15]string]int{}
	var received int
	for q.Next() {
		var st transform.Row
		if err := q.Scan(transform.StoredTargets(&st)...); err != nil {
			t.Fatal(err)
		}
		rec, err := transform.RecordFromRow(&st)
		if err != nil {
			t.Fatal(err)
		}
		got[rec.Fields()]++
		if rec.Raw != nil {
			received++
		}
	}
	if q.Err() != nil {
		t.Fatal(q.Err())
	}
	want := map[[15]string]int{}
	for _, r := range rows {
		rec, err := transform.RecordFromRaw(r.Raw, r.RawOriginal)
		if err != nil {
			t.Fatal(err)
		}
		want[rec.Fields()]++
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct records stored, want %d", len(got), len(want))
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("record %.80q…: %d stored, want %d", k, got[k], n)
		}
	}
	if received == 0 {
		t.Error("no record keeps its bytes as received (the invalid UTF-8 one should)")
	}
}

func diff(want, got []string) string {
	var b strings.Builder
	for _, s := range want {
		if !slices.Contains(got, s) {
			fmt.Fprintf(&b, "- %.300s\n", s)
		}
	}
	for _, s := range got {
		if !slices.Contains(want, s) {
			fmt.Fprintf(&b, "+ %.300s\n", s)
		}
	}
	return b.String()
}

// previousLayout returns a new database migrated up to 00021 (the layout before 00050) and a
// provider of every migration on it, over db.
func previousLayout(t *testing.T) (string, *sql.DB, *goose.Provider) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := migrations.NewProvider(db, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), 21); err != nil {
		t.Fatal(err)
	}
	return url, db, p
}
