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
