package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/internal/archivetest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

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
	store, err := load.Open(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Each kind of damage in its own four hours of the range, on records of unique identity:
	// 3 phantom copies, 1 record of an identity the API lacks, 2 lost, 2 with another response
	// side.
	part := func(i int) []callback.Record {
		at := from.Add(time.Duration(i) * 4 * time.Hour)
		return archivetest.Unique(w.sim.Records(d, at, at.Add(4*time.Hour-time.Second)))
	}
	phantoms := part(0)[:3]
	archivetest.LoadRead(t, store, d, phantoms[0], phantoms[0], phantoms[1], phantoms[1], phantoms[2], phantoms[2])
	archivetest.LoadRead(t, store, d, archivetest.Foreign(part(1)[0]))
	damage := func() {
		t.Helper()
		at := from.Add(8 * time.Hour)
		archivetest.DeleteRows(t, w.dbURL, d, at, at.Add(4*time.Hour), 2)
		changed := part(3)[:2]
		archivetest.LoadRead(t, store, d, archivetest.Changed(changed[0]), archivetest.Changed(changed[1]))
	}
	damage()
	res := w.run(nil, verify...)
	for _, want := range []string{"DIFFERENT", "2 missing, 4 extra, 2 changed", "backfill --reconcile",
		"MISSING " + d, "EXTRA " + d, "CHANGED " + d, "archive status=fail code=599, API status="} {
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
	damage()
	res = w.run(nil, append(backfill, "--reconcile")...)
	if res.code != 0 || !strings.Contains(res.stderr, `"records_removed":4`) {
		t.Fatalf("backfill --reconcile: exit %d, want 0 and 4 records removed\n%s", res.code, res.all())
	}
	if res := w.run(nil, verify...); res.code != 0 {
		t.Fatalf("verify --content after backfill --reconcile: exit %d, want 0\n%s", res.code, res.all())
	}
	archivetest.AssertExact(t, w.dbURL, w.sim, d, from, to.Add(-time.Nanosecond))
	var removed, withRun int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE run_id <> '' AND reason LIKE '%reconcile%'
		AND record->>'request_body' IS NOT NULL) FROM callback_records_removed`).Scan(&removed, &withRun); err != nil {
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

// A second the reader cannot prove complete (more records than a page, answers shuffled and
// capped) is reported and fails verify --content, even though the archive holds it exactly.
func TestVerifyContentReportsADenseSecond(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	const d = "x.example.com"
	w := newWorld(t, livesim.Config{Seed: 32, Domains: []string{d}, RecordsPerDay: 200, DaysBack: 1,
		Now: func() time.Time { return end }}, true)
	from, to := end.Add(-6*time.Hour), end.Add(-2*time.Hour)
	dense := from.Add(time.Hour)
	w.sim.AddBurst(d, dense, 1500)
	if res := w.run(nil, "sync", "--initial-lookback", "10h"); res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	if err := w.sim.SetOrder(livesim.OrderShuffle); err != nil {
		t.Fatal(err)
	}
	if err := w.sim.SetResultCap(1000); err != nil {
		t.Fatal(err)
	}
	res := w.run(nil, "verify", "--content", "--start", from.UTC().Format(time.RFC3339), "--end", to.UTC().Format(time.RFC3339))
	// The dense second is named; its archived rows, not read, are not compared (not "extra").
	for _, want := range []string{"second(s) not read provably complete, first [", "0 missing, 0 extra, 0 changed",
		"second(s) could not be read provably complete"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("verify --content does not say %q", want)
		}
	}
	if second := `"second":"` + dense.UTC().Format("2006-01-02T15:04:05.000Z") + `"`; !strings.Contains(res.stderr, second) {
		t.Errorf("verify --content's log does not name the dense second (%s)", second)
	}
	if res.code != 1 || t.Failed() {
		t.Fatalf("verify --content over a dense second: exit %d, want 1\n%s", res.code, res.all())
	}
}
