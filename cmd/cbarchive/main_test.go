package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/internal/archivetest"
	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/internal/poll"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

// binary is the cbarchive built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cbarchive-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cbarchive")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build cbarchive: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const secret = "sim-secret-never-shown"

// world is a livesim and a database for one test.
type world struct {
	t     *testing.T
	sim   *livesim.Sim
	url   string
	dbURL string
}

func newWorld(t *testing.T, cfg livesim.Config, migrate bool) *world {
	t.Helper()
	cfg.AccessKey, cfg.SecretKey = "AKLTTEST", secret
	sim, err := livesim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	url, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	dbURL := pgtest.NewDatabase(t)
	if migrate {
		dbURL = pgtest.NewMigrated(t)
	}
	return &world{t: t, sim: sim, url: url, dbURL: dbURL}
}

type result struct {
	code           int
	stdout, stderr string
	began, ended   time.Time // taken just before the process started and after it exited
}

func (r result) all() string { return r.stdout + r.stderr }

// run runs the binary with the world's environment plus extra ("K=V").
func (w *world) run(extra []string, args ...string) result {
	w.t.Helper()
	cmd := w.cmd(extra, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	began := time.Now()
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String(), began: began, ended: time.Now()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("run %v: %v", args, err)
	}
	return res
}

func (w *world) cmd(extra []string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DATABASE_URL=" + w.dbURL, "VOLC_ACCESSKEY=AKLTTEST", "VOLC_SECRETKEY=" + secret,
		"CBARCHIVE_ENDPOINT=" + w.url, "CBARCHIVE_LOG_FORMAT=json",
	}, extra...)
	return cmd
}

func TestBadConfigurationExitsTwoNamingTheSetting(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{EmptyData: true}, true)
	tests := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"page size zero", nil, []string{"sync", "--page-size", "0"}, []string{"CBARCHIVE_PAGE_SIZE", "0", "1..1000"}},
		{"page size too big", []string{"CBARCHIVE_PAGE_SIZE=5000"}, []string{"sync"}, []string{"CBARCHIVE_PAGE_SIZE", "5000"}},
		{"lookback past the history", nil, []string{"sync", "--initial-lookback", "400d"}, []string{"CBARCHIVE_INITIAL_LOOKBACK", "400d is out of range", "366d"}},
		{"not a duration", []string{"CBARCHIVE_OVERLAP=ten minutes"}, []string{"sync"}, []string{"overlap", "ten minutes"}},
		{"bad rate", nil, []string{"sync", "--rate-limit=-3"}, []string{"CBARCHIVE_RATE_LIMIT", "-3"}},
		{"too few connections", []string{"CBARCHIVE_MAX_CONNS=3"}, []string{"sync"}, []string{"CBARCHIVE_MAX_CONNS", "3", "4..1000"}},
		{"not a number of connections", nil, []string{"status", "--max-conns", "many"}, []string{"max-conns", "many"}},
		{"bad endpoint", []string{"CBARCHIVE_ENDPOINT=ftp://x"}, []string{"sync"}, []string{"CBARCHIVE_ENDPOINT", "ftp://x"}},
		{"no database", []string{"DATABASE_URL="}, []string{"sync"}, []string{"DATABASE_URL"}},
		{"no secret", []string{"VOLC_SECRETKEY="}, []string{"sync"}, []string{"VOLC_SECRETKEY"}},
		{"backfill bad time", nil, []string{"backfill", "--start", "yesterday", "--end", "2026-01-01T00:00:00Z"}, []string{"--start", "yesterday", "RFC3339"}},
		{"backfill reversed", nil, []string{"backfill", "--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"}, []string{"--end", "--start"}},
		{"unknown command", nil, []string{"frobnicate"}, []string{"frobnicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := w.run(tt.env, tt.args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2; output:\n%s", res.code, res.all())
			}
			for _, want := range tt.wants {
				if !strings.Contains(res.all(), want) {
					t.Errorf("output does not name %q:\n%s", want, res.all())
				}
			}
		})
	}
	if n := len(w.sim.Requests()); n != 0 {
		t.Errorf("configuration errors sent %d API requests; nothing should run", n)
	}
}

func TestAMalformedDatabaseURLIsNeverEchoed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{EmptyData: true}, false)
	for _, bad := range []string{
		"postgres://archiver:pa ss-w0rd-x@db.example.com/archive",
		"postgres://archiver:pass-w0rd-y@db.example.com:port/archive",
		"postgres://archiver:pass-w0rd-z%zz@db.example.com/archive",
		"host=db.example.com password=pass-w0rd-q user",
	} {
		res := w.run([]string{"DATABASE_URL=" + bad}, "status")
		if res.code != 2 || !strings.Contains(res.stderr, "DATABASE_URL") {
			t.Errorf("%q: exit %d, want 2 naming DATABASE_URL\n%s", bad, res.code, res.all())
		}
		if strings.Contains(res.all(), "w0rd") {
			t.Errorf("the malformed URL's password was echoed:\n%s", res.all())
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	help := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	top := help("help")
	for _, want := range []string{"sync", "backfill", "verify", "renormalize", "VOLC_ACCESSKEY", "VOLC_SECRETKEY", "docs/reference.md"} {
		if !strings.Contains(top, want) {
			t.Errorf("cbarchive help does not mention %s:\n%s", want, top)
		}
	}
	for _, tt := range []struct{ cmd, own string }{{"backfill", "--dry-run"}, {"verify", "--start"}, {"status", "--json"}, {"renormalize", "--batch"}} {
		out := help("help", tt.cmd)
		if out != help(tt.cmd, "--help") {
			t.Errorf("cbarchive help %s differs from cbarchive %s --help", tt.cmd, tt.cmd)
		}
		own, global := strings.Index(out, tt.own), strings.Index(out, "--database-url")
		if own < 0 || global < 0 || own > global {
			t.Errorf("cbarchive help %s: its own flag %s is not listed before the settings:\n%s", tt.cmd, tt.own, out)
		}
		if !strings.Contains(out, "VOLC_SECRETKEY") {
			t.Errorf("cbarchive help %s does not name VOLC_SECRETKEY", tt.cmd)
		}
	}
}

func TestSyncRefusesAnOutdatedSchema(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{EmptyData: true}, false)
	res := w.run(nil, "sync")
	if res.code != 2 || !strings.Contains(res.all(), "cbarchive migrate up") {
		t.Fatalf("exit %d; want 2 telling to run `cbarchive migrate up`:\n%s", res.code, res.all())
	}
	if len(w.sim.Requests()) != 0 {
		t.Error("sync called the API on an outdated schema")
	}
}

func TestMigrateSyncStatusOnTheBuiltBinary(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	w := newWorld(t, livesim.Config{Seed: 5, NumDomains: 3, RecordsPerDay: 300, DaysBack: 2, Now: func() time.Time { return end }}, false)
	if res := w.run(nil, "migrate", "up"); res.code != 0 {
		t.Fatalf("migrate up: exit %d\n%s", res.code, res.all())
	}
	if res := w.run(nil, "migrate", "status"); res.code != 0 {
		t.Fatalf("migrate status: exit %d\n%s", res.code, res.all())
	}
	res := w.run(nil, "sync", "--initial-lookback", "49h", "--settle", "1m", "--overlap", "5m", "--page-size", "100", "--rate-limit", "20")
	if res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	// Logs: JSON lines, each with the run id; one summary per domain and per run.
	var summaries, runLines int
	for _, line := range strings.Split(strings.TrimSpace(res.stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["run_id"] == nil || m["run_id"] == "" {
			t.Errorf("log line without run_id: %q", line)
		}
		switch m["msg"] {
		case "domain done":
			summaries++
		case "run finished":
			runLines++
		}
	}
	if summaries != 3 || runLines != 1 {
		t.Errorf("%d domain summaries and %d run summaries, want 3 and 1", summaries, runLines)
	}
	st := w.run(nil, "status", "--json")
	if st.code != 0 {
		t.Fatalf("status --json: exit %d\n%s", st.code, st.all())
	}
	var statuses []map[string]any
	if err := json.Unmarshal([]byte(st.stdout), &statuses); err != nil {
		t.Fatalf("status --json is not a JSON array: %v\n%s", err, st.stdout)
	}
	if len(statuses) != 3 {
		t.Fatalf("%d statuses, want 3", len(statuses))
	}
	for _, s := range statuses {
		wm, err := time.Parse(time.RFC3339, fmt.Sprint(s["watermark"]))
		if err != nil || !strings.HasSuffix(fmt.Sprint(s["watermark"]), "Z") {
			t.Fatalf("watermark %v is not RFC3339 UTC", s["watermark"])
		}
		// now − the 1m settle, in whole seconds, at some instant of the run.
		if lo, hi := res.began.Add(-time.Minute-time.Second), res.ended.Add(-time.Minute); wm.Before(lo) || wm.After(hi) {
			t.Errorf("%v: watermark %v, want the 1m settle before some instant of the run: within [%v, %v]", s["domain"], wm, lo, hi)
		}
		if s["last_outcome"] != "success" {
			t.Errorf("%v: last outcome %v", s["domain"], s["last_outcome"])
		}
	}
	if table := w.run(nil, "status"); table.code != 0 || !strings.Contains(table.stdout, "WATERMARK") {
		t.Errorf("status table: exit %d\n%s", table.code, table.all())
	}
	archivetest.AssertExactUpToWatermarks(t, w.dbURL, w.sim)
	// --rate-limit reaches the limiter: at most 20 requests in any second of the run, so at
	// most 20 per started second between its bounds (the exact per-second guarantee is tested
	// in extract and pipeline, where each request's send time can be observed).
	if n, limit := len(w.sim.Requests()), 20*(int(res.ended.Sub(res.began)/time.Second)+1); n > limit {
		t.Errorf("%d requests in a run of %s with --rate-limit 20: more than %d", n, res.ended.Sub(res.began), limit)
	}
}

func TestSecretsNeverAppearInOutput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, NumDomains: 1, RecordsPerDay: 50, DaysBack: 1}, true)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	role := fmt.Sprintf("cbpw_%d", time.Now().UnixNano())
	const dbPassword = "db-pass-w0rd-never-shown"
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'", role, dbPassword)); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})
	withPassword := strings.Replace(w.dbURL, "postgres@", role+":"+dbPassword+"@", 1)
	unreachable := "postgres://" + role + ":" + dbPassword + "@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=2"

	// A wrong secret: the API refuses the signature.
	wrong := w.run([]string{"DATABASE_URL=" + withPassword, "VOLC_SECRETKEY=" + secret + "-wrong"}, "sync", "--log-level", "debug")
	wrongRequests := len(w.sim.Requests())
	runs := []result{
		wrong,
		// A database that cannot be reached, its URL holding the password.
		w.run([]string{"DATABASE_URL=" + unreachable}, "sync", "--log-level", "debug"),
		w.run(nil, "--database-url", unreachable, "status"),
		// A good run at debug level.
		w.run([]string{"DATABASE_URL=" + withPassword}, "sync", "--log-level", "debug"),
	}
	for i, r := range runs {
		for _, s := range []string{secret, dbPassword} {
			if strings.Contains(r.all(), s) {
				t.Errorf("run %d printed a secret (%q):\n%s", i, s, r.all())
			}
		}
	}
	if runs[0].code != 2 || !strings.Contains(runs[0].all(), "SignatureDoesNotMatch") {
		t.Errorf("wrong secret: exit %d, want 2 naming SignatureDoesNotMatch:\n%s", runs[0].code, runs[0].all())
	}
	// Failing fast: a refused signature is not retried (discovery, then one try per domain).
	if limit := 1 + len(w.sim.Domains()); wrongRequests > limit {
		t.Errorf("a wrong secret was sent %d times: it is not worth a retry (want at most %d)", wrongRequests, limit)
	}
	if runs[3].code != 0 {
		t.Errorf("good run: exit %d\n%s", runs[3].code, runs[3].all())
	}
}

func TestSigtermStopsTheRunAndRerunIsExact(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	// 3,000 records per domain in pages of 10: windows of about 100 pages, 7 s each at 15
	// requests/s per domain, so SIGTERM once a window committed lands mid-run.
	w := newWorld(t, livesim.Config{Seed: 9, NumDomains: 2, RecordsPerDay: 1000, DaysBack: 3, Latency: 30 * time.Millisecond,
		Now: func() time.Time { return end }}, true)
	args := []string{"sync", "--initial-lookback", "73h", "--page-size", "10"}
	cmd := w.cmd(nil, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	db, err := pgx.Connect(context.Background(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	committed := func() bool {
		var n int
		return db.QueryRow(context.Background(), "SELECT count(*) FROM sync_checkpoints").Scan(&n) == nil && n > 0
	}
	exited := false
	if !poll.Within(3*time.Minute, func() bool {
		select {
		case <-done:
			exited = true
			return true
		default:
			return committed()
		}
	}) || exited {
		_ = cmd.Process.Kill()
		t.Fatalf("the run ended, or 3 minutes passed, before SIGTERM could land mid-run (exited %v):\n%s", exited, out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // bounds a hang, not the shutdown's speed
		_ = cmd.Process.Kill()
		t.Fatalf("still running 2 minutes after SIGTERM:\n%s", out.String())
	}
	t.Logf("stopped %v after SIGTERM, exit %d", time.Since(signalled), cmd.ProcessState.ExitCode())
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit %d after SIGTERM mid-run, want 1 (not caught up)", cmd.ProcessState.ExitCode())
	}
	if !strings.Contains(out.String(), "cancelled") {
		t.Errorf("the run's outcome was not recorded as cancelled:\n%s", out.String())
	}
	archivetest.AssertExactUpToWatermarks(t, w.dbURL, w.sim)
	if res := w.run(nil, args...); res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.all())
	}
	archivetest.AssertExactUpToWatermarks(t, w.dbURL, w.sim)
}

func TestBackfillOlderThanTheHistoryClampsAndExitsZero(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 2, Domains: []string{"old.example.com"}, RecordsPerDay: 10, DaysBack: 20}, true)
	start := time.Now().Add(-400 * 24 * time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(-300 * 24 * time.Hour).UTC().Format(time.RFC3339)
	dry := w.run(nil, "backfill", "--start", start, "--end", end, "--domain", "old.example.com", "--dry-run")
	if dry.code != 0 || !strings.Contains(dry.stdout, "clamped") || !strings.Contains(dry.stdout, "estimate") {
		t.Fatalf("dry run: exit %d\n%s", dry.code, dry.all())
	}
	for _, r := range w.sim.Requests() {
		if r.Action != "ListDomainDetail" {
			t.Fatalf("--dry-run sent a %s request", r.Action)
		}
	}
	for range 2 {
		res := w.run(nil, "backfill", "--start", start, "--end", end, "--domain", "old.example.com")
		if res.code != 0 || !strings.Contains(res.all(), "366-day") {
			t.Fatalf("backfill: exit %d, want 0 with the clamp logged\n%s", res.code, res.all())
		}
	}
	if st := w.sim.Stats(); st.HistoryViolations != 0 {
		t.Fatalf("%d requests older than 366 days", st.HistoryViolations)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM sync_gaps").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d sync_gaps rows (err %v), want 1", n, err)
	}
}

func TestAFailingDomainExitsOne(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, NumDomains: 2, RecordsPerDay: 20, DaysBack: 1,
		Faults: livesim.Faults{Rate: 1, Classes: []livesim.FaultClass{livesim.FaultNotFound}}}, true)
	res := w.run(nil, "sync")
	if res.code != 1 || !strings.Contains(res.all(), "ResourceNotFound") {
		t.Fatalf("exit %d, want 1 naming ResourceNotFound\n%s", res.code, res.all())
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cbarchive ") {
		t.Fatalf("version: %v %q", err, out)
	}
}

func TestVerifyComparesDailyCountsAndFailsOnAShortfall(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	w := newWorld(t, livesim.Config{Seed: 6, Domains: []string{"v.example.com"}, RecordsPerDay: 200, DaysBack: 3,
		Now: func() time.Time { return end }}, true)
	if res := w.run(nil, "sync", "--initial-lookback", "73h"); res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(24 * time.Hour)
	from, to := day.Format(time.RFC3339), day.Add(12*time.Hour).Format(time.RFC3339)
	ok := w.run(nil, "verify", "--start", from, "--end", to)
	if ok.code != 0 || !strings.Contains(ok.stdout, "v.example.com") || !strings.Contains(ok.stdout, " ok") ||
		!strings.Contains(ok.stdout, "verify: 1 domain(s), 1 day(s) compared, the archive holds every record the API counts") {
		t.Fatalf("verify of an exact archive: exit %d\n%s", ok.code, ok.all())
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// --start/--end are instants, as for backfill: rows lost after --end on the same day are not
	// part of the range; rows lost inside it are.
	remove := func(from, to time.Time, n int) {
		t.Helper()
		tag, err := conn.Exec(ctx, "DELETE FROM callback_store WHERE ctid IN (SELECT ctid FROM callback_store WHERE callback_time >= $1 AND callback_time < $2 LIMIT $3)",
			from, to, n)
		if err != nil || tag.RowsAffected() != int64(n) {
			t.Fatalf("deleted %d rows (err %v), want %d", tag.RowsAffected(), err, n)
		}
	}
	remove(day.Add(13*time.Hour), day.Add(24*time.Hour), 2)
	outside := w.run(nil, "verify", "--start", from, "--end", to)
	if outside.code != 0 || strings.Contains(outside.stdout, "MISSING") {
		t.Fatalf("verify after losing rows after --end: exit %d, want 0\n%s", outside.code, outside.all())
	}
	remove(day, day.Add(12*time.Hour), 3)
	short := w.run(nil, "verify", "--start", from, "--end", to)
	if short.code != 1 || !strings.Contains(short.stdout, "MISSING 3") ||
		!strings.Contains(short.stdout, "verify: 1 domain(s), 1 day(s) compared, 1 with records missing") || !strings.Contains(short.stderr, `"run finished"`) {
		t.Fatalf("verify after losing 3 rows: exit %d, want 1, MISSING 3 and a summary\n%s", short.code, short.all())
	}
}

func TestRenormalizeOnTheBuiltBinary(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 3, Domains: []string{"r.example.com"}, RecordsPerDay: 100, DaysBack: 1}, true)
	if res := w.run(nil, "sync"); res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tag, err := conn.Exec(ctx, "UPDATE callback_records SET rules_version = 0, response_code = NULL")
	if err != nil {
		t.Fatal(err)
	}
	summary := fmt.Sprintf("renormalize: %d row(s) read, %d changed", tag.RowsAffected(), tag.RowsAffected())
	res := w.run(nil, "renormalize", "--batch", "7")
	if res.code != 0 || !strings.Contains(res.stderr, `"run finished"`) || !strings.Contains(res.stdout, summary) {
		t.Fatalf("renormalize: exit %d\n%s", res.code, res.all())
	}
	var stale int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM callback_records WHERE rules_version = 0 OR (response_code IS NULL AND raw->>'CallbackResponseCode' ~ '^ *[0-9]+ *$')").Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d rows not re-derived (err %v)", stale, err)
	}
}

func TestSyncPushesItsMetricsToThePushgateway(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 4, NumDomains: 2, RecordsPerDay: 50, DaysBack: 1}, true)
	var mu sync.Mutex
	var paths, bodies []string
	gw := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		paths, bodies = append(paths, r.Method+" "+r.URL.Path), append(bodies, string(b))
		mu.Unlock()
		rw.WriteHeader(http.StatusOK)
	}))
	defer gw.Close()
	res := w.run(nil, "sync", "--pushgateway", gw.URL)
	if res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "PUT /metrics/job/cbarchive/command/sync" {
		t.Fatalf("pushes: %v", paths)
	}
	for _, want := range []string{"cbarchive_run_duration_seconds", `cbarchive_records_total{domain="live1.example.com",outcome="new"}`,
		"cbarchive_requests_total", "cbarchive_domain_lag_seconds", "cbarchive_run_last_success_timestamp_seconds"} {
		if !strings.Contains(bodies[0], want) {
			t.Errorf("pushed metrics lack %s:\n%s", want, bodies[0])
		}
	}
	if bad := w.run(nil, "sync", "--pushgateway", "ftp://x"); bad.code != 2 || !strings.Contains(bad.all(), "CBARCHIVE_PUSHGATEWAY") {
		t.Errorf("a bad --pushgateway: exit %d\n%s", bad.code, bad.all())
	}
}

func TestDomainsSettingLimitsTheRunAndTheFlagWins(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 8, NumDomains: 3, RecordsPerDay: 30, DaysBack: 1}, true)
	// The env names one domain, the flag two: the flag wins.
	res := w.run([]string{"CBARCHIVE_DOMAINS=live3.example.com"}, "sync", "--domains", "live1.example.com,live2.example.com")
	if res.code != 0 {
		t.Fatalf("sync: exit %d\n%s", res.code, res.all())
	}
	st := w.run(nil, "status", "--json")
	var statuses []struct{ Domain string }
	if err := json.Unmarshal([]byte(st.stdout), &statuses); err != nil {
		t.Fatalf("status --json: %v\n%s", err, st.all())
	}
	if len(statuses) != 2 || statuses[0].Domain != "live1.example.com" || statuses[1].Domain != "live2.example.com" {
		t.Fatalf("checkpoints %+v, want live1 and live2 only", statuses)
	}
	for _, r := range w.sim.Requests() {
		if r.Action == "DescribeLiveCallbackData" && strings.Contains(fmt.Sprint(r.Domains), "live3") {
			t.Error("the flag named live1 and live2, yet the run read live3")
		}
	}
}

func TestADomainTheAccountDoesNotListIsRefusedUnlessMeant(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 8, NumDomains: 2, RecordsPerDay: 30, DaysBack: 1}, true)
	start := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(-1 * time.Hour).UTC().Format(time.RFC3339)
	for _, args := range [][]string{
		{"backfill", "--start", start, "--end", end, "--domain", "liev1.example.com"},
		{"backfill", "--start", start, "--end", end, "--domain", "liev1.example.com", "--dry-run"},
		{"verify", "--start", start, "--end", end, "--domain", "liev1.example.com"},
		{"sync", "--domains", "live1.example.com,liev1.example.com"},
	} {
		res := w.run(nil, args...)
		if res.code != 2 || !strings.Contains(res.stderr, "liev1.example.com") ||
			!strings.Contains(res.stderr, "live1.example.com, live2.example.com") || !strings.Contains(res.stderr, "--allow-unknown-domains") {
			t.Errorf("%v: exit %d, want 2 naming the typo, the known domains and the flag\n%s", args, res.code, res.all())
		}
	}
	if n := countRuns(t, w.dbURL, "domain = 'liev1.example.com'"); n != 0 {
		t.Errorf("a refused domain has %d sync_runs rows", n)
	}
	// A domain a run found by account-wide counts (discovered_domains) is known, listed or not.
	store, err := load.Open(context.Background(), w.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.RecordDiscovered(context.Background(), "found.example.com", "r1"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"backfill", "--start", start, "--end", end, "--domain", "found.example.com", "--dry-run"},
		{"verify", "--start", start, "--end", end, "--domain", "found.example.com"},
	} {
		if res := w.run(nil, args...); res.code != 0 {
			t.Errorf("%v of a domain in discovered_domains: exit %d, want 0\n%s", args, res.code, res.all())
		}
	}
	before := len(w.sim.Requests())
	res := w.run(nil, "backfill", "--start", start, "--end", end, "--domain", "gone.example.com", "--allow-unknown-domains")
	if res.code != 0 {
		t.Fatalf("backfill of a domain meant to be unknown: exit %d\n%s", res.code, res.all())
	}
	for _, r := range w.sim.Requests()[before:] {
		if r.Action == "ListDomainDetail" {
			t.Error("--allow-unknown-domains still listed the account's domains")
		}
	}
}

func TestDryRunOnAnEmptyArchivePlansTheDiscoveredDomains(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 8, NumDomains: 3, RecordsPerDay: 30, DaysBack: 1}, true)
	start := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	end := time.Now().Add(-1 * time.Hour).UTC().Format(time.RFC3339)
	res := w.run(nil, "backfill", "--start", start, "--end", end, "--dry-run")
	if res.code != 0 {
		t.Fatalf("dry run: exit %d\n%s", res.code, res.all())
	}
	for _, d := range []string{"live1.example.com", "live2.example.com", "live3.example.com"} {
		if !strings.Contains(res.stdout, d) {
			t.Errorf("the plan does not list %s:\n%s", d, res.stdout)
		}
	}
	for _, r := range w.sim.Requests() {
		if r.Action != "ListDomainDetail" {
			t.Errorf("--dry-run sent a %s request", r.Action)
		}
	}
}
