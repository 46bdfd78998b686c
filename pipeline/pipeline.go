package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// ExpiryWarning is how old a watermark may get before runs and `status` warn that unarchived
// history is about to pass the API's 366-day horizon (within 30 days of it).
const ExpiryWarning = 336 * 24 * time.Hour

// Mode says which command a run serves.
type Mode string

// The run modes.
const (
	ModeSync     Mode = "sync"
	ModeBackfill Mode = "backfill"
)

// Outcomes of a domain's run: those of sync_runs, defined in package load.
const (
	OutcomeSuccess   = load.OutcomeSuccess
	OutcomeFailed    = load.OutcomeFailed
	OutcomeCancelled = load.OutcomeCancelled
	OutcomeSkipped   = load.OutcomeSkipped
)

// Config configures a Pipeline. Zero values take the defaults named on each field.
type Config struct {
	Client *extract.Client // required
	Store  *load.Store     // required
	Logger *zap.Logger     // default: no logs
	RunID  string          // required

	Filter   extract.Filter
	PageSize int // default 1000
	// TargetPages is the number of pages a window aims at; default 25 (split above twice
	// that). Small windows keep transactions short and let one domain's merge overlap other
	// domains' requests; each costs one extra request only when the density changes.
	TargetPages     int
	PageConcurrency int           // page requests in flight per window; default 8
	Domains         int           // domains processed at once; default 16, at most Store.WindowSlots()
	InitialLookback time.Duration // default 24h
	Overlap         time.Duration // default 10m
	Settle          time.Duration // default 2m
	LockTimeout     time.Duration // how long backfill waits for a domain's lock; default 10m
	Now             func() time.Time
	// OnWindow, when set, is called after each committed window (for progress bars).
	OnWindow func(WindowEvent)
	// OnPage, when set, is called for every page received, with its domain and records. It may
	// be called from several goroutines at once.
	OnPage func(domain string, records int)
	// Reconcile makes every window's rows equal to a complete read of it (backfill
	// --reconcile): each window is read as one page holding fewer records than a page (split
	// until it does; provably complete whatever the API's order), and its commit moves the
	// rows that read does not account for to callback_records_removed (load.Prune) with
	// ReconcileReason. A window that cannot be read so (one second holding a page or more)
	// fails the domain and removes nothing.
	Reconcile bool
}

// ReconcileReason is callback_records_removed.reason for rows a reconciling backfill removes.
const ReconcileReason = "not in a complete read of its window (backfill --reconcile)"

// WindowEvent describes a committed window.
type WindowEvent struct {
	Domain  string
	Window  extract.Range
	Records int64
	Counts  load.Counts
}

// Pipeline runs syncs and backfills.
type Pipeline struct {
	cfg Config
	log *zap.Logger
}

// New returns a Pipeline for cfg.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Client == nil || cfg.Store == nil || cfg.RunID == "" {
		return nil, errors.New("pipeline: Client, Store and RunID are required")
	}
	cfg.PageSize = cmpOr(cfg.PageSize, 1000)
	cfg.TargetPages = cmpOr(cfg.TargetPages, 25)
	cfg.PageConcurrency = cmpOr(cfg.PageConcurrency, 8)
	// Each domain's window holds a connection while it commits: no more domains at once than
	// the store's connection budget leaves room for.
	cfg.Domains = min(cmpOr(cfg.Domains, 16), max(cfg.Store.WindowSlots(), 1))
	cfg.InitialLookback = cmpOr(cfg.InitialLookback, 24*time.Hour)
	cfg.Overlap = cmpOr(cfg.Overlap, 10*time.Minute)
	cfg.Settle = cmpOr(cfg.Settle, 2*time.Minute)
	cfg.LockTimeout = cmpOr(cfg.LockTimeout, 10*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Pipeline{cfg: cfg, log: cfg.Logger}, nil
}

// PageConcurrencyFor returns how many page requests a window keeps in flight at a rate limit:
// enough to use the whole rate when answers take up to half a second (in flight ≈ rate ×
// latency), but bounded, since pages in flight are memory.
func PageConcurrencyFor(rateLimit float64) int {
	return min(16, max(4, int(rateLimit/2)))
}

func cmpOr[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// DomainResult is one domain's outcome.
type DomainResult struct {
	Domain   string
	Outcome  string
	Counts   load.Counts
	Requests int64
	Retries  int64
	// RetriesByClass counts retries by error class (extract.Class names).
	RetriesByClass map[string]int64
	Windows        int
	Read           extract.Range
	Gap            *extract.Range
	Watermark      *time.Time
	Err            error
	Duration       time.Duration
}

// Result is a run's outcome over all its domains.
type Result struct {
	Domains []DomainResult
}

// Failed returns the domains that failed.
func (r Result) Failed() []DomainResult {
	var out []DomainResult
	for _, d := range r.Domains {
		if d.Outcome == OutcomeFailed {
			out = append(out, d)
		}
	}
	return out
}

// Sync runs an incremental sync of domains.
func (p *Pipeline) Sync(ctx context.Context, domains []string) Result {
	return p.run(ctx, ModeSync, domains, nil)
}

// Backfill re-reads r for domains. It never moves a watermark.
func (p *Pipeline) Backfill(ctx context.Context, domains []string, plan extract.Plan) Result {
	return p.run(ctx, ModeBackfill, domains, &plan)
}

func (p *Pipeline) run(ctx context.Context, mode Mode, domains []string, backfill *extract.Plan) Result {
	res := Result{Domains: make([]DomainResult, len(domains))}
	sem := make(chan struct{}, p.cfg.Domains)
	var wg sync.WaitGroup
	for i, d := range domains {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res.Domains[i] = DomainResult{Domain: d, Outcome: OutcomeCancelled, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			res.Domains[i] = p.runDomain(ctx, mode, d, backfill)
		})
	}
	wg.Wait()
	return res
}

// domainRun is the state of one domain's run.
type domainRun struct {
	mode    Mode
	key     load.CheckpointKey
	filter  json.RawMessage
	first   time.Time
	stats   extract.Stats
	sizer   *extract.Sizer
	counts  load.Counts
	win     int
	log     *zap.Logger
	started time.Time
	lease   *load.Lease // checked by every window's commit
}

func (p *Pipeline) runDomain(ctx context.Context, mode Mode, domain string, backfill *extract.Plan) (res DomainResult) {
	started := time.Now()
	res.Domain = domain
	filterJSON, _ := json.Marshal(p.cfg.Filter)
	st := &domainRun{
		mode:    mode,
		key:     load.CheckpointKey{Domain: domain, FilterKey: p.cfg.Filter.Key()},
		filter:  filterJSON,
		sizer:   extract.NewSizer(p.cfg.PageSize, p.cfg.TargetPages),
		log:     p.log.With(zap.String("domain", domain)),
		started: started,
	}
	if st.key.FilterKey != "" {
		st.log = st.log.With(zap.String("filter", st.key.FilterKey))
	}
	if len(p.cfg.Filter.Statuses) > 0 {
		st.log.Info("a status filter cannot be applied exactly (status is not part of a record's identity): every status of each window is read and archived")
	}
	defer func() {
		res.Duration = time.Since(started)
		res.Counts = st.counts
		res.Requests = st.stats.Requests.Load()
		res.Retries = st.stats.Retries.Load()
		res.RetriesByClass = st.stats.RetryClasses()
		res.Windows = st.win
	}()

	// The lock: a sync skips a domain another run holds; a backfill waits for it.
	var lease *load.Lease
	var err error
	if mode == ModeSync {
		var ok bool
		lease, ok, err = p.cfg.Store.TryLock(ctx, st.key, "run "+p.cfg.RunID)
		if err == nil && !ok {
			st.log.Info("domain is locked by another run; skipping it")
			res.Outcome = OutcomeSkipped
			return res
		}
	} else {
		lease, err = p.cfg.Store.Lock(ctx, st.key, "run "+p.cfg.RunID, p.cfg.LockTimeout)
	}
	if err != nil {
		res.Outcome, res.Err = outcomeOf(ctx, err), fmt.Errorf("lock domain %s: %w", domain, err)
		p.logDomain(st, res)
		return res
	}
	defer lease.Release()
	st.lease = lease

	// The plan.
	now := p.cfg.Now()
	var plan extract.Plan
	if backfill != nil {
		// Clamp again now: this domain may have waited for a slot or for its lock since the
		// command planned, and the API's history limit moves with the clock.
		requested := backfill.Requested
		if requested.Start.IsZero() {
			requested = backfill.Read
		}
		plan, err = extract.PlanBackfill(requested.Start, requested.End, now)
		if err != nil {
			res.Outcome, res.Err = OutcomeFailed, fmt.Errorf("plan backfill of %s: %w", domain, err)
			p.logDomain(st, res)
			return res
		}
	} else {
		cp, found, err := p.cfg.Store.Checkpoint(ctx, st.key)
		if err != nil {
			res.Outcome, res.Err = outcomeOf(ctx, err), fmt.Errorf("read checkpoint of %s: %w", domain, err)
			p.logDomain(st, res)
			return res
		}
		sp := extract.SyncParams{Now: now, InitialLookback: p.cfg.InitialLookback, Overlap: p.cfg.Overlap, Settle: p.cfg.Settle}
		if found {
			wm := cp.Watermark
			sp.Watermark = &wm
			res.Watermark = &wm
			st.first = cp.FirstStart
		}
		plan = extract.PlanSync(sp)
		if !found {
			st.first = plan.Read.Start
		}
		if found && now.Sub(cp.Watermark) > ExpiryWarning {
			st.log.Warn("EXPIRY: the watermark is close to the API's 366-day horizon; history not archived before it is lost for good",
				zap.Time("watermark", cp.Watermark), zap.Int("days_old", int(now.Sub(cp.Watermark).Hours()/24)),
				zap.Int("days_left", int((extract.History-now.Sub(cp.Watermark)).Hours()/24)))
		}
	}
	res.Read, res.Gap = plan.Read, plan.Gap
	ws, we := plan.Read.Start, plan.Read.End
	run := load.Run{RunID: p.cfg.RunID, Command: string(mode), Domain: domain, FilterKey: st.key.FilterKey, WindowStart: &ws, WindowEnd: &we}
	if err := p.cfg.Store.StartRun(ctx, run); err != nil {
		res.Outcome, res.Err = outcomeOf(ctx, err), fmt.Errorf("record run start of %s: %w", domain, err)
		p.logDomain(st, res)
		return res
	}
	if plan.Gap != nil {
		inserted, err := p.cfg.Store.RecordGap(ctx, st.key, plan.Gap.Start, plan.Gap.End, "older than the API's 366-day history", p.cfg.RunID)
		if err != nil {
			st.log.Error("could not record a history gap", zap.Error(err))
		}
		st.log.Warn("part of the range is older than the API's 366-day history and cannot be archived",
			zap.Time("gap_start", plan.Gap.Start), zap.Time("gap_end", plan.Gap.End), zap.Bool("new_gap", inserted))
	}

	err = p.readRange(ctx, st, plan.Read)
	res.Outcome = OutcomeSuccess
	if err != nil {
		res.Outcome, res.Err = outcomeOf(ctx, err), err
	}
	if mode == ModeSync {
		if cp, found, cerr := p.cfg.Store.Checkpoint(context.WithoutCancel(ctx), st.key); cerr == nil && found {
			wm := cp.Watermark
			res.Watermark = &wm
		}
	}
	errText := ""
	if res.Err != nil {
		errText = res.Err.Error()
	}
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ferr := p.cfg.Store.FinishRun(finishCtx, p.cfg.RunID, domain, st.key.FilterKey, load.RunResult{
		Outcome: res.Outcome, Counts: st.counts, Requests: st.stats.Requests.Load(), Retries: st.stats.Retries.Load(),
		WindowStart: &ws, WindowEnd: &we, Err: errText,
	}); ferr != nil {
		st.log.Error("could not record the run's outcome", zap.Error(ferr))
	}
	p.logDomain(st, res)
	return res
}

func outcomeOf(ctx context.Context, err error) string {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return OutcomeCancelled
	}
	return OutcomeFailed
}

func (p *Pipeline) logDomain(st *domainRun, res DomainResult) {
	fields := []zap.Field{
		zap.String("outcome", res.Outcome), zap.String("command", string(st.mode)),
		zap.Int64("records_new", st.counts.New), zap.Int64("records_updated", st.counts.Updated),
		zap.Int64("records_unchanged", st.counts.Unchanged), zap.Int64("records_rejected", st.counts.Rejected),
		zap.Int64("requests", st.stats.Requests.Load()), zap.Int64("retries", st.stats.Retries.Load()),
		zap.Int("windows", st.win), zap.Duration("duration", time.Since(st.started)),
	}
	if p.cfg.Reconcile {
		fields = append(fields, zap.Int64("records_removed", st.counts.Removed))
	}
	if !res.Read.Start.IsZero() {
		fields = append(fields, zap.Time("range_start", res.Read.Start), zap.Time("range_end", res.Read.End))
	}
	if res.Watermark != nil {
		fields = append(fields, zap.Time("watermark", *res.Watermark), zap.Duration("lag", p.cfg.Now().Sub(*res.Watermark)))
	}
	switch res.Outcome {
	case OutcomeFailed:
		st.log.Error("domain failed", append(fields, zap.String("error", res.Err.Error()))...)
	case OutcomeCancelled:
		st.log.Warn("domain stopped before finishing; a rerun continues from its last committed window", fields...)
	default:
		st.log.Info("domain done", fields...)
	}
}

// readRange reads r window by window, in time order.
func (p *Pipeline) readRange(ctx context.Context, st *domainRun, r extract.Range) error {
	if r.Empty() {
		return nil
	}
	for cur := r.Start; ; {
		if err := st.lease.Err(); err != nil {
			return err // another run took the domain over: its windows are its own now
		}
		end := st.sizer.Next(cur, r.End)
		if err := p.window(ctx, st, extract.Range{Start: cur, End: end}); err != nil {
			return err
		}
		if !end.Before(r.End) {
			return nil
		}
		cur = end
	}
}

// maxDriftRereads is how often a drifting window is re-read whole before it is split.
const maxDriftRereads = 3

// window archives one window: probes its size, splits it if it is too dense, and otherwise
// loads all its pages in one transaction, re-reading it if its records move meanwhile.
func (p *Pipeline) window(ctx context.Context, st *domainRun, w extract.Range) error {
	qf := p.cfg.Filter.Queried()
	q := extract.Query{Domain: st.key.Domain, Filter: qf, Start: w.Start, End: w.End, PageNum: 1, PageSize: p.cfg.PageSize}
	for attempt := 1; ; attempt++ {
		first, err := p.cfg.Client.Describe(ctx, q, &st.stats)
		if err != nil {
			return fmt.Errorf("window %s of %s page 1: %w", w, st.key.Domain, err)
		}
		st.sizer.Observe(w.End.Sub(w.Start), first.TotalCount)
		canSplit := w.End.Sub(w.Start) >= 2*time.Second
		maxRecords, perPart := st.sizer.MaxRecords(), st.sizer.TargetPages*p.cfg.PageSize
		if p.cfg.Reconcile {
			maxRecords, perPart = p.cfg.PageSize-1, max(1, p.cfg.PageSize/2)
		}
		if first.TotalCount > maxRecords && canSplit {
			n := (first.TotalCount + perPart - 1) / perPart
			parts := extract.Split(w, max(n, 2))
			st.log.Debug("window too dense, splitting", zap.Time("window_start", w.Start), zap.Time("window_end", w.End),
				zap.Int("total_count", first.TotalCount), zap.Int("parts", len(parts)))
			for _, part := range parts {
				if err := p.window(ctx, st, part); err != nil {
					return err
				}
			}
			return nil
		}
		if first.TotalCount > maxRecords && p.cfg.Reconcile {
			return fmt.Errorf("window %s of %s holds %d records in one second, a page or more (page size %d): a reconciling backfill cannot read it provably complete; nothing of it was removed",
				w, st.key.Domain, first.TotalCount, p.cfg.PageSize)
		}
		if first.TotalCount > extract.MaxPageNum*p.cfg.PageSize {
			return fmt.Errorf("window %s of %s holds %d records in one second: more than the API can page through (%d pages of %d)",
				w, st.key.Domain, first.TotalCount, extract.MaxPageNum, p.cfg.PageSize)
		}
		err = p.load(ctx, st, q, w, first)
		if errors.Is(err, load.ErrRetryable) && ctx.Err() == nil && attempt < maxDriftRereads {
			// A deadlock with a concurrent run, or a lost connection: nothing was committed.
			st.log.Warn("transient database failure; reading the window again",
				zap.Time("window_start", w.Start), zap.Time("window_end", w.End), zap.Int("attempt", attempt), zap.Error(err))
			continue
		}
		if err == nil || !errors.Is(err, extract.ErrDrift) {
			return err
		}
		st.log.Info("records moved while reading the window; reading it again",
			zap.Time("window_start", w.Start), zap.Time("window_end", w.End), zap.Int("attempt", attempt), zap.String("detail", err.Error()))
		if attempt >= maxDriftRereads && canSplit {
			for _, part := range extract.Split(w, 2) {
				if err := p.window(ctx, st, part); err != nil {
					return err
				}
			}
			return nil
		}
		if attempt >= 4*maxDriftRereads {
			return fmt.Errorf("window %s of %s: records kept moving after %d reads: %w", w, st.key.Domain, attempt, err)
		}
	}
}

// load reads every page of the window into one transaction and commits it with the checkpoint.
func (p *Pipeline) load(ctx context.Context, st *domainRun, q extract.Query, w extract.Range, first extract.Page) error {
	opts := load.WindowOpts{Key: st.key, Filter: st.filter, RunID: p.cfg.RunID, Start: w.Start, End: w.End, FirstStart: st.first, Lease: st.lease}
	if st.mode == ModeSync {
		end := w.End
		opts.Advance = &end
	}
	if p.cfg.Reconcile {
		// The window's query covers [Start, End], both seconds included: the range ends just
		// after End at the database's precision.
		opts.Prune = &load.Prune{Start: w.Start, End: w.End.Add(time.Microsecond), App: p.cfg.Filter.App,
			Stream: p.cfg.Filter.Stream, EventTypes: p.cfg.Filter.EventTypes, Reason: ReconcileReason}
	}
	tx, err := p.cfg.Store.BeginWindow(ctx, opts)
	if err != nil {
		return fmt.Errorf("window %s of %s: %w", w, st.key.Domain, err)
	}
	defer tx.Rollback()
	var records int64
	rows := make([]transform.Row, 0, p.cfg.PageSize)
	err = p.cfg.Client.ReadPages(ctx, q, first, p.cfg.PageConcurrency, &st.stats, func(pg extract.Page) error {
		rows = rows[:0]
		var rejects []transform.Reject
		for i := range pg.Records {
			rec := &pg.Records[i]
			row, err := transform.Normalize(*rec)
			if err != nil {
				rejects = append(rejects, reject(st.key.Domain, *rec, err))
				continue
			}
			rows = append(rows, row)
		}
		records += int64(len(pg.Records))
		if p.cfg.OnPage != nil {
			p.cfg.OnPage(st.key.Domain, len(pg.Records))
		}
		if err := tx.AddRows(ctx, rows); err != nil {
			return err
		}
		if len(rejects) > 0 {
			for _, rj := range rejects {
				st.log.Warn("record rejected", zap.Time("window_start", w.Start), zap.Time("window_end", w.End),
					zap.Int("page", pg.PageNum), zap.String("request_id", pg.RequestID), zap.String("reason", rj.Reason))
			}
			return tx.AddRejects(ctx, rejects)
		}
		return nil
	})
	if err != nil {
		return err
	}
	counts, err := tx.Commit(ctx)
	if err != nil {
		return err
	}
	st.win++
	st.counts.New += counts.New
	st.counts.Updated += counts.Updated
	st.counts.Unchanged += counts.Unchanged
	st.counts.Rejected += counts.Rejected
	st.counts.Removed += counts.Removed
	st.log.Debug("window committed", zap.Time("window_start", w.Start), zap.Time("window_end", w.End),
		zap.Int("pages", extract.Pages(first.TotalCount, p.cfg.PageSize)), zap.Int64("records", records),
		zap.String("request_id", first.RequestID),
		zap.Int64("records_new", counts.New), zap.Int64("records_updated", counts.Updated),
		zap.Int64("records_unchanged", counts.Unchanged), zap.Int64("records_rejected", counts.Rejected))
	if p.cfg.OnWindow != nil {
		p.cfg.OnWindow(WindowEvent{Domain: st.key.Domain, Window: w, Records: records, Counts: counts})
	}
	return nil
}

func reject(domain string, rec callback.Record, err error) transform.Reject {
	rj := transform.NewReject(rec, err)
	if rj.Domain == "" {
		rj.Domain = domain
	}
	return rj
}
