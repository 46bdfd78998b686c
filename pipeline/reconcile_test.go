package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
)

// Ways to make an archive wrong on purpose, each on n rows of the range [$1, $2): the kinds of
// damage a faulty read or a hand leaves behind.
const (
	// A phantom copy: the same record again, under the next ordinal of its identity.
	corruptPhantomCopies = `
CREATE TEMP TABLE phantom ON COMMIT DROP AS
	SELECT * FROM callback_records c
	WHERE callback_time >= $1 AND callback_time < $2
	  AND NOT EXISTS (SELECT 1 FROM callback_records o WHERE o.domain = c.domain AND o.callback_time = c.callback_time
	                  AND o.identity_hash = c.identity_hash AND o.ordinal = c.ordinal + 1)
	ORDER BY callback_time, identity_hash LIMIT $3;
UPDATE phantom SET ordinal = ordinal + 1;
INSERT INTO callback_records SELECT * FROM phantom;`
	// A phantom of an identity the API does not hold.
	corruptForeign = `
CREATE TEMP TABLE foreign_row ON COMMIT DROP AS
	SELECT * FROM callback_records WHERE callback_time >= $1 AND callback_time < $2
	ORDER BY callback_time DESC, identity_hash LIMIT $3;
UPDATE foreign_row SET identity_hash = sha256(identity_hash), request_body = 'phantom';
INSERT INTO callback_records SELECT * FROM foreign_row;`
	// Missing records.
	corruptDelete = `
DELETE FROM callback_records WHERE (domain, callback_time, identity_hash, ordinal) IN (
	SELECT domain, callback_time, identity_hash, ordinal FROM callback_records
	WHERE callback_time >= $1 AND callback_time < $2 AND ordinal = 0
	ORDER BY identity_hash LIMIT $3)`
	// A changed response side.
	corruptChange = `
UPDATE callback_records SET status = 'fail', response_body = 'changed', content_hash = sha256(content_hash)
WHERE (domain, callback_time, identity_hash, ordinal) IN (
	SELECT domain, callback_time, identity_hash, ordinal FROM callback_records
	WHERE callback_time >= $1 AND callback_time < $2
	ORDER BY content_hash LIMIT $3)`
)

// corrupt runs one of the corrupt* statements (several statements run in one transaction).
func (h *harness) corrupt(stmt string, from, to time.Time, n int) {
	h.t.Helper()
	ctx := context.Background()
	tx, err := h.store.Pool().Begin(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, s := range splitStatements(stmt) {
		if _, err := tx.Exec(ctx, s, from, to, n); err != nil {
			// Statements that take no parameters are run without them.
			if _, err2 := tx.Exec(ctx, s); err2 != nil {
				h.t.Fatalf("%s: %v", s, err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func splitStatements(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == ';' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if rest := s[start:]; len(trimSpace(rest)) > 0 {
		out = append(out, rest)
	}
	return out
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\n' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

func TestReconcilingBackfillRepairsAWrongArchive(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	const d = "r.example.com"
	h := newHarness(t, livesim.Config{Seed: 12, Domains: []string{d}, RecordsPerDay: 3000, DaysBack: 1, RateLimit: -1,
		Now: func() time.Time { return end }})
	// Dense seconds: 40 records each, 5 seconds apart.
	for i := range 20 {
		h.sim.AddBurst(d, end.Add(-2*time.Hour+time.Duration(i)*5*time.Second), 40)
	}
	o := opts{lookback: 4 * time.Hour, pageSize: 200, rate: 1000}
	mustSucceed(t, h.pipeline(o).Sync(context.Background(), []string{d}))
	h.assertExact(d, end.Add(-3*time.Hour-50*time.Minute), end.Add(-3*time.Minute))

	from, to := end.Add(-3*time.Hour), end.Add(-time.Hour)
	h.corrupt(corruptPhantomCopies, from, to, 5)
	h.corrupt(corruptForeign, from, to, 1)
	h.corrupt(corruptDelete, from, to, 4)
	h.corrupt(corruptChange, from, to, 3)
	inRange := "SELECT count(*) FROM callback_records WHERE callback_time >= $1 AND callback_time < $2"
	if got, want := h.count(inRange, from, to), len(h.sim.Records(d, from, to.Add(-time.Nanosecond)))+5+1-4; got != want {
		t.Fatalf("the corrupted range holds %d rows, want %d", got, want)
	}

	// Answers come in a fresh random order within each second now: the reconciling read must
	// still be complete.
	if err := h.sim.SetOrder(livesim.OrderShuffleTies); err != nil {
		t.Fatal(err)
	}
	plan, err := extract.PlanBackfill(end.Add(-3*time.Hour-50*time.Minute), end.Add(-30*time.Minute), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o.reconcile = true
	p := h.pipeline(o)
	res := p.Backfill(context.Background(), []string{d}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.Removed != 6 || c.New != 4 || c.Updated != 3 {
		t.Errorf("reconcile counts %+v, want Removed 6 (5 phantom copies, 1 foreign), New 4, Updated 3", c)
	}
	h.assertExact(d, end.Add(-3*time.Hour-50*time.Minute), end.Add(-3*time.Minute))
	if n := h.count(`SELECT count(*) FROM callback_records_removed WHERE domain = $1 AND reason = $2 AND run_id = $3
		AND callback_time >= $4 AND callback_time < $5`, d, ReconcileReason, p.cfg.RunID, from, to); n != 6 {
		t.Errorf("callback_records_removed holds %d rows of the run with its reason, want 6", n)
	}
	if n := h.count(`SELECT count(*) FROM callback_records_removed WHERE record->>'request_body' = 'phantom'`); n != 1 {
		t.Errorf("the foreign phantom's content is not in callback_records_removed (%d rows)", n)
	}

	// Reconciling the same range again finds nothing to do and writes nothing.
	before := h.xmins()
	res = h.pipeline(o).Backfill(context.Background(), []string{d}, plan)
	mustSucceed(t, res)
	if c := res.Domains[0].Counts; c.Removed != 0 || c.New != 0 || c.Updated != 0 {
		t.Errorf("second reconcile counts %+v, want nothing removed or written", c)
	}
	after := h.xmins()
	if len(after) != len(before) {
		t.Fatalf("rows: %d before, %d after", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("row %s rewritten by a second reconcile", k)
		}
	}
}
