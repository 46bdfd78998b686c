package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/archivetest"
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
	onPage    func(string, int)
	targetPgs int
	now       func() time.Time
	reconcile bool
	sends     *sendLog      // records when each request was written; default: not recorded
	inFlight  int           // MaxRecordsInFlight; 0: the default
	timeout   time.Duration // the client's per-request timeout; default the client's (30s)
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
		Timeout: o.timeout, BackoffBase: 20 * time.Millisecond, BackoffCap: 500 * time.Millisecond,
		MaxAttempts: o.maxTries, Transport: transportOf(o.sends),
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
		h.t.Cleanup(func() { b.Leave(time.Time{}) })
	}
	p, err := New(Config{
		Client: client, Store: h.store, Logger: log, RunID: runID,
		Filter: o.filter, PageSize: o.pageSize, TargetPages: o.targetPgs,
		InitialLookback: o.lookback, Overlap: o.overlap, Settle: o.settle, OnWindow: o.onWindow, OnPage: o.onPage, Now: o.now,
		Reconcile: o.reconcile, MaxRecordsInFlight: o.inFlight,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// transportOf returns l as a transport, or nil (the client's default) when l is nil.
func transportOf(l *sendLog) http.RoundTripper {
	if l == nil {
		return nil
	}
	return l
}

func mustSucceed(t *testing.T, res Result) {
	t.Helper()
	for _, d := range res.Domains {
		if d.Outcome != OutcomeSuccess {
			t.Fatalf("domain %s: outcome %s: %v", d.Domain, d.Outcome, d.Err)
		}
	}
}

// assertExact checks the archive against livesim's truth (see archivetest.AssertExact).
func (h *harness) assertExact(domain string, from, to time.Time) {
	h.t.Helper()
	archivetest.AssertExact(h.t, h.dbURL, h.sim, domain, from, to)
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
	archivetest.AssertExactUpToWatermarks(h.t, h.dbURL, h.sim)
}

// xmins returns each row's xmin and xmax by key: a re-read that writes nothing leaves both.
func (h *harness) xmins() map[string]string {
	h.t.Helper()
	rows, err := h.store.Pool().Query(context.Background(),
		`SELECT domain || '|' || callback_time::text || '|' || identity_hash::text || '|' || ordinal, xmin::text || '/' || xmax::text FROM callback_store`)
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
