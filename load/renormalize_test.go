package load

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/transform"
)

// renormRows builds n rows with transform.Normalize, then marks them as made by rules version 0
// with a column the old rules got wrong.
func renormRows(t *testing.T, s *Store, n int) {
	t.Helper()
	var rows []transform.Row
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		row, err := transform.Normalize(callback.Record{
			Domain: "r.example.com", App: "live", Stream: fmt.Sprintf("s%d", i), CallbackTime: at.Format(time.RFC3339),
			CallbackEventType: "push_start", CallbackMethod: "post", CallbackAddress: "http://h/cb", CallbackStatus: "success",
			CallbackBody: `{"a":1}`, CallbackResponseCode: " 200 ", CallbackResponseHeader: "HTTP/1.1 200 OK\nX-A: 1",
			CallbackResponseBody: "ok", CallbackResponseTime: at.Add(5 * time.Millisecond).Format(time.RFC3339Nano),
		})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	loadWindow(t, s, testOpts("r.example.com"), rows, 100)
	if _, err := s.Pool().Exec(context.Background(),
		`UPDATE callback_records SET rules_version = 0, response_code = NULL, response_headers = '{}', response_status_line = NULL,
			latency_ms = -7`); err != nil {
		t.Fatal(err)
	}
}

func derive(stored *transform.Row) (transform.Row, error) {
	rec, err := transform.RecordFromRow(stored)
	if err != nil {
		return transform.Row{}, err
	}
	return transform.Normalize(rec)
}

func TestRenormalizeRederivesOldRowsInPlaceAndResumes(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	renormRows(t, s, 250)
	ctx := context.Background()
	var keysBefore string
	if err := s.Pool().QueryRow(ctx, `SELECT string_agg(identity_hash::text || '/' || ordinal, ',' ORDER BY callback_time) FROM callback_records`).Scan(&keysBefore); err != nil {
		t.Fatal(err)
	}

	// Stop after the first batch: the next run continues with the rest.
	stop, cancel := context.WithCancel(ctx)
	res, err := s.Renormalize(stop, RenormalizeOpts{Batch: 100, Version: transform.RulesVersion, Derive: derive,
		Progress: func(int64) { cancel() }})
	if !errors.Is(err, context.Canceled) || res.Rows != 100 {
		t.Fatalf("first run: %+v, %v; want 100 rows then cancelled", res, err)
	}
	res, err = s.Renormalize(ctx, RenormalizeOpts{Batch: 100, Version: transform.RulesVersion, Derive: derive})
	if err != nil || res.Rows != 150 || res.Changed != 150 {
		t.Fatalf("second run: %+v, %v; want the 150 remaining rows changed", res, err)
	}
	var old, bad int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE rules_version <> $1),
			count(*) FILTER (WHERE response_code IS DISTINCT FROM 200 OR response_status_line IS DISTINCT FROM 'HTTP/1.1 200 OK'
			                 OR response_headers->>'x-a' IS DISTINCT FROM '1' OR latency_ms IS DISTINCT FROM 5)
		FROM callback_records`, transform.RulesVersion).Scan(&old, &bad); err != nil {
		t.Fatal(err)
	}
	if old != 0 || bad != 0 {
		t.Errorf("%d rows at an old version, %d with wrong columns after renormalize", old, bad)
	}
	var keysAfter string
	if err := s.Pool().QueryRow(ctx, `SELECT string_agg(identity_hash::text || '/' || ordinal, ',' ORDER BY callback_time) FROM callback_records`).Scan(&keysAfter); err != nil {
		t.Fatal(err)
	}
	if keysAfter != keysBefore {
		t.Error("renormalize changed row keys")
	}
	// Nothing left to do: a third run touches nothing.
	res, err = s.Renormalize(ctx, RenormalizeOpts{All: true, Version: transform.RulesVersion, Derive: derive})
	if err != nil || res.Rows != 250 || res.Changed != 0 {
		t.Errorf("--all over current rows: %+v, %v; want 250 examined, 0 changed", res, err)
	}
}

func TestRenormalizeSinceOnlyTouchesLaterRows(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	renormRows(t, s, 10)
	res, err := s.Renormalize(context.Background(), RenormalizeOpts{Since: t0.Add(5 * time.Second), Version: transform.RulesVersion, Derive: derive})
	if err != nil || res.Changed != 5 {
		t.Fatalf("%+v, %v; want the 5 rows at or after --since", res, err)
	}
}

func TestRefreshAnalyticsFollowsTheArchive(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	renormRows(t, s, 20)
	ctx := context.Background()
	if _, err := s.RefreshAnalytics(ctx, true); err != nil {
		t.Fatal(err)
	}
	var total int64
	if err := s.Pool().QueryRow(ctx, "SELECT coalesce(sum(total), 0) FROM callback_hourly").Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total != 20 {
		t.Errorf("callback_hourly counts %d callbacks, want 20", total)
	}
}
