package load

import (
	"context"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/transform"
)

// testStore opens a Store on a fresh migrated database.
func testStore(t testing.TB) (*Store, string) {
	t.Helper()
	url := pgtest.NewMigrated(t)
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s, url
}

// testRow normalizes a record whose identity is (domain, time, body) and whose response side
// is status.
func testRow(domain string, at time.Time, body, status string) transform.Row {
	return testRowResponse(domain, at, body, status, `{"ok":true}`)
}

// testRowResponse is testRow with a response body.
func testRowResponse(domain string, at time.Time, body, status, responseBody string) transform.Row {
	row, err := transform.Normalize(callback.Record{
		Domain: domain, App: "live", Stream: "s1", CallbackEventType: "push",
		CallbackTime: at.UTC().Format(time.RFC3339Nano), CallbackMethod: "POST", CallbackAddress: "http://example.test/cb",
		CallbackStatus: status, CallbackBody: body, CallbackResponseCode: "200",
		CallbackResponseHeader: "Content-Type: application/json", CallbackResponseBody: responseBody,
	})
	if err != nil {
		panic(err)
	}
	return row
}

// loadWindow stages rows in pages of pageSize and commits.
func loadWindow(t testing.TB, s *Store, o WindowOpts, rows []transform.Row, pageSize int) Counts {
	t.Helper()
	ctx := context.Background()
	w, err := s.BeginWindow(ctx, o)
	if err != nil {
		t.Fatalf("BeginWindow: %v", err)
	}
	defer w.Rollback()
	for i := 0; i < len(rows); i += pageSize {
		if err := w.AddRows(ctx, rows[i:min(i+pageSize, len(rows))]); err != nil {
			t.Fatalf("AddRows: %v", err)
		}
	}
	c, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return c
}

var t0 = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

func testOpts(domain string) WindowOpts {
	return WindowOpts{Key: CheckpointKey{Domain: domain}, RunID: "run-test", Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}
}
