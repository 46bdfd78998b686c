package load

import (
	"context"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/transform"
)

func TestLoadSameRowsTwiceWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	var rows []transform.Row
	for i := range 50 {
		rows = append(rows, testRow("a.example", t0.Add(time.Duration(i)*time.Second), "body", "ok"))
	}
	// The odd records too: NULL columns, originals, sanitized text compare equal to themselves.
	for _, rec := range livesim.OddRecords("a.example", t0.Add(time.Hour)) {
		if row, err := transform.Normalize(rec); err == nil {
			rows = append(rows, row)
		}
	}
	n := int64(len(rows))
	c := loadWindow(t, s, testOpts("a.example"), rows, 7)
	if c != (Counts{New: n}) {
		t.Fatalf("first load: got %+v, want New %d", c, n)
	}
	before := snapshot(t, s)
	c = loadWindow(t, s, testOpts("a.example"), rows, 13)
	if c != (Counts{Unchanged: n}) {
		t.Fatalf("second load: got %+v, want Unchanged %d", c, n)
	}
	after := snapshot(t, s)
	if int64(len(after)) != n {
		t.Fatalf("rows: got %d, want %d", len(after), n)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("row %s changed: before %s, after %s", k, v, after[k])
		}
	}
	_ = ctx
}

// snapshot maps each row's key to its xmin, xmax and updated_at: a re-read that writes a row
// changes its xmin; one that only locks it (a no-op ON CONFLICT DO UPDATE) sets its xmax.
func snapshot(t *testing.T, s *Store) map[string]string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT identity_hash::text || '/' || ordinal,
		xmin::text || ' ' || xmax::text || ' ' || updated_at::text FROM callback_store`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestIdenticalRecordsBecomeOrdinalsWhateverThePageOrder(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	// Three records identical in every field, and two more of the same identity with other
	// response sides.
	same := testRow("b.example", t0, "x", "ok")
	rows := []transform.Row{same, same, same, testRow("b.example", t0, "x", "fail"), testRow("b.example", t0, "x", "retry")}
	if c := loadWindow(t, s, testOpts("b.example"), rows, 2); c != (Counts{New: 5}) {
		t.Fatalf("first load: got %+v, want New 5", c)
	}
	var ordinals []int32
	if err := s.Pool().QueryRow(ctx, `SELECT array_agg(ordinal ORDER BY ordinal) FROM callback_records`).Scan(&ordinals); err != nil {
		t.Fatal(err)
	}
	if len(ordinals) != 5 || ordinals[0] != 0 || ordinals[4] != 4 {
		t.Fatalf("ordinals: got %v, want 0..4", ordinals)
	}
	before := snapshot(t, s)
	reversed := []transform.Row{rows[4], rows[1], rows[3], rows[0], rows[2]}
	if c := loadWindow(t, s, testOpts("b.example"), reversed, 1); c != (Counts{Unchanged: 5}) {
		t.Fatalf("reordered load: got %+v, want Unchanged 5", c)
	}
	after := snapshot(t, s)
	if len(after) != len(before) {
		t.Fatalf("rows: got %d, want %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("row %s rewritten: %s -> %s", k, v, after[k])
		}
	}
}

// Ordinals number the records of one identity, not of one second: records of other identities
// in the same second neither take ordinals from each other nor shift them when they change.
func TestOrdinalsAreNumberedPerIdentity(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	c := testRow("c.example", t0, "c", "ok")
	first := []transform.Row{testRow("c.example", t0, "a", "ok"), testRow("c.example", t0, "b", "ok"), c, c}
	if got := loadWindow(t, s, testOpts("c.example"), first, 10); got != (Counts{New: 4}) {
		t.Fatalf("first load: %+v, want New 4", got)
	}
	bodyOrdinals := func() string {
		var got string
		if err := s.Pool().QueryRow(ctx, `SELECT string_agg(request_body || ':' || ordinal || ':' || status, ' '
			ORDER BY request_body, ordinal) FROM callback_records`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := bodyOrdinals(), "a:0:ok b:0:ok c:0:ok c:1:ok"; got != want {
		t.Fatalf("rows %q, want %q", got, want)
	}
	// a's response side changes upstream: its row is updated, no other row moves.
	second := []transform.Row{testRow("c.example", t0, "a", "fail"), testRow("c.example", t0, "b", "ok"), c, c}
	if got := loadWindow(t, s, testOpts("c.example"), second, 10); got != (Counts{Updated: 1, Unchanged: 3}) {
		t.Fatalf("second load: %+v, want Updated 1, Unchanged 3", got)
	}
	if got, want := bodyOrdinals(), "a:0:fail b:0:ok c:0:ok c:1:ok"; got != want {
		t.Fatalf("rows %q, want %q", got, want)
	}
}

func TestChangedResponseSideIsUpdatedInPlace(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	r := testRow("c.example", t0, "x", "pending")
	loadWindow(t, s, testOpts("c.example"), []transform.Row{r}, 10)
	var first1, upd1 time.Time
	if err := s.Pool().QueryRow(ctx, `SELECT first_seen_at, updated_at FROM callback_records`).Scan(&first1, &upd1); err != nil {
		t.Fatal(err)
	}
	changed := testRow("c.example", t0, "x", "done")
	if c := loadWindow(t, s, testOpts("c.example"), []transform.Row{changed}, 10); c != (Counts{Updated: 1}) {
		t.Fatalf("got %+v, want Updated 1", c)
	}
	var n int
	var status string
	var first2, upd2 time.Time
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) OVER (), status, first_seen_at, updated_at FROM callback_records`).
		Scan(&n, &status, &first2, &upd2); err != nil {
		t.Fatal(err)
	}
	if n != 1 || status != "done" {
		t.Fatalf("got %d rows with status %q, want 1 row with status done", n, status)
	}
	if !first2.Equal(first1) {
		t.Errorf("first_seen_at moved: %s -> %s", first1, first2)
	}
	if !upd2.After(upd1) {
		t.Errorf("updated_at did not move: %s -> %s", upd1, upd2)
	}
}

func TestRowsOverThreeMonthsGoToThreeMonthlyPartitions(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	var rows []transform.Row
	// The last instant of January, the first of February, and the middle of March (UTC).
	for i, at := range []time.Time{
		time.Date(2025, 1, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 15, 12, 0, 0, 0, time.FixedZone("CST", 8*3600)),
	} {
		rows = append(rows, testRow("d.example", at, string(rune('a'+i)), "ok"))
	}
	if c := loadWindow(t, s, testOpts("d.example"), rows, 10); c.New != 3 {
		t.Fatalf("got %+v, want New 3", c)
	}
	var parts []string
	if err := s.Pool().QueryRow(ctx, `SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'callback_store'::regclass`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	want := []string{"callback_store_y2025m01", "callback_store_y2025m02", "callback_store_y2025m03"}
	if len(parts) != 3 || parts[0] != want[0] || parts[1] != want[1] || parts[2] != want[2] {
		t.Fatalf("partitions: got %v, want %v", parts, want)
	}
	got := map[string]string{}
	qrows, err := s.Pool().Query(ctx, `SELECT request_body, tableoid::regclass::text FROM callback_store`)
	if err != nil {
		t.Fatal(err)
	}
	for qrows.Next() {
		var body, part string
		if err := qrows.Scan(&body, &part); err != nil {
			t.Fatal(err)
		}
		got[body] = part
	}
	if got["a"] != want[0] || got["b"] != want[1] || got["c"] != want[2] {
		t.Fatalf("rows by partition: got %v", got)
	}
	for _, r := range rows {
		if n := PartitionName(r.CallbackTime); n != got[r.RequestBody] {
			t.Errorf("PartitionName(%s) = %s, row is in %s", r.CallbackTime, n, got[r.RequestBody])
		}
	}
}

func TestCheckpointAdvancesOnlyForward(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	key := CheckpointKey{Domain: "e.example", FilterKey: "et=push"}
	adv := func(to time.Time) {
		o := testOpts("e.example")
		o.Key, o.Advance, o.FirstStart = key, &to, t0.Add(-24*time.Hour)
		o.Filter = []byte(`{"event_types":["push"]}`)
		loadWindow(t, s, o, nil, 1)
	}
	if _, ok, err := s.Checkpoint(ctx, key); err != nil || ok {
		t.Fatalf("before any window: ok=%v err=%v, want none", ok, err)
	}
	adv(t0)
	adv(t0.Add(time.Hour))
	adv(t0.Add(-time.Hour)) // a backfill-like window must not move it back
	c, ok, err := s.Checkpoint(ctx, key)
	if err != nil || !ok {
		t.Fatalf("Checkpoint: ok=%v err=%v", ok, err)
	}
	if !c.Watermark.Equal(t0.Add(time.Hour)) || !c.FirstStart.Equal(t0.Add(-24*time.Hour)) {
		t.Fatalf("got watermark %s first_start %s", c.Watermark, c.FirstStart)
	}
	if string(c.Filter) != `{"event_types": ["push"]}` {
		t.Errorf("filter: got %s", c.Filter)
	}
	all, err := s.Checkpoints(ctx)
	if err != nil || len(all) != 1 || all[0].CheckpointKey != key {
		t.Fatalf("Checkpoints: %v %v", all, err)
	}
}

func TestRollbackAndCancelLeaveNothing(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	key := CheckpointKey{Domain: "f.example"}
	adv := t0
	rows := []transform.Row{testRow("f.example", t0, "1", "ok"), testRow("f.example", t0, "2", "ok")}

	// Rollback after staging and before Commit.
	ctx := context.Background()
	o := testOpts("f.example")
	o.Advance, o.FirstStart = &adv, t0
	w, err := s.BeginWindow(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	w.Rollback()
	w.Rollback() // idempotent
	if _, err := w.Commit(ctx); err == nil {
		t.Fatal("Commit after Rollback succeeded")
	}

	// A context cancelled mid-window.
	cctx, cancel := context.WithCancel(ctx)
	w, err = s.BeginWindow(cctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddRows(cctx, rows); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Commit(cctx); err == nil {
		t.Fatal("Commit with a cancelled context succeeded")
	}
	w.Rollback()

	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM callback_records) + (SELECT count(*) FROM sync_checkpoints)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("got %d rows and checkpoints, want none", n)
	}
	if _, ok, _ := s.Checkpoint(ctx, key); ok {
		t.Fatal("checkpoint exists")
	}
}

func TestRejectsAreUpsertedAndReadable(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	raw := []byte("{\"CallbackTime\":\"yesterday\",\"x\":\"\x00\xff\"}")
	rej := transform.Reject{Domain: "h.example", Raw: raw, Reason: `CallbackTime "yesterday" is not a time`}
	var firstXmin string
	for i, run := range []string{"run-1", "run-2"} {
		o := testOpts("h.example")
		o.RunID = run
		w, err := s.BeginWindow(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddRejects(ctx, []transform.Reject{rej, rej}); err != nil {
			t.Fatal(err)
		}
		c, err := w.Commit(ctx)
		if err != nil {
			t.Fatalf("window %d: %v", i, err)
		}
		if c.Rejected != 2 {
			t.Fatalf("window %d: Rejected %d, want 2", i, c.Rejected)
		}
		if i == 0 {
			if err := s.Pool().QueryRow(ctx, `SELECT xmin::text FROM callback_rejects`).Scan(&firstXmin); err != nil {
				t.Fatal(err)
			}
		}
	}
	var gotRaw []byte
	var text, first, last string
	var copies int
	var xmin string
	if err := s.Pool().QueryRow(ctx, `SELECT raw, raw_text, first_run_id, last_run_id, copies, xmin::text FROM callback_rejects`).
		Scan(&gotRaw, &text, &first, &last, &copies, &xmin); err != nil {
		t.Fatal(err)
	}
	if string(gotRaw) != string(raw) {
		t.Errorf("raw: got %q, want %q", gotRaw, raw)
	}
	if want := "{\"CallbackTime\":\"yesterday\",\"x\":\"\uFFFD\uFFFD\"}"; text != want {
		t.Errorf("raw_text: got %q, want %q", text, want)
	}
	// The same two copies read again by run-2: nothing changed, nothing written.
	if first != "run-1" || last != "run-1" || copies != 2 {
		t.Errorf("got first %s last %s copies %d; want run-1, run-1 and 2 copies", first, last, copies)
	}
	if xmin != firstXmin {
		t.Errorf("re-reading the reject wrote it (xmin %s after run-1, %s after run-2)", firstXmin, xmin)
	}
}

func TestJSONColumnsAreStoredWhateverTheBodyText(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	same := testRowResponse("j.example", t0, `{"a":1}`, "ok", `[1,2]`)
	differs := testRowResponse("j.example", t0.Add(time.Second), " { \"a\" : 2 }\u00a0", "ok", "not json")
	escape := testRowResponse("j.example", t0.Add(2*time.Second), `{"a":"\u0000"}`, "ok", `"x"`)
	plain := testRow("j.example", t0.Add(3*time.Second), `a=1`, "ok")
	loadWindow(t, s, testOpts("j.example"), []transform.Row{same, differs, escape, plain}, 10)

	tests := []struct{ body, wantReq, wantResp string }{
		{`{"a":1}`, `{"a": 1}`, `[1, 2]`},                // the text cast (flags)
		{" { \"a\" : 2 }\u00a0", `{"a": 2}`, `null`},     // trimmed of a space jsonb refuses (originals)
		{`{"a":"\u0000"}`, "{\"a\": \"\uFFFD\"}", `"x"`}, // an escape jsonb refuses, replaced (originals)
		{`a=1`, `null`, `{"ok": true}`},
	}
	for _, tt := range tests {
		var req, resp string
		if err := s.Pool().QueryRow(ctx, `SELECT coalesce(request_body_json::text, 'null'), coalesce(response_body_json::text, 'null')
			FROM callback_records WHERE request_body = $1`, tt.body).Scan(&req, &resp); err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if req != tt.wantReq || resp != tt.wantResp {
			t.Errorf("body %s: got request_body_json %s response_body_json %s, want %s %s", tt.body, req, resp, tt.wantReq, tt.wantResp)
		}
	}
}

// One rule for text PostgreSQL cannot hold, whichever path stores it: a record's column and a
// reject's raw_text both get one U+FFFD per invalid byte and per NUL.
func TestTextIsSanitizedByOneRuleOnBothPaths(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	const odd = "a\xff\xfeb\x00c"
	const want = "a\uFFFD\uFFFDb\uFFFDc"
	row := testRow("u.example", t0, odd, "ok")
	w, err := s.BeginWindow(ctx, testOpts("u.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	if err := w.AddRows(ctx, []transform.Row{row}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddRejects(ctx, []transform.Reject{{Domain: "u.example", Raw: []byte(odd), Reason: "test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var column, rawText string
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT request_body FROM callback_records), (SELECT raw_text FROM callback_rejects)`).
		Scan(&column, &rawText); err != nil {
		t.Fatal(err)
	}
	if column != want || rawText != want {
		t.Errorf("request_body %q, reject raw_text %q; want both %q", column, rawText, want)
	}
}
