package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/internal/archivetest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

// Ways to make an archive wrong on purpose, each on $3 rows of [$1, $2).
var corruptions = []struct{ name, sql string }{
	// Phantom copies, as a faulty read leaves them: the same record again under the next ordinal.
	{"phantom copies", `
CREATE TEMP TABLE phantom ON COMMIT DROP AS
	SELECT * FROM callback_records c WHERE callback_time >= $1 AND callback_time < $2
	  AND NOT EXISTS (SELECT 1 FROM callback_records o WHERE o.domain = c.domain AND o.callback_time = c.callback_time
	                  AND o.identity_hash = c.identity_hash AND o.ordinal = c.ordinal + 1)
	ORDER BY callback_time, identity_hash LIMIT $3;
UPDATE phantom SET ordinal = ordinal + 1;
INSERT INTO callback_records SELECT * FROM phantom`},
	// A phantom of an identity the API does not hold.
	{"foreign identity", `
CREATE TEMP TABLE foreign_row ON COMMIT DROP AS
	SELECT * FROM callback_records WHERE callback_time >= $1 AND callback_time < $2 ORDER BY callback_time, identity_hash LIMIT $3;
UPDATE foreign_row SET identity_hash = sha256(identity_hash), request_body = 'phantom';
INSERT INTO callback_records SELECT * FROM foreign_row`},
	// Lost records.
	{"deleted", `
DELETE FROM callback_records WHERE (domain, callback_time, identity_hash, ordinal) IN (
	SELECT domain, callback_time, identity_hash, ordinal FROM callback_records
	WHERE callback_time >= $1 AND callback_time < $2 ORDER BY callback_time, identity_hash LIMIT $3)`},
	// A response side that no longer matches the API's.
	{"changed", `
UPDATE callback_records SET status = 'fail', response_code = 599, content_hash = sha256(content_hash)
WHERE (domain, callback_time, identity_hash, ordinal) IN (
	SELECT domain, callback_time, identity_hash, ordinal FROM callback_records
	WHERE callback_time >= $1 AND callback_time < $2 ORDER BY callback_time, identity_hash LIMIT $3)`},
}

func corrupt(t *testing.T, conn *pgx.Conn, sql string, from, to time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, stmt := range strings.Split(sql, ";") {
		args := []any{from, to, n}
		if !strings.Contains(stmt, "$1") {
			args = nil
		}
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyContentFindsAWrongArchiveAndReconcileRepairsIt(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	const d = "x.example.com"
	w := newWorld(t, livesim.Config{Seed: 31, Domains: []string{d}, RecordsPerDay: 3000, DaysBack: 2,
		Now: func() time.Time { return end }}, true)
	from, to := end.Add(-40*time.Hour), end.Add(-20*time.Hour)
	// Dense seconds: 60 records each.
	for i := range 30 {
		w.sim.AddBurst(d, from.Add(time.Hour+time.Duration(i)*37*time.Second), 60)
	}
	if res := w.run(nil, "sync", "--initial-lookback", "47h"); res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	// From now on answers come fully shuffled on every request, and no query counts or serves
	// more than 1,000 results: what the API's documentation allows.
	if err := w.sim.SetOrder(livesim.OrderShuffle); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.SetResultCap(1000); err != nil {
		t.Fatal(err)
	}
	rng := []string{"--start", from.UTC().Format(time.RFC3339), "--end", to.UTC().Format(time.RFC3339)}
	verify := append([]string{"verify", "--content"}, rng...)
	if res := w.run(nil, verify...); res.code != 0 || !strings.Contains(res.stdout, "the archive's records equal a complete read of the API") {
		t.Fatalf("verify --content of an exact archive: exit %d\n%s", res.code, res.all())
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Each kind of damage in its own four hours of the range.
	counts := []int{3, 1, 2, 2}
	for i, c := range corruptions {
		at := from.Add(time.Duration(i) * 4 * time.Hour)
		corrupt(t, conn, c.sql, at, at.Add(4*time.Hour), counts[i])
	}
	res := w.run(nil, verify...)
	for _, want := range []string{"DIFFERENT", "2 missing, 4 extra, 2 changed", "backfill --reconcile",
		"MISSING " + d, "EXTRA " + d, "CHANGED " + d, "status=fail code=599"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("verify --content of a wrong archive does not say %q", want)
		}
	}
	if res.code != 1 || t.Failed() {
		t.Fatalf("verify --content of a wrong archive: exit %d, want 1\n%s", res.code, res.all())
	}

	// The repair. A plain backfill, even through a stable order (under an unstable one it is
	// itself a faulty read today), adds and updates, but keeps the phantoms.
	setOrder := func(o livesim.Order, resultCap int) {
		t.Helper()
		if err := w.sim.SetOrder(o); err != nil {
			t.Fatal(err)
		}
		if err := w.sim.SetResultCap(resultCap); err != nil {
			t.Fatal(err)
		}
	}
	setOrder(livesim.OrderStable, 0)
	backfill := append([]string{"backfill"}, rng...)
	if res := w.run(nil, backfill...); res.code != 0 {
		t.Fatalf("backfill: exit %d\n%s", res.code, res.all())
	}
	setOrder(livesim.OrderShuffle, 1000)
	if res := w.run(nil, verify...); res.code != 1 || !strings.Contains(res.stdout, "0 missing, 4 extra, 0 changed") {
		t.Fatalf("verify --content after a plain backfill: exit %d, want 1 with the 4 phantoms left\n%s", res.code, res.all())
	}
	corrupt(t, conn, corruptions[2].sql, from.Add(8*time.Hour), from.Add(12*time.Hour), 2)
	corrupt(t, conn, corruptions[3].sql, from.Add(12*time.Hour), from.Add(16*time.Hour), 2)
	res = w.run(nil, append(backfill, "--reconcile")...)
	if res.code != 0 || !strings.Contains(res.stderr, `"records_removed":4`) {
		t.Fatalf("backfill --reconcile: exit %d, want 0 and 4 records removed\n%s", res.code, res.all())
	}
	if res := w.run(nil, verify...); res.code != 0 {
		t.Fatalf("verify --content after backfill --reconcile: exit %d, want 0\n%s", res.code, res.all())
	}
	archivetest.AssertExact(t, w.dbURL, w.sim, d, from, to.Add(-time.Nanosecond))
	var removed, withRun int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE run_id <> '' AND reason LIKE '%reconcile%'
		AND record ? 'raw') FROM callback_records_removed`).Scan(&removed, &withRun); err != nil {
		t.Fatal(err)
	}
	if removed != 4 || withRun != 4 {
		t.Fatalf("callback_records_removed: %d rows, %d with run id, reason and content; want 4", removed, withRun)
	}
}

func TestCompareContent(t *testing.T) {
	t.Parallel()
	row := func(id, content string, ordinal int32) load.ContentRow {
		return load.ContentRow{IdentityHash: []byte(id), ContentHash: []byte(content), Ordinal: ordinal, Status: "s" + content}
	}
	tests := []struct {
		name                    string
		read, archived          []load.ContentRow
		missing, extra, changed int
	}{
		{"equal, in any order", []load.ContentRow{row("a", "1", -1), row("b", "2", -1)}, []load.ContentRow{row("b", "2", 0), row("a", "1", 0)}, 0, 0, 0},
		{"k identical records are k rows", []load.ContentRow{row("a", "1", -1), row("a", "1", -1)}, []load.ContentRow{row("a", "1", 0), row("a", "1", 1)}, 0, 0, 0},
		{"a phantom copy", []load.ContentRow{row("a", "1", -1)}, []load.ContentRow{row("a", "1", 0), row("a", "1", 1)}, 0, 1, 0},
		{"an identity the API lacks", []load.ContentRow{row("a", "1", -1)}, []load.ContentRow{row("a", "1", 0), row("z", "9", 0)}, 0, 1, 0},
		{"a missing copy", []load.ContentRow{row("a", "1", -1), row("a", "1", -1)}, []load.ContentRow{row("a", "1", 0)}, 1, 0, 0},
		{"a missing identity", []load.ContentRow{row("a", "1", -1), row("b", "2", -1)}, []load.ContentRow{row("a", "1", 0)}, 1, 0, 0},
		{"a changed response side", []load.ContentRow{row("a", "2", -1)}, []load.ContentRow{row("a", "1", 0)}, 0, 0, 1},
		{"changed and extra in one identity", []load.ContentRow{row("a", "2", -1)}, []load.ContentRow{row("a", "1", 0), row("a", "3", 1)}, 0, 1, 1},
		{"empty read", nil, []load.ContentRow{row("a", "1", 0)}, 0, 1, 0},
		{"empty archive", []load.ContentRow{row("a", "1", -1)}, nil, 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := compareContent("d", tt.read, tt.archived)
			if d.missing != tt.missing || d.extra != tt.extra || d.changed != tt.changed {
				t.Fatalf("missing %d extra %d changed %d, want %d %d %d", d.missing, d.extra, d.changed, tt.missing, tt.extra, tt.changed)
			}
			if n := len(d.examples); n != tt.missing+tt.extra+tt.changed {
				t.Errorf("%d examples for %d differences", n, tt.missing+tt.extra+tt.changed)
			}
			for _, x := range d.examples {
				if !strings.HasPrefix(x.text, "d ") {
					t.Errorf("example %q does not name the domain", x.text)
				}
			}
		})
	}
}
