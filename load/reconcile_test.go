package load

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/transform"
)

// versions maps each row's key (body/ordinal) to its xmin and xmax.
func versions(t *testing.T, s *Store) map[string]string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT domain || '/' || request_body || '/' || ordinal,
		xmin::text || ' ' || xmax::text FROM callback_store`)
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

func TestPruneMovesExtraRowsOnly(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	const d = "p.example"
	with := func(r transform.Row, f func(*transform.Row)) transform.Row { f(&r); return r }
	a := testRow(d, t0, "a", "ok")
	b := testRow(d, t0.Add(time.Second), "b", "fail")
	c := testRow(d, t0.Add(2*time.Second), "c", "ok")
	otherApp := with(testRow(d, t0.Add(3*time.Second), "other-app", "ok"), func(r *transform.Row) { r.App = "shop" })
	otherStream := with(testRow(d, t0.Add(3*time.Second), "other-stream", "ok"), func(r *transform.Row) { r.Stream = "s2" })
	otherEvent := with(testRow(d, t0.Add(4*time.Second), "other-event", "ok"), func(r *transform.Row) { r.EventType = "snapshot" })
	atEnd := testRow(d, t0.Add(10*time.Second), "at-end", "ok")
	before := testRow(d, t0.Add(-time.Second), "before", "ok")
	otherDomain := testRow("q.example", t0.Add(5*time.Second), "other-domain", "ok")
	missing := testRow(d, t0.Add(6*time.Second), "missing", "ok")

	// The archive as an earlier faulty read left it: three copies of a (one real), b (gone
	// upstream), c, and rows the reconcile must not touch.
	old := []transform.Row{a, a, a, b, c, otherApp, otherStream, otherEvent, atEnd, before}
	loadWindow(t, s, testOpts(d), old, 4)
	loadWindow(t, s, testOpts("q.example"), []transform.Row{otherDomain}, 4)
	v0 := versions(t, s)
	if len(v0) != 11 {
		t.Fatalf("archive before: %d rows, want 11", len(v0))
	}

	o := testOpts(d)
	o.RunID = "run-reconcile"
	o.Prune = &Prune{Start: t0, End: t0.Add(10 * time.Second), App: "live", Stream: "s1", EventTypes: []string{"push"},
		Reason: "not in a complete read"}
	// The complete read: one a, c, and a record the archive lacks.
	got := loadWindow(t, s, o, []transform.Row{c, missing, a}, 2)
	if want := (Counts{New: 1, Unchanged: 2, Removed: 3}); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}

	v1 := versions(t, s)
	for _, k := range []string{"p.example/a/1", "p.example/a/2", "p.example/b/0"} {
		if _, ok := v1[k]; ok {
			t.Errorf("extra row %s is still archived", k)
		}
	}
	if _, ok := v1["p.example/missing/0"]; !ok {
		t.Error("the missing record was not added")
	}
	for _, k := range []string{"p.example/a/0", "p.example/c/0", "p.example/other-app/0", "p.example/other-stream/0",
		"p.example/other-event/0", "p.example/at-end/0", "p.example/before/0", "q.example/other-domain/0"} {
		if v1[k] != v0[k] || v0[k] == "" {
			t.Errorf("row %s: xmin/xmax %q before, %q after; want it untouched", k, v0[k], v1[k])
		}
	}
	if len(v1) != 9 {
		t.Errorf("archive after: %d rows, want 9", len(v1))
	}

	// The removed rows keep their content, the run id and the reason.
	rows, err := s.Pool().Query(ctx, `SELECT domain, callback_time, ordinal, record->>'request_body', record->>'status',
		record->>'identity_hash', record->>'response_header', run_id, reason
		FROM callback_records_removed ORDER BY callback_time, ordinal`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type removed struct {
		domain             string
		at                 time.Time
		ordinal            int
		body, status, hash string
		rawBody            string
		runID, reason      string
	}
	hexOf := func(r transform.Row) string { return strconv.FormatInt(r.IdentityKey(), 10) }
	want := []removed{
		{d, a.CallbackTime, 1, "a", "ok", hexOf(a), a.ResponseHeader, "run-reconcile", "not in a complete read"},
		{d, a.CallbackTime, 2, "a", "ok", hexOf(a), a.ResponseHeader, "run-reconcile", "not in a complete read"},
		{d, b.CallbackTime, 0, "b", "fail", hexOf(b), b.ResponseHeader, "run-reconcile", "not in a complete read"},
	}
	var gotRemoved []removed
	for rows.Next() {
		var r removed
		if err := rows.Scan(&r.domain, &r.at, &r.ordinal, &r.body, &r.status, &r.hash, &r.rawBody, &r.runID, &r.reason); err != nil {
			t.Fatal(err)
		}
		gotRemoved = append(gotRemoved, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(gotRemoved) != len(want) {
		t.Fatalf("callback_records_removed holds %d rows, want %d: %+v", len(gotRemoved), len(want), gotRemoved)
	}
	for i := range want {
		g := gotRemoved[i]
		g.at = g.at.UTC()
		if g != want[i] {
			t.Errorf("removed row %d:\n got %+v\nwant %+v", i, g, want[i])
		}
	}

	// Reconciling again with the same complete read finds nothing extra and writes nothing.
	v2 := versions(t, s)
	if got := loadWindow(t, s, o, []transform.Row{a, c, missing}, 5); got != (Counts{Unchanged: 3}) {
		t.Fatalf("second reconcile: %+v, want Unchanged 3", got)
	}
	v3 := versions(t, s)
	for k, v := range v2 {
		if v3[k] != v {
			t.Errorf("second reconcile rewrote %s: %s -> %s", k, v, v3[k])
		}
	}
}

func TestPruneWithoutFilterAndEmptyRead(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	const d = "e.example"
	x := testRow(d, t0, "x", "ok")
	y := testRow(d, t0.Add(time.Minute), "y", "ok")
	y.App, y.EventType = "shop", "snapshot"
	loadWindow(t, s, testOpts(d), []transform.Row{x, y}, 10)
	o := testOpts(d)
	o.Prune = &Prune{Start: t0, End: t0.Add(time.Hour), Reason: "empty read"}
	if got := loadWindow(t, s, o, nil, 10); got != (Counts{Removed: 2}) {
		t.Fatalf("an empty complete read: %+v, want Removed 2", got)
	}
	var left, moved int
	if err := s.Pool().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM callback_records),
		(SELECT count(*) FROM callback_records_removed WHERE reason = 'empty read' AND run_id = 'run-test')`).Scan(&left, &moved); err != nil {
		t.Fatal(err)
	}
	if left != 0 || moved != 2 {
		t.Fatalf("%d rows left, %d moved; want 0 and 2", left, moved)
	}
	// Without Prune, a window never removes anything.
	loadWindow(t, s, testOpts(d), []transform.Row{x, y}, 10)
	if got := loadWindow(t, s, testOpts(d), nil, 10); got != (Counts{}) {
		t.Fatalf("an empty read without Prune: %+v, want nothing", got)
	}
}
