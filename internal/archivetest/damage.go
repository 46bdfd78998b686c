package archivetest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// Ways to make an archive wrong on purpose, as a faulty read or a hand leaves it. They go
// through the loader and the analysts' view of callback_records, never the storage layout.

// LoadRead loads recs into domain's archive as one window read by a faulty reader would:
// without reconciling, a record given twice becomes a phantom copy (the next ordinal of its
// identity), a record the API does not hold an extra row, and a record with another response
// side updates its row in place.
func LoadRead(t testing.TB, store *load.Store, domain string, recs ...callback.Record) load.Counts {
	t.Helper()
	ctx := context.Background()
	rows := make([]transform.Row, 0, len(recs))
	var lo, hi time.Time
	for _, r := range recs {
		row, err := transform.Normalize(r)
		if err != nil {
			t.Fatalf("damage: normalize %+v: %v", r, err)
		}
		if lo.IsZero() || row.CallbackTime.Before(lo) {
			lo = row.CallbackTime
		}
		if row.CallbackTime.After(hi) {
			hi = row.CallbackTime
		}
		rows = append(rows, row)
	}
	w, err := store.BeginWindow(ctx, load.WindowOpts{Key: load.CheckpointKey{Domain: domain}, RunID: "damage", Start: lo, End: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	if err := w.AddRows(ctx, rows); err != nil {
		t.Fatal(err)
	}
	c, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Foreign returns rec with another request body: a record of an identity the API does not hold.
func Foreign(rec callback.Record) callback.Record {
	rec.CallbackBody = `{"phantom":true}`
	rec.Raw = nil
	return rec
}

// Changed returns rec with another response side (status fail, response code 599).
func Changed(rec callback.Record) callback.Record {
	rec.CallbackStatus, rec.CallbackResponseCode, rec.CallbackErrorMessage = "fail", "599", "changed on purpose"
	rec.Raw = nil
	return rec
}

// Unique returns the records of recs whose identity no other record of recs shares, in order.
func Unique(recs []callback.Record) []callback.Record {
	n := map[string]int{}
	for i := range recs {
		n[string(transform.IdentityHash(&recs[i]))]++
	}
	var out []callback.Record
	for i := range recs {
		if n[string(transform.IdentityHash(&recs[i]))] == 1 {
			out = append(out, recs[i])
		}
	}
	return out
}

// DeleteRows deletes n rows of domain with from <= callback_time < to (the first by time and
// identity) and fails the test unless n were deleted.
func DeleteRows(t testing.TB, dbURL, domain string, from, to time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, `DELETE FROM callback_records WHERE (domain, callback_time, identity_hash, ordinal) IN (
		SELECT domain, callback_time, identity_hash, ordinal FROM callback_records
		WHERE domain = $1 AND callback_time >= $2 AND callback_time < $3
		ORDER BY callback_time, identity_hash, ordinal LIMIT $4)`, domain, from, to, n)
	if err != nil || tag.RowsAffected() != int64(n) {
		t.Fatalf("damage: deleted %d rows (err %v), want %d", tag.RowsAffected(), err, n)
	}
}
