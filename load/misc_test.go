package load

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/transform"
)

func TestMigrateUpDownToZeroUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CheckSchema(ctx); !errors.Is(err, ErrSchemaOutdated) {
		t.Fatalf("CheckSchema on an empty database: got %v, want ErrSchemaOutdated", err)
	}
	if err := s.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), "migrate up") {
		t.Fatalf("CheckSchema error does not tell what to do: %v", err)
	}
	var out bytes.Buffer
	for _, dir := range []string{MigrateUp, MigrateStatus, MigrateDownToZero, MigrateUp} {
		if err := Migrate(ctx, url, dir, &out); err != nil {
			t.Fatalf("migrate %s: %v\n%s", dir, err, out.String())
		}
	}
	if !strings.Contains(out.String(), "00001_archive.sql") {
		t.Errorf("migrate printed nothing useful:\n%s", out.String())
	}
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after up: %v", err)
	}
	if err := Migrate(ctx, url, "sideways", &out); err == nil {
		t.Fatal("migrate sideways succeeded")
	}
	// One step down leaves the schema outdated again.
	if err := Migrate(ctx, url, MigrateDown, &out); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSchema(ctx); !errors.Is(err, ErrSchemaOutdated) {
		t.Fatalf("CheckSchema after down: got %v, want ErrSchemaOutdated", err)
	}
}

func TestOpenErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, url := range []string{
		"postgres://postgres:s3cr3t-pw@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2",
		"postgres://postgres:s3cr3t-pw@127.0.0.1:5432/nope?sslmode=bogus",
		"host=127.0.0.1 port=1 user=postgres password=s3cr3t-pw connect_timeout=2",
	} {
		_, err := Open(ctx, url)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", url)
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("error shows the password: %v", err)
		}
		if err := Migrate(ctx, url, MigrateStatus, &bytes.Buffer{}); err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("Migrate error shows the password or is nil: %v", err)
		}
	}
}

func TestLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s1, url := testStore(t)
	s2, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	key := CheckpointKey{Domain: "lock.example"}

	l1, ok, err := s1.TryLock(ctx, key, "run one")
	if err != nil || !ok {
		t.Fatalf("first TryLock: ok=%v err=%v", ok, err)
	}
	if _, ok, err := s2.TryLock(ctx, key, "run two"); err != nil || ok {
		t.Fatalf("second TryLock: ok=%v err=%v, want refused", ok, err)
	}
	// Another key is independent.
	l2, ok, err := s2.TryLock(ctx, CheckpointKey{Domain: "lock.example", FilterKey: "f"}, "run two")
	if err != nil || !ok {
		t.Fatalf("TryLock of another key: ok=%v err=%v", ok, err)
	}
	l2.Release()

	start := time.Now()
	_, err = s2.Lock(ctx, key, "run two", 600*time.Millisecond)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("Lock while held: got %v, want LockedError", err)
	}
	if time.Since(start) < 500*time.Millisecond {
		t.Errorf("Lock gave up after %s, before its timeout", time.Since(start))
	}
	if !strings.Contains(err.Error(), "pid=") || !strings.Contains(err.Error(), "run one") || !strings.Contains(err.Error(), "lock.example") {
		t.Errorf("error does not say who holds the lock: %v", err)
	}
	if h, err := s2.LockHolder(ctx, key); err != nil || !strings.Contains(h, "run one") {
		t.Errorf("LockHolder: %q %v", h, err)
	}

	// Lock waits for the holder to let go.
	type locked struct {
		l   *Lease
		err error
	}
	waiting := make(chan locked, 1)
	go func() {
		l, err := s2.Lock(ctx, key, "run three", time.Minute)
		waiting <- locked{l, err}
	}()
	select {
	case l := <-waiting:
		t.Fatalf("Lock returned while the lock was held: %v", l.err)
	default:
	}
	l1.Release()
	l3 := <-waiting
	if l3.err != nil {
		t.Fatalf("Lock after release: %v", l3.err)
	}
	l3.l.Release()
	l3.l.Release() // idempotent
	l1.Release()
	l4, ok, err := s1.TryLock(ctx, key, "run four")
	if err != nil || !ok {
		t.Fatalf("TryLock after release: ok=%v err=%v", ok, err)
	}
	l4.Release()
}

func TestAnExpiredLeaseIsTakenOver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := testStore(t)
	key := CheckpointKey{Domain: "expired.example"}
	// A run that died an hour ago left its lease behind.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO sync_leases (domain, filter_key, token, holder, expires_at)
		VALUES ($1, '', 'dead', 'a dead run', now() - interval '1 second')`, key.Domain); err != nil {
		t.Fatal(err)
	}
	l, ok, err := s.TryLock(ctx, key, "run new")
	if err != nil || !ok {
		t.Fatalf("TryLock over an expired lease: ok=%v err=%v", ok, err)
	}
	defer l.Release()
	if h, _ := s.LockHolder(ctx, key); !strings.Contains(h, "run new") {
		t.Errorf("holder after takeover: %q", h)
	}
}

// losing is each way a run can lose its lease while it reads a window.
var losing = []struct {
	name string
	sql  string
}{
	{"taken over after it expired", `UPDATE sync_leases SET token = 'other', holder = 'another run', expires_at = now() + interval '1 hour' WHERE domain = $1`},
	{"expired", `UPDATE sync_leases SET expires_at = now() - interval '1 second' WHERE domain = $1`},
	{"deleted", `DELETE FROM sync_leases WHERE domain = $1`},
}

func TestACommitWithoutTheLeaseCommitsNothing(t *testing.T) {
	t.Parallel()
	for _, tt := range losing {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, _ := testStore(t)
			key := CheckpointKey{Domain: "lease.example"}
			l, ok, err := s.TryLock(ctx, key, "run one")
			if err != nil || !ok {
				t.Fatalf("TryLock: ok=%v err=%v", ok, err)
			}
			defer l.Release()
			// One window commits while the lease is held.
			end := t0.Add(time.Hour)
			w, err := s.BeginWindow(ctx, WindowOpts{Key: key, RunID: "r", Start: t0, End: end, Advance: &end, FirstStart: t0, Lease: l})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.AddRows(ctx, []transform.Row{testRow(key.Domain, t0.Add(time.Minute), "a", "ok")}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(ctx); err != nil {
				t.Fatalf("commit with the lease held: %v", err)
			}
			// The lease is lost while the next window is read.
			next := end.Add(time.Hour)
			w, err = s.BeginWindow(ctx, WindowOpts{Key: key, RunID: "r", Start: end, End: next, Advance: &next, FirstStart: t0, Lease: l})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Rollback()
			if err := w.AddRows(ctx, []transform.Row{testRow(key.Domain, end.Add(time.Minute), "b", "ok")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Pool().Exec(ctx, tt.sql, key.Domain); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Commit(ctx); !errors.Is(err, ErrLockLost) {
				t.Fatalf("commit after the lease was lost: %v, want ErrLockLost", err)
			}
			var rows int
			var wm time.Time
			if err := s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM callback_records),
				(SELECT watermark FROM sync_checkpoints WHERE domain = $1)`, key.Domain).Scan(&rows, &wm); err != nil {
				t.Fatal(err)
			}
			if rows != 1 || !wm.Equal(end) {
				t.Errorf("after the refused commit: %d rows, watermark %v; want 1 row and the first window's end %v", rows, wm, end)
			}
		})
	}
}

func TestRecordGapMergesRepeats(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	key := CheckpointKey{Domain: "gap.example"}
	const reason = "older than the API's 366-day history"
	day := 24 * time.Hour
	steps := []struct {
		from, to     time.Time
		wantInserted bool
	}{
		{t0, t0.Add(day), true},
		{t0, t0.Add(day), false},                         // the same range again
		{t0.Add(12 * time.Hour), t0.Add(2 * day), false}, // grows
		{t0.Add(10 * day), t0.Add(11 * day), true},       // disjoint: its own row
		{t0.Add(-day), t0.Add(10 * day), false},          // bridges both: one row
	}
	for i, st := range steps {
		ins, err := s.RecordGap(ctx, key, st.from, st.to, reason, "run")
		if err != nil {
			t.Fatal(err)
		}
		if ins != st.wantInserted {
			t.Errorf("step %d: inserted %v, want %v", i, ins, st.wantInserted)
		}
	}
	gaps, err := s.Gaps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || !gaps[0].Start.Equal(t0.Add(-day)) || !gaps[0].End.Equal(t0.Add(11*day)) {
		t.Fatalf("gaps: %+v", gaps)
	}
}

func TestRunsStartFinishAndLastRuns(t *testing.T) {
	t.Parallel()
	s, _ := testStore(t)
	ctx := context.Background()
	for i, id := range []string{"r1", "r2"} {
		if err := s.StartRun(ctx, Run{RunID: id, Command: "sync", Domain: "run.example"}); err != nil {
			t.Fatal(err)
		}
		res := RunResult{Outcome: OutcomeSuccess, Counts: Counts{New: int64(i + 1)}, Requests: 3}
		if i == 1 {
			res = RunResult{Outcome: OutcomeFailed, Err: "boom\x00"}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel() // FinishRun must still record a cancelled run's end
		if err := s.FinishRun(cctx, id, "run.example", "", res); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishRun(ctx, "never", "run.example", "", RunResult{Outcome: OutcomeSkipped}); !errors.Is(err, ErrRunNotStarted) {
		t.Fatalf("FinishRun of an unknown run: %v", err)
	}
	last, err := s.LastRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := last[CheckpointKey{Domain: "run.example"}]
	if r.RunID != "r2" || r.Outcome != OutcomeFailed || r.Err != "boom\uFFFD" || r.FinishedAt == nil {
		t.Fatalf("last run: %+v", r)
	}
}

// A partition dropped behind the loader's back is recognised by its SQLSTATE (check_violation
// without a constraint), the window commits nothing, and the next window creates it again.
func TestADroppedPartitionIsRecognisedAndCreatedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := testStore(t)
	key := CheckpointKey{Domain: "part.example"}
	commit := func(body string) error {
		w, err := s.BeginWindow(ctx, WindowOpts{Key: key, RunID: "r", Start: t0, End: t0.Add(time.Hour)})
		if err != nil {
			return err
		}
		defer w.Rollback()
		if err := w.AddRows(ctx, []transform.Row{testRow(key.Domain, t0.Add(time.Minute), body, "ok")}); err != nil {
			return err
		}
		_, err = w.Commit(ctx)
		return err
	}
	if err := commit("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, "DROP TABLE "+PartitionName(t0)); err != nil {
		t.Fatal(err)
	}
	if err := commit("b"); !errors.Is(err, ErrNoPartition) {
		t.Fatalf("commit into a dropped partition: %v, want ErrNoPartition", err)
	}
	if err := commit("c"); err != nil {
		t.Fatalf("the next window did not create the partition again: %v", err)
	}
	var n int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM callback_records").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v), want the 1 committed after the partition came back", n, err)
	}
}
