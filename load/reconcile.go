package load

import (
	"context"
	"fmt"
	"time"
)

// Prune makes a window's commit reconcile: rows of the range that the window's staged records
// do not account for are proven extra and move to callback_records_removed, in the same
// transaction as the merge. Use it only when the staged records are a complete read of the
// range for the domain and filter (every record the API holds there, each exactly once):
// anything else would take real rows out of the archive.
type Prune struct {
	// Start and End are the range, half-open: rows with Start <= callback_time < End.
	Start, End time.Time
	// App, Stream and EventTypes are the run's query filter ("" and empty: any): only rows the
	// read could have returned are candidates. Status is never a query filter (see pipeline),
	// so every status of the range is pruned.
	App, Stream string
	EventTypes  []string
	// Reason is written to callback_records_removed.reason.
	Reason string
}

// The reconcile SQL, in one place: removeExtraSQL is the only statement that takes rows out of
// callback_store (callback_records), and callback_records_removed (migration 00040) the only
// place they go. The removed row is kept in its stored form (every column of callback_store,
// from which transform.RecordFromRow gives the record back), not through the view, whose
// computed columns would fail on a row made inconsistent by hand.
//
// A row of the key's domain, in [$2, $3), matching the filter ($4 app, $5 stream, $6 event
// types; NULL or empty for any) is extra when the staged rows hold fewer records of its
// identity (domain, callback_time, identity_hash) than its ordinal + 1: an identity absent
// from staging (0 staged), or an ordinal at or above its identity's staged count. Rows that
// are not extra are not touched (not even locked): their xmin and xmax stay as they are.
// $7 is the run id, $8 the reason. It returns how many rows moved.
const removeExtraSQL = `
WITH staged AS (
	SELECT callback_time, identity_hash, count(*)::integer AS n
	FROM pg_temp.` + stagingTable + `
	WHERE domain = $1::text
	GROUP BY callback_time, identity_hash
), moved AS (
	DELETE FROM ` + storeTable + ` c
	WHERE c.domain = $1::text
	  AND c.callback_time >= $2::timestamptz AND c.callback_time < $3::timestamptz
	  AND ($4::text IS NULL OR c.app = $4::text)
	  AND ($5::text IS NULL OR c.stream = $5::text)
	  AND (cardinality($6::text[]) = 0 OR c.event_type = ANY($6::text[]))
	  AND c.ordinal >= coalesce((SELECT s.n FROM staged s
		WHERE s.callback_time = c.callback_time AND s.identity_hash = c.identity_hash), 0)
	RETURNING c.domain, c.callback_time, c.ordinal, to_jsonb(c) AS record
), kept AS (
	INSERT INTO callback_records_removed (domain, callback_time, ordinal, record, run_id, reason)
	SELECT domain, callback_time, ordinal, record, $7::text, $8::text FROM moved
	RETURNING 1
)
SELECT count(*) FROM kept`

// removeExtra runs removeExtraSQL for the window's Prune in its transaction.
func (w *Window) removeExtra(ctx context.Context) (int64, error) {
	p := w.o.Prune
	var app, stream *string
	if p.App != "" {
		app = &p.App
	}
	if p.Stream != "" {
		stream = &p.Stream
	}
	var n int64
	if err := w.tx.QueryRow(ctx, removeExtraSQL, w.o.Key.Domain, p.Start, p.End, app, stream,
		nonNil(p.EventTypes), w.o.RunID, p.Reason).Scan(&n); err != nil {
		return 0, fmt.Errorf("move extra rows of %s..%s to callback_records_removed: %w",
			p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339), translate(err))
	}
	return n, nil
}
