package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

// harness is one test's world: a livesim on 127.0.0.1 and a fresh migrated database.
type harness struct {
	t     *testing.T
	sim   *livesim.Sim
	url   string
	dbURL string
	store *load.Store
}

func newHarness(t *testing.T, cfg livesim.Config) *harness {
	t.Helper()
	sim, err := livesim.New(cfg)
	if err != nil {
		t.Fatalf("livesim: %v", err)
	}
	url, err := sim.Start()
	if err != nil {
		t.Fatalf("livesim start: %v", err)
	}
	t.Cleanup(sim.Close)
	dbURL := pgtest.NewMigrated(t)
	store, err := load.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	return &harness{t: t, sim: sim, url: url, dbURL: dbURL, store: store}
}

// opts adjusts a test pipeline.
type opts struct {
	rate      float64
	secret    string
	pageSize  int
	lookback  time.Duration
	overlap   time.Duration
	settle    time.Duration
	filter    extract.Filter
	maxTries  int
	noBudget  bool
	onWindow  func(WindowEvent)
	targetPgs int
}

func (h *harness) pipeline(o opts) *Pipeline {
	h.t.Helper()
	if o.rate == 0 {
		o.rate = 30
	}
	if o.secret == "" {
		o.secret = "simsecret"
	}
	limiter := extract.NewLimiter(o.rate)
	log := zaptest.NewLogger(h.t)
	client, err := extract.NewClient(extract.ClientConfig{
		Endpoint: h.url, AccessKey: "AKLTSIM", SecretKey: o.secret, Limiter: limiter, Logger: log,
		Timeout: 2 * time.Second, BackoffBase: 20 * time.Millisecond, BackoffCap: 500 * time.Millisecond,
		MaxAttempts: o.maxTries,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	runID := fmt.Sprintf("test-%d", time.Now().UnixNano())
	if !o.noBudget {
		b, err := h.store.JoinBudget(context.Background(), load.BudgetOpts{AccessKey: "AKLTSIM", RunID: runID, OnShare: limiter.SetShare})
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(b.Leave)
	}
	p, err := New(Config{
		Client: client, Store: h.store, Logger: log, RunID: runID,
		Filter: o.filter, PageSize: o.pageSize, TargetPages: o.targetPgs,
		InitialLookback: o.lookback, Overlap: o.overlap, Settle: o.settle, OnWindow: o.onWindow,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

func mustSucceed(t *testing.T, res Result) {
	t.Helper()
	for _, d := range res.Domains {
		if d.Outcome != OutcomeSuccess {
			t.Fatalf("domain %s: outcome %s: %v", d.Domain, d.Outcome, d.Err)
		}
	}
}

// truthFields are the 15 API fields, as columns of the comparison tables.
var truthCols = []string{"domain", "app", "stream", "callback_time", "event_type", "method", "address", "status",
	"body", "response_code", "response_header", "response_body", "response_time", "error_code", "error_message"}

// assertExact checks that callback_records holds exactly the API's records between from and to
// (inclusive, by CallbackTime) for domain ("" = all), as a multiset of the 15 fields, by query.
func (h *harness) assertExact(domain string, from, to time.Time) {
	h.t.Helper()
	ctx := context.Background()
	truth := h.sim.Records(domain, from, to)
	conn, err := pgx.Connect(ctx, h.dbURL)
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close(ctx)
	cols := strings.Join(truthCols, " text, ") + " text"
	if _, err := conn.Exec(ctx, "CREATE TEMP TABLE truth ("+cols+")"); err != nil {
		h.t.Fatal(err)
	}
	rows := make([][]any, len(truth))
	for i, r := range truth {
		f := r.Fields()
		row := make([]any, 15)
		for j := range f {
			row[j] = f[j]
		}
		rows[i] = row
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"truth"}, truthCols, pgx.CopyFromRows(rows)); err != nil {
		h.t.Fatal(err)
	}
	var fields []string
	for _, n := range callback.FieldNames {
		fields = append(fields, "raw->>'"+n+"'")
	}
	archived := "SELECT " + strings.Join(fields, ", ") + " FROM callback_records WHERE ($1 = '' OR domain = $1) AND callback_time BETWEEN $2 AND $3"
	all := "SELECT * FROM truth"
	var missing, extra int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+all+" EXCEPT ALL "+archived+") x", domain, from, to).Scan(&missing); err != nil {
		h.t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+archived+" EXCEPT ALL "+all+") x", domain, from, to).Scan(&extra); err != nil {
		h.t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM callback_records WHERE ($1 = '' OR domain = $1) AND callback_time BETWEEN $2 AND $3", domain, from, to).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	if missing != 0 || extra != 0 || n != len(truth) {
		h.t.Fatalf("archive differs from the API's records in %s..%s (domain %q): %d missing, %d extra; %d rows for %d records",
			from.Format(time.RFC3339), to.Format(time.RFC3339), domain, missing, extra, n, len(truth))
	}
}

// checkpoints returns every checkpoint by domain.
func (h *harness) checkpoints() map[string]load.Checkpoint {
	h.t.Helper()
	cps, err := h.store.Checkpoints(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]load.Checkpoint{}
	for _, c := range cps {
		out[c.Domain] = c
	}
	return out
}

// assertExactUpToWatermarks checks every domain is exact from its first start to its watermark.
func (h *harness) assertExactUpToWatermarks() {
	h.t.Helper()
	cps := h.checkpoints()
	if len(cps) == 0 {
		h.t.Fatal("no checkpoints")
	}
	for d, cp := range cps {
		h.assertExact(d, cp.FirstStart, cp.Watermark)
	}
}

// xmins returns each row's xmin by key, to prove rows were not written.
func (h *harness) xmins() map[string]string {
	h.t.Helper()
	rows, err := h.store.Pool().Query(context.Background(),
		`SELECT domain || '|' || callback_time::text || '|' || encode(identity_hash, 'hex') || '|' || ordinal, xmin::text FROM callback_records`)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, x string
		if err := rows.Scan(&k, &x); err != nil {
			h.t.Fatal(err)
		}
		out[k] = x
	}
	if rows.Err() != nil {
		h.t.Fatal(rows.Err())
	}
	return out
}

func (h *harness) count(q string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.store.Pool().QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", q, err)
	}
	return n
}
