package archivetest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// recorder is a testing.TB whose Fatalf records the failure and stops the calling goroutine.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatal(args ...any) {
	r.Fatalf("%v", args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func check(t *testing.T, dbURL string, sim *livesim.Sim, from, to time.Time) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); AssertExact(r, dbURL, sim, "", from, to) }()
	<-done
	return r.failed
}

func TestAssertExactSeesAMissingAndAnExtraRow(t *testing.T) {
	t.Parallel()
	sim, err := livesim.New(livesim.Config{EmptyData: true, Domains: []string{"a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	rec := callback.Record{Domain: "a.example.com", App: "live", Stream: "s", CallbackTime: at.Format(time.RFC3339),
		CallbackEventType: "push_start", CallbackStatus: "success", CallbackBody: "{}"}
	sim.Add(rec, rec) // two identical records: the archive needs two rows
	dbURL := pgtest.NewMigrated(t)
	store, err := load.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	row, err := transform.Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.BeginWindow(context.Background(), load.WindowOpts{Key: load.CheckpointKey{Domain: "a.example.com"}, RunID: "r", Start: at, End: at})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	if err := w.AddRows(context.Background(), []transform.Row{row}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	from, to := at.Add(-time.Minute), at.Add(time.Minute)
	if got := check(t, dbURL, sim, from, to); !strings.Contains(got, "1 missing, 0 extra") {
		t.Errorf("one row for two identical records: check said %q", got)
	}
	empty, err := livesim.New(livesim.Config{EmptyData: true, Domains: []string{"a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := check(t, dbURL, empty, from, to); !strings.Contains(got, "0 missing, 1 extra") {
		t.Errorf("a row the API does not hold: check said %q", got)
	}
	one, err := livesim.New(livesim.Config{EmptyData: true, Domains: []string{"a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	one.Add(rec)
	if got := check(t, dbURL, one, from, to); got != "" {
		t.Errorf("an exact archive failed the check: %q", got)
	}
}

func TestAssertExactSeesAWrongDerivedColumn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sim, err := livesim.New(livesim.Config{EmptyData: true, Domains: []string{"d.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	rec := callback.Record{Domain: "d.example.com", App: "live", Stream: "s", CallbackTime: at.Format(time.RFC3339),
		CallbackEventType: "push_start", CallbackMethod: "post", CallbackAddress: "http://h/cb", CallbackStatus: "success",
		CallbackBody: `{"a":1}`, CallbackResponseCode: "200", CallbackResponseHeader: "HTTP/1.1 200 OK\r\nContent-Type: text/plain",
		CallbackResponseBody: "ok", CallbackResponseTime: at.Add(250 * time.Millisecond).Format("2006-01-02T15:04:05.000Z07:00")}
	sim.Add(rec)
	dbURL := pgtest.NewMigrated(t)
	store, err := load.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	row, err := transform.Normalize(rec)
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.BeginWindow(ctx, load.WindowOpts{Key: load.CheckpointKey{Domain: "d.example.com"}, RunID: "r", Start: at, End: at})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Rollback()
	if err := w.AddRows(ctx, []transform.Row{row}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := at.Add(-time.Minute), at.Add(time.Minute)
	if got := check(t, dbURL, sim, from, to); got != "" {
		t.Fatalf("an exact archive failed the check: %q", got)
	}
	// Each statement makes one derived column wrong; a column that the view also uses to
	// rebuild raw makes the raw comparison fail first, which is a failure all the same.
	for _, tt := range []struct {
		tamper, want string
	}{
		{`UPDATE callback_records SET response_headers = '{"Content-Type":"text/plain"}'`, "derived columns differ"},
		{`UPDATE callback_records SET response_status_line = NULL`, "derived columns differ"},
		{`UPDATE callback_records SET flags = flags # 16`, "derived columns differ"}, // request_body_json
		{`UPDATE callback_records SET response_time = response_time + interval '1 hour'`, "differ"},
		{`UPDATE callback_records SET error_message = 'x'`, "differ"},
	} {
		if _, err := store.Pool().Exec(ctx, tt.tamper); err != nil {
			t.Fatalf("%s: %v", tt.tamper, err)
		}
		if got := check(t, dbURL, sim, from, to); !strings.Contains(got, tt.want) {
			t.Errorf("after %s: check said %q", tt.tamper, got)
		}
		// Put the row back as transform made it.
		if _, err := store.Pool().Exec(ctx, `DELETE FROM callback_records`); err != nil {
			t.Fatal(err)
		}
		w, err := store.BeginWindow(ctx, load.WindowOpts{Key: load.CheckpointKey{Domain: "d.example.com"}, RunID: "r", Start: at, End: at})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddRows(ctx, []transform.Row{row}); err != nil {
			w.Rollback()
			t.Fatal(err)
		}
		if _, err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// derive's expectations for a plain record, written out.
func TestDeriveWorksOutThePlainShapes(t *testing.T) {
	t.Parallel()
	rec := callback.Record{Domain: "d", CallbackTime: "2025-03-18T23:30:52+08:00", CallbackResponseTime: "2025-03-18T23:30:52.789+08:00",
		CallbackBody: ` {"event":"push"} `, CallbackResponseCode: " 502 ", CallbackResponseHeader: "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 50",
		CallbackResponseBody: "<html></html>"}
	d, ok := derive(rec)
	if !ok {
		t.Fatal("a plain record was not derived")
	}
	if want := time.Date(2025, 3, 18, 15, 30, 52, 0, time.UTC); !d.callbackTime.Equal(want) {
		t.Errorf("callback time %v, want %v", d.callbackTime, want)
	}
	if d.latencyMS == nil || *d.latencyMS != 789 || d.responseCode == nil || *d.responseCode != 502 {
		t.Errorf("latency %v, code %v; want 789 and 502", d.latencyMS, d.responseCode)
	}
	if d.statusLine == nil || *d.statusLine != "HTTP/1.1 502 Bad Gateway" || d.headers != `{"content-length":"50","content-type":"text/html"}` {
		t.Errorf("status line %v, headers %s", d.statusLine, d.headers)
	}
	if d.requestJSON == nil || *d.requestJSON != `{"event":"push"}` || d.responseJSON != nil {
		t.Errorf("bodies: %v %v", d.requestJSON, d.responseJSON)
	}
	if _, ok := derive(callback.Record{CallbackTime: "2025-03-18 23:30:52"}); ok {
		t.Error("a time without an offset was derived")
	}
}
