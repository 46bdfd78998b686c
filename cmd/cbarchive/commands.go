package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/metrics"
	"github.com/cbarchive/cbarchive/pipeline"
)

// MigrateCmd runs schema migrations.
type MigrateCmd struct {
	Direction string `arg:"" optional:"" default:"up" enum:"up,down,status" help:"up (default), down (one step) or status."`
}

// Run applies the migrations.
func (c *MigrateCmd) Run(e *env, s *Settings) error {
	if err := s.validateDatabase(); err != nil {
		return err
	}
	return load.Migrate(e.ctx, s.DatabaseURL, c.Direction, e.stdout) // its errors name the direction
}

// SyncCmd is the incremental run.
type SyncCmd struct{}

// Run syncs every domain.
func (c *SyncCmd) Run(e *env, s *Settings) error {
	a, err := openArchive(e, s, "sync")
	if err != nil {
		return err
	}
	defer a.close()
	domains, err := a.domains(e.ctx, s, nil, "")
	if err != nil {
		return a.abort(e, err)
	}
	p, err := a.pipeline(s, len(domains), nil)
	if err != nil {
		return a.abort(e, err)
	}
	if len(trimAll(s.Domains)) == 0 {
		// Domains that have history but that ListDomainDetail does not list (deleted ones).
		unlisted, err := p.Discover(e.ctx, domains)
		if err != nil && e.ctx.Err() == nil {
			// The listed domains are archived anyway; the next run looks again.
			a.log.Warn("could not look for domains that ListDomainDetail does not list; archiving the listed ones", zap.Error(err))
		}
		domains = append(domains, unlisted...)
	}
	res := p.Sync(e.ctx, domains)
	return a.finish(e, res)
}

// BackfillCmd re-archives a past range.
type BackfillCmd struct {
	Start       string   `name:"start" required:"" help:"Start of the range (RFC3339), included; the same instants as verify's."`
	End         string   `name:"end" required:"" help:"End of the range (RFC3339), its second included; the same instants as verify's."`
	Domain      []string `name:"domain" help:"Domain to backfill (repeatable); default: CBARCHIVE_DOMAINS or every domain of the account."`
	DryRun      bool     `name:"dry-run" help:"Print the plan (windows, estimated requests and minutes) and touch nothing."`
	LockTimeout Duration `name:"lock-timeout" default:"10m" help:"How long to wait for a domain another run is archiving."`
	Reconcile   bool     `name:"reconcile" help:"Make the range's rows equal to a complete read: each window is read provably complete (one page, split until it fits) and rows that read does not account for (phantom copies of an earlier faulty read) move to callback_records_removed with the run id and the reason, never simply deleted. Missing records are added and changed ones updated as always."`
}

// Run backfills the range.
func (c *BackfillCmd) Run(e *env, s *Settings) error {
	start, end, err := parseRange(c.Start, c.End)
	if err != nil {
		return err
	}
	plan, err := extract.PlanBackfill(start, end, time.Now())
	if err != nil {
		return usagef("%v", err)
	}
	if err := s.validateDatabase(); err != nil {
		return err
	}
	if err := s.validateAPI(); err != nil {
		return err
	}
	if c.LockTimeout.D() <= 0 {
		return usagef("--lock-timeout %s must be positive", c.LockTimeout)
	}
	if c.DryRun {
		return dryRun(e, s, plan, c.Domain)
	}
	// On a terminal the bar holds the last line: logs go through it, above the bar.
	bar := newProgress(e, s)
	e = &env{ctx: e.ctx, stdout: e.stdout, stderr: bar, red: e.red}
	a, err := openArchive(e, s, "backfill")
	if err != nil {
		return err
	}
	defer a.close()
	if plan.Gap != nil {
		a.log.Warn("the range starts before the API's 366-day history: that part is clamped and recorded in sync_gaps",
			zap.Time("requested_start", start), zap.Time("clamped_start", plan.Read.Start))
	}
	domains, err := a.domains(e.ctx, s, c.Domain, "--domain")
	if err != nil {
		return a.abort(e, err)
	}
	p, err := a.pipeline(s, len(domains), func(o *pipeline.Config) {
		o.LockTimeout = c.LockTimeout.D()
		o.OnWindow = bar.window
		o.OnPage = bar.page
		o.Reconcile = c.Reconcile
	})
	if err != nil {
		return a.abort(e, err)
	}
	bar.start(plan, len(domains))
	res := p.Backfill(e.ctx, domains, plan)
	bar.done()
	if c.Reconcile {
		refreshAfterRemoval(e, a, res, plan.Read)
	}
	if e.ctx.Err() != nil {
		fmt.Fprintf(e.stderr, "backfill stopped; committed windows are kept and re-reading them is free. To resume, run the same command again:\n  cbarchive %s\n",
			strings.Join(os.Args[1:], " "))
	}
	return a.finish(e, res)
}

// archive is what sync and backfill share: logger, store, limiter, client.
type archive struct {
	runID  string
	log    *zap.Logger
	store  *load.Store
	client *extract.Client
	budget *load.Budget
	cmd    string
	// pushgateway, when set, receives the run's metrics at its end.
	pushgateway string
	started     time.Time
	filterKey   string // the settings' filter, as sync_runs and sync_checkpoints key it
	// runRows says whether the command records itself in sync_runs (sync and backfill do;
	// verify only reads).
	runRows bool
}

// openArchive validates the settings of a command that reads the API and writes the archive,
// then opens the store (checking its schema), the limiter, the client and the rate budget.
func openArchive(e *env, s *Settings, cmd string) (*archive, error) {
	if err := s.validateDatabase(); err != nil {
		return nil, err
	}
	if err := s.validateAPI(); err != nil {
		return nil, err
	}
	runID := newRunID()
	log := newLogger(e.stderr, s.LogLevel, s.LogFormat).With(zap.String("run_id", runID))
	a := &archive{runID: runID, log: log, cmd: cmd, pushgateway: s.Pushgateway, started: time.Now(), runRows: cmd != "verify",
		filterKey: s.filter().Key()}
	store, err := openStore(e, s)
	if err != nil {
		return nil, a.abort(e, err)
	}
	a.store = store
	client, limiter, err := newClient(s, log)
	a.client = client
	if err != nil {
		err = a.abort(e, err)
		store.Close()
		return nil, err
	}
	// The account's budget is shared by every process on this database.
	a.budget, err = store.JoinBudget(e.ctx, load.BudgetOpts{AccessKey: s.AccessKey, RunID: runID, OnShare: limiter.SetShare, Logger: log})
	if err != nil {
		err = a.abort(e, fmt.Errorf("join the account's rate budget: %w", err))
		store.Close()
		return nil, err
	}
	log.Info("run started", zap.String("command", cmd), zap.String("endpoint", s.Endpoint),
		zap.Float64("rate_limit", s.RateLimit), zap.Float64("rate_share", limiter.Limit()), zap.Int("page_size", s.PageSize),
		zap.String("version", version))
	return a, nil
}

// runLevelDomain is the sync_runs.domain of a run-level row: a run that failed before any
// domain started (the database, the rate budget or discovery failed).
const runLevelDomain = ""

// abort ends a run that failed before any domain started: it records a run-level row in
// sync_runs when the database is usable, logs "run finished" with the cause, and returns the
// error for the exit code (2 when a retry cannot fix it).
func (a *archive) abort(e *env, cause error) error {
	config := isConfigError(cause)
	var ue *usageError
	if errors.As(cause, &ue) {
		config = true
	}
	code := exitFailed
	if config {
		code = exitUsage
	}
	if a.store != nil && a.runRows {
		ctx := context.WithoutCancel(e.ctx)
		err := a.store.StartRun(ctx, load.Run{RunID: a.runID, Command: a.cmd, Domain: runLevelDomain})
		if err == nil {
			err = a.store.FinishRun(ctx, a.runID, runLevelDomain, "", load.RunResult{Outcome: load.OutcomeFailed, Err: cause.Error()})
		}
		if err != nil {
			a.log.Warn("could not record the failed run in sync_runs", zap.Error(err))
		}
	}
	a.log.Error("run finished", zap.String("command", a.cmd), zap.String("outcome", load.OutcomeFailed),
		zap.Int("exit_code", code), zap.Int("domains", 0), zap.Duration("duration", time.Since(a.started)),
		zap.String("error", cause.Error()))
	return &failedError{config: config, err: cause}
}

func (a *archive) close() {
	if a.budget != nil && a.client != nil {
		_, last := a.client.Span()
		a.budget.Leave(last)
	}
	a.store.Close()
	_ = a.log.Sync()
}

// openStore validates the database setting, opens the store and checks its schema.
func openStore(e *env, s *Settings) (*load.Store, error) {
	if err := s.validateDatabase(); err != nil {
		return nil, err
	}
	store, err := load.OpenWith(e.ctx, s.DatabaseURL, load.Options{MaxConns: s.MaxConns})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := store.CheckSchema(e.ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// domains returns the domains a run covers: the flag's, else the setting's, else every
// domain of the account (ListDomainDetail). Named domains are refused unless the account
// lists them, a run found them by account-wide counts (discovered_domains), or
// --allow-unknown-domains says they are meant.
func (a *archive) domains(ctx context.Context, s *Settings, flag []string, flagName string) ([]string, error) {
	return resolveDomains(ctx, a.client, a.store, a.log, s, flag, flagName)
}

// resolveDomains is archive.domains for any client and store.
func resolveDomains(ctx context.Context, client *extract.Client, store *load.Store, log *zap.Logger, s *Settings, flag []string, flagName string) ([]string, error) {
	named, source := trimAll(flag), flagName
	if len(named) == 0 {
		named, source = trimAll(s.Domains), "CBARCHIVE_DOMAINS (--domains)"
	}
	if len(named) > 0 && s.AllowUnknownDomains {
		return named, nil
	}
	known, err := client.ListDomains(ctx, nil)
	if err != nil {
		log.Error("cannot list the account's domains", zap.Error(err))
		return nil, fmt.Errorf("list domains (ListDomainDetail): %w", err)
	}
	if len(named) == 0 {
		log.Info("discovered domains", zap.Strings("domains", known))
		if len(known) == 0 {
			log.Warn("the account has no domains: nothing to archive")
		}
		return known, nil
	}
	isKnown := make(map[string]bool, len(known))
	for _, d := range known {
		isKnown[d] = true
	}
	var unknown []string
	for _, d := range named {
		if !isKnown[d] {
			unknown = append(unknown, d)
		}
	}
	if len(unknown) > 0 {
		// Domains found by account-wide counts hold records ListDomainDetail does not list:
		// they are known too.
		found, err := store.DiscoveredDomains(ctx)
		if err != nil {
			return nil, fmt.Errorf("check named domains against discovered_domains: %w", err)
		}
		for _, d := range found {
			isKnown[d.Domain] = true
		}
		unknown = slices.DeleteFunc(unknown, func(d string) bool { return isKnown[d] })
	}
	if len(unknown) > 0 {
		list := strings.Join(known, ", ")
		if len(known) == 0 {
			list = "none"
		}
		return nil, usagef("%s names %s, which ListDomainDetail does not list for this account (it lists: %s): fix the name, "+
			"or add --allow-unknown-domains (CBARCHIVE_ALLOW_UNKNOWN_DOMAINS=true) if it is a deleted domain whose history the API still holds",
			source, strings.Join(unknown, ", "), list)
	}
	return named, nil
}

// newClient returns the API client of the settings, with its own rate limiter.
func newClient(s *Settings, log *zap.Logger) (*extract.Client, *extract.Limiter, error) {
	limiter := extract.NewLimiter(s.RateLimit)
	client, err := extract.NewClient(extract.ClientConfig{
		Endpoint: s.Endpoint, Region: s.Region, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		Timeout: s.RequestTimeout.D(), Limiter: limiter, Logger: log,
	})
	if err != nil {
		return nil, nil, usagef("%v", err)
	}
	return client, limiter, nil
}

// concurrentDomains is how many domains the pipeline reads at once (pipeline.Config.Domains).
const concurrentDomains = 16

// pipeline returns the run's pipeline for n domains.
func (a *archive) pipeline(s *Settings, n int, adjust func(*pipeline.Config)) (*pipeline.Pipeline, error) {
	cfg := pipeline.Config{
		Client: a.client, Store: a.store, Logger: a.log, RunID: a.runID,
		Filter: s.filter(), PageSize: s.PageSize,
		PageConcurrency: pipeline.PageConcurrencyFor(s.RateLimit),
		Domains:         concurrentDomains,
		// Domains read at once share the rate: size windows by each one's part of it.
		TargetPages:     targetPagesFor(s.RateLimit / float64(min(max(n, 1), concurrentDomains))),
		RateLimit:       s.RateLimit,
		InitialLookback: s.InitialLookback.D(), Overlap: s.Overlap.D(), Settle: s.Settle.D(),
	}
	if s.Overlap.D() == 0 {
		cfg.Overlap = time.Nanosecond // zero means "default" in pipeline.Config; 1ns is no overlap at second precision
	}
	if s.Settle.D() == 0 {
		cfg.Settle = time.Nanosecond
	}
	if adjust != nil {
		adjust(&cfg)
	}
	return pipeline.New(cfg)
}

// windowSeconds is about how long one window takes to read at the rate limit: a window commits
// (and a progress bar moves, and Ctrl-C keeps it) within a few seconds at any rate.
const windowSeconds = 3

// targetPagesFor returns the pages a window aims at for a domain read at rate requests per
// second: as many as it reads in windowSeconds, at most the pipeline's default of 25, at least 1.
func targetPagesFor(rate float64) int {
	return max(1, min(25, int(rate*windowSeconds)))
}

// pushMetrics sends the run's metrics to the Pushgateway, if one is configured. A failed push
// is logged; it does not change the run's outcome.
func (a *archive) pushMetrics(e *env, res pipeline.Result, started time.Time) {
	if a.pushgateway == "" {
		return
	}
	m := metrics.RunMetrics{RunID: a.runID, Command: a.cmd, Started: started, Duration: time.Since(started)}
	for _, d := range res.Domains {
		dm := metrics.DomainMetrics{Domain: d.Domain, Outcome: d.Outcome,
			New: d.Counts.New, Updated: d.Counts.Updated, Unchanged: d.Counts.Unchanged, Rejected: d.Counts.Rejected,
			Requests: d.Requests, Retries: d.Retries, RetriesByClass: d.RetriesByClass}
		if d.Watermark != nil && a.cmd == "sync" {
			lag := time.Since(*d.Watermark)
			dm.Lag = &lag
		}
		m.Domains = append(m.Domains, dm)
	}
	timeout := metrics.DefaultTimeout
	if e.ctx.Err() != nil {
		timeout = 2 * time.Second // stopped by a signal: exit within the grace period
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), timeout)
	defer cancel()
	if err := metrics.Push(ctx, a.pushgateway, m); err != nil {
		a.log.Warn("could not push the run's metrics", zap.Error(err))
		return
	}
	a.log.Info("metrics pushed", zap.String("command", a.cmd))
}

// recordEarlyFailures writes a sync_runs row for each domain that failed before the pipeline
// recorded its run (its lock or its checkpoint could not be read: no range was planned), so that
// every failure leaves a trace that status shows.
func (a *archive) recordEarlyFailures(e *env, failed []pipeline.DomainResult) {
	ctx := context.WithoutCancel(e.ctx)
	filterKey := a.filterKey
	for _, d := range failed {
		if !d.Read.Start.IsZero() || d.Err == nil {
			continue
		}
		err := a.store.StartRun(ctx, load.Run{RunID: a.runID, Command: a.cmd, Domain: d.Domain, FilterKey: filterKey})
		if err == nil {
			err = a.store.FinishRun(ctx, a.runID, d.Domain, filterKey, load.RunResult{Outcome: load.OutcomeFailed,
				Requests: d.Requests, Retries: d.Retries, Err: d.Err.Error()})
		}
		if err != nil {
			a.log.Warn("could not record the domain's failure in sync_runs", zap.String("domain", d.Domain), zap.Error(err))
		}
	}
}

// finish logs the run's summary ("run finished") and turns failures into the exit code.
func (a *archive) finish(e *env, res pipeline.Result) error {
	var total load.Counts
	var requests, retries int64
	outcomes := map[string]int{}
	for _, d := range res.Domains {
		total = total.Add(d.Counts)
		requests += d.Requests
		retries += d.Retries
		outcomes[d.Outcome]++
	}
	fields := []zap.Field{
		zap.String("command", a.cmd), zap.Int("domains", len(res.Domains)),
		zap.Int("domains_succeeded", outcomes[pipeline.OutcomeSuccess]), zap.Int("domains_failed", outcomes[pipeline.OutcomeFailed]),
		zap.Int("domains_skipped", outcomes[pipeline.OutcomeSkipped]), zap.Int("domains_cancelled", outcomes[pipeline.OutcomeCancelled]),
		zap.Int64("records_new", total.New), zap.Int64("records_updated", total.Updated),
		zap.Int64("records_unchanged", total.Unchanged), zap.Int64("records_rejected", total.Rejected),
		zap.Int64("requests", requests), zap.Int64("retries", retries), zap.Duration("duration", time.Since(a.started)),
	}
	a.pushMetrics(e, res, a.started)
	if total.New+total.Updated > 0 && e.ctx.Err() == nil {
		// Not after a signal: the process must exit promptly, and the next run refreshes.
		// The analysts' hourly rollup follows the archive; its failure does not fail the run
		// (the archive itself is complete), but it is logged loudly.
		if n, err := a.store.RefreshAnalytics(context.WithoutCancel(e.ctx), false); err != nil {
			a.log.Error("could not refresh callback_hourly; run SELECT cbarchive_refresh_analytics() by hand", zap.Error(err))
		} else {
			a.log.Info("analytics refreshed", zap.Int64("callback_hourly_rows", n))
		}
	}
	failed := res.Failed()
	a.recordEarlyFailures(e, failed)
	switch {
	case len(failed) > 0:
		var names []string
		config := false
		for _, f := range failed {
			names = append(names, f.Domain)
			config = config || isConfigError(f.Err)
		}
		code := exitFailed
		hint := "the others' progress is committed; the next run retries the failed domains"
		if config {
			code = exitUsage
			hint = "a retry cannot fix this: fix the configuration the error names (credentials, database role or grants, schema), then rerun"
		}
		a.log.Error("run finished", append(fields, zap.String("outcome", load.OutcomeFailed), zap.Int("exit_code", code),
			zap.Strings("failed", names), zap.String("hint", hint))...)
		return &failedError{n: len(failed), config: config}
	case outcomes[pipeline.OutcomeCancelled] > 0 || e.ctx.Err() != nil:
		a.log.Warn("run finished", append(fields, zap.String("outcome", load.OutcomeCancelled), zap.Int("exit_code", exitFailed),
			zap.String("hint", "stopped by a signal; committed windows are kept and a rerun continues"))...)
		return &failedError{n: outcomes[pipeline.OutcomeCancelled]}
	default:
		a.log.Info("run finished", append(fields, zap.String("outcome", load.OutcomeSuccess), zap.Int("exit_code", exitOK))...)
		return nil
	}
}
