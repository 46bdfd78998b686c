package load

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

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

// testRow builds a row by hand: identity from (domain, time, body), content adds status.
func testRow(domain string, at time.Time, body, status string) transform.Row {
	id := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%s", domain, at.UTC().Format(time.RFC3339Nano), body)))
	content := sha256.Sum256([]byte(fmt.Sprintf("%x|%s", id, status)))
	code := int32(200)
	raw := fmt.Sprintf(`{"Domain":%q,"CallbackBody":%q,"CallbackStatus":%q}`, domain, body, status)
	return transform.Row{
		Domain:           domain,
		App:              "live",
		Stream:           "s1",
		EventType:        "push",
		CallbackTime:     at.UTC(),
		Method:           "POST",
		Address:          "http://example.test/cb",
		Status:           status,
		RequestBody:      body,
		RequestBodyJSON:  nil,
		ResponseCode:     &code,
		ResponseHeaders:  []byte(`{"content-type":"application/json"}`),
		ResponseBody:     `{"ok":true}`,
		ResponseBodyJSON: []byte(`{"ok":true}`),
		ErrorCode:        "",
		ErrorMessage:     "",
		Raw:              []byte(raw),
		IdentityHash:     id[:],
		ContentHash:      content[:],
		RulesVersion:     transform.RulesVersion,
	}
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
