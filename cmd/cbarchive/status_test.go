package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

func TestErrorCellShowsTheCauseFirstAndCutsAtTheEnd(t *testing.T) {
	t.Parallel()
	long := "window [2026-01-01T00:00:00Z, 2026-01-02T00:00:00Z] of live1.example.com page 1: DescribeLiveCallbackData: HTTP 403 SignatureDoesNotMatch (request r-1): the signature does not match; check VOLC_ACCESSKEY and VOLC_SECRETKEY"
	cause := causeOf(long)
	if cause != "SignatureDoesNotMatch" {
		t.Fatalf("cause %q, want SignatureDoesNotMatch", cause)
	}
	cell := errorCell(cause, long)
	if !strings.HasPrefix(cell, "SignatureDoesNotMatch: window [") || !strings.HasSuffix(cell, "…") || len([]rune(cell)) != 101 {
		t.Errorf("cell %q: want the cause, then the error cut to 100 characters and an ellipsis", cell)
	}
	for _, tt := range []struct{ text, cause string }{
		{"ListDomainDetail: HTTP 401 InvalidAccessKey (request x): bad key", "InvalidAccessKey"},
		{"read checkpoint of d: ERROR: permission denied for table sync_checkpoints (SQLSTATE 42501)", "insufficient privilege"},
		{"lock domain d: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)", "database shut down"},
		{"check schema: no migration applied: database schema is outdated: run `cbarchive migrate up`", "schema not migrated"},
		{"something else", ""},
	} {
		if got := causeOf(tt.text); got != tt.cause {
			t.Errorf("causeOf(%q) = %q, want %q", tt.text, got, tt.cause)
		}
	}
	if short := errorCell("", "short"); short != "short" {
		t.Errorf("a short error without a cause became %q", short)
	}
}

func TestEveryFailedRunLeavesATraceThatStatusShows(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, NumDomains: 2, RecordsPerDay: 20, DaysBack: 1}, true)
	wrong := []string{"VOLC_SECRETKEY=wrong-secret"}

	// 1. Discovery fails: a run-level row, shown while no domain has run since.
	if res := w.run(wrong, "sync"); res.code != 2 {
		t.Fatalf("sync with a wrong secret: exit %d\n%s", res.code, res.all())
	}
	if n := countRuns(t, w.dbURL, "domain = '' AND outcome = 'failed' AND error LIKE '%SignatureDoesNotMatch%'"); n != 1 {
		t.Errorf("%d run-level failed rows in sync_runs, want 1", n)
	}
	table := w.run(nil, "status")
	if table.code != 0 || !strings.Contains(table.stdout, "(before any domain)") || !strings.Contains(table.stdout, "(before any domain)  -       -          -    ") ||
		!strings.Contains(table.stdout, "failed   SignatureDoesNotMatch: list domains (ListDomainDetail)") {
		t.Errorf("status after a failed discovery: exit %d\n%s", table.code, table.all())
	}

	// 2. A named domain fails before its first checkpoint: listed, with no watermark and its cause.
	if res := w.run(wrong, "sync", "--domains", "live1.example.com", "--allow-unknown-domains"); res.code != 2 {
		t.Fatalf("sync --domains with a wrong secret: exit %d\n%s", res.code, res.all())
	}
	st := w.run(nil, "status", "--json")
	var statuses []map[string]any
	if err := json.Unmarshal([]byte(st.stdout), &statuses); err != nil {
		t.Fatalf("status --json: %v\n%s", err, st.all())
	}
	if len(statuses) != 1 {
		t.Fatalf("status --json lists %d entries, want live1 alone (the run-level failure is older):\n%s", len(statuses), st.stdout)
	}
	got := statuses[0]
	if got["domain"] != "live1.example.com" || got["watermark"] != nil || got["last_outcome"] != "failed" ||
		got["last_error_cause"] != "SignatureDoesNotMatch" || !strings.Contains(got["last_error"].(string), "SignatureDoesNotMatch") {
		t.Errorf("status of a domain that never committed: %v", got)
	}
	table = w.run(nil, "status")
	if !strings.Contains(table.stdout, "live1.example.com") || !strings.Contains(table.stdout, "none yet") ||
		!strings.Contains(table.stdout, "SignatureDoesNotMatch: window") {
		t.Errorf("status table:\n%s", table.all())
	}

	// 3. A good run: both domains have checkpoints and succeeded.
	if res := w.run(nil, "sync"); res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	table = w.run(nil, "status")
	if strings.Contains(table.stdout, "failed") || strings.Count(table.stdout, "success") != 2 {
		t.Errorf("status after a good run:\n%s", table.all())
	}
}

func countRuns(t *testing.T, dbURL, where string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM sync_runs WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestADomainThatFailsBeforeItsRunStartsIsRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, Domains: []string{"held.example.com"}, RecordsPerDay: 20, DaysBack: 1}, true)
	ctx := context.Background()
	store, err := load.Open(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Another run holds the domain: a backfill that cannot get it fails before its range starts.
	lease, err := store.Lock(ctx, load.CheckpointKey{Domain: "held.example.com"}, "another run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	start := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(-1 * time.Hour).UTC().Format(time.RFC3339)
	res := w.run(nil, "backfill", "--start", start, "--end", end, "--lock-timeout", "1s")
	if res.code != 1 {
		t.Fatalf("backfill of a held domain: exit %d, want 1\n%s", res.code, res.all())
	}
	if n := countRuns(t, w.dbURL, "domain = 'held.example.com' AND command = 'backfill' AND outcome = 'failed' AND error LIKE '%lock%'"); n != 1 {
		t.Errorf("%d failed backfill rows for the held domain, want 1", n)
	}
	st := w.run(nil, "status")
	if !strings.Contains(st.stdout, "held.example.com") || !strings.Contains(st.stdout, "failed") {
		t.Errorf("status does not show the failed domain:\n%s", st.all())
	}
}

// Ranges that could not be archived (sync_gaps) and domains found by account-wide counts
// (discovered_domains) are shown by status, in the table's notes and in --json.
func TestStatusShowsGapsAndUnlistedDomains(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, Domains: []string{"live1.example.com"}, UnlistedDomains: []string{"gone.example.com"},
		RecordsPerDay: 50, DaysBack: 2}, true)
	if res := w.run(nil, "sync"); res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO sync_gaps (domain, filter_key, gap_start, gap_end, reason, run_id)
		VALUES ('live1.example.com', '', '2026-01-02T03:04:05Z', '2026-01-02T03:04:06Z', 'a dense second', 'r1')`); err != nil {
		t.Fatal(err)
	}
	table := w.run(nil, "status")
	if !strings.Contains(table.stdout, "GAP live1.example.com 2026-01-02T03:04:05Z..2026-01-02T03:04:06Z: a dense second") ||
		!strings.Contains(table.stdout, "NOTE gone.example.com: not listed by ListDomainDetail") {
		t.Errorf("status:\n%s", table.all())
	}
	var statuses []DomainStatus
	if err := json.Unmarshal([]byte(w.run(nil, "status", "--json").stdout), &statuses); err != nil {
		t.Fatal(err)
	}
	var sawGap, sawUnlisted bool
	for _, d := range statuses {
		sawGap = sawGap || (d.Domain == "live1.example.com" && len(d.Gaps) == 1 && d.Gaps[0].Reason == "a dense second")
		sawUnlisted = sawUnlisted || (d.Domain == "gone.example.com" && d.Unlisted && d.Watermark != nil)
	}
	if !sawGap || !sawUnlisted {
		t.Errorf("status --json: %+v", statuses)
	}
}
