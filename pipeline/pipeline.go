package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"

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

// Source is what the pipeline needs of the API: one page of a query (*extract.Client).
type Source = extract.Source

// Sink is what the pipeline needs of the archive (*load.Store, through StoreSink): the domain's
// lock and checkpoint, its runs and gaps, and one transaction per window.
type Sink interface {
	TryLock(ctx context.Context, key load.CheckpointKey, holder string) (lease *load.Lease, ok bool, err error)
	Lock(ctx context.Context, key load.CheckpointKey, holder string, timeout time.Duration) (*load.Lease, error)
	Checkpoint(ctx context.Context, key load.CheckpointKey) (load.Checkpoint, bool, error)
	StartRun(ctx context.Context, r load.Run) error
	FinishRun(ctx context.Context, runID, domain, filterKey string, res load.RunResult) error
	RecordGap(ctx context.Context, key load.CheckpointKey, from, to time.Time, reason, runID string) (bool, error)
	// CommitWindow writes a window's rows and rejects, and advances the checkpoint when
	// o.Advance is set, in one transaction.
	CommitWindow(ctx context.Context, o load.WindowOpts, rows []transform.Row, rejects []transform.Reject) (load.Counts, error)
	// RecordDiscovered records a domain found by account-wide counts (see Discover).
	RecordDiscovered(ctx context.Context, domain, runID string) error
}

// StoreSink adapts a *load.Store to Sink.
type StoreSink struct{ *load.Store }

// CommitWindow opens the window's transaction only now, with every row already in memory, so
// that no connection waits in an open transaction while pages are fetched.
func (s StoreSink) CommitWindow(ctx context.Context, o load.WindowOpts, rows []transform.Row, rejects []transform.Reject) (load.Counts, error) {
	tx, err := s.BeginWindow(ctx, o)
	if err != nil {
		return load.Counts{}, err
	}
	defer tx.Rollback()
	if len(rows) > 0 {
		if err := tx.AddRows(ctx, rows); err != nil {
			return load.Counts{}, err
		}
	}
	if len(rejects) > 0 {
		if err := tx.AddRejects(ctx, rejects); err != nil {
			return load.Counts{}, err
		}
	}
	return tx.Commit(ctx)
}

// Config configures a Pipeline. Zero values take the defaults named on each field.
type Config struct {
	Client *extract.Client // the API; required unless Source is set
	Store  *load.Store     // the archive; required unless Sink is set
	Source Source          // default: Client
	Sink   Sink            // default: StoreSink{Store}
	Logger *zap.Logger     // default: no logs
	RunID  string          // required
	// Learned is what the run learns of the API (order, caps, limits), shared by every domain;
	// default: a fresh one per Pipeline.
	Learned *extract.Learned

	Filter   extract.Filter
	PageSize int // default 1000
	// TargetPages is the number of pages a window aims at; default 25 (split above twice
	// that). Small windows keep transactions short and let one domain's merge overlap other
	// domains' requests; each costs one extra request only when the density changes.
	TargetPages     int
	PageConcurrency int // page requests in flight per window; default 8
	// RateLimit is the process's requests per second (default 30): a window holds at most
	// max(1, 4 × RateLimit) pages, so that it commits within a few seconds.
	RateLimit float64
	// MaxRecordsInFlight bounds the records the whole process holds between fetching and
	// committing, over every domain and window; default 40,000. One window holds at most an
	// eighth of it.
	MaxRecordsInFlight int
	// Lookahead is how many windows of one domain are read at once (the one to commit next and
	// those after it); default 4. Up to 4 × Lookahead windows may wait, read, for their turn
	// to commit (within the memory budget).
	Lookahead       int
	Domains         int           // domains processed at once; default 16, at most Store.WindowSlots()
	InitialLookback time.Duration // default 24h
	Overlap         time.Duration // default 10m
	Settle          time.Duration // default 2m
	LockTimeout     time.Duration // how long backfill waits for a domain's lock; default 10m
	Now             func() time.Time
	// OnWindow, when set, is called after each committed window (for progress bars).
	OnWindow func(WindowEvent)
	// OnPage, when set, is called for every page received, with its domain and records. It may
	// be called from several goroutines at once, and for pages of windows read ahead of the one
	// being committed.
	OnPage func(domain string, records int)
	// Reconcile makes every window's rows equal to the window's complete read (backfill
	// --reconcile): its commit moves the rows of [S, E) that the read does not account for to
	// callback_records_removed (load.Prune) with ReconcileReason. A window with a second that
	// could not be read provably complete fails the domain and removes nothing.
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
	cfg     Config
	log     *zap.Logger
	mem     *budget // records in flight, process-wide
	memSize int64
}

// budget is the process-wide memory budget, in records held between fetching and committing.
// Every release wakes the domains waiting for room to read ahead (see changed), so that a
// domain reads more windows as soon as another domain frees memory, not only at its own next
// read or commit.
type budget struct {
	*semaphore.Weighted
	mu    sync.Mutex
	freed chan struct{} // closed by the next release
}

func newBudget(n int64) *budget {
	return &budget{Weighted: semaphore.NewWeighted(n), freed: make(chan struct{})}
}

// Release returns n records to the budget and wakes every waiter of changed.
func (b *budget) Release(n int64) {
	if n <= 0 {
		return
	}
	b.Weighted.Release(n)
	b.mu.Lock()
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// changed returns a channel closed by the next release.
func (b *budget) changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.freed
}

// New returns a Pipeline for cfg.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Source == nil && cfg.Client != nil {
		cfg.Source = cfg.Client
	}
	if cfg.Sink == nil && cfg.Store != nil {
		cfg.Sink = StoreSink{cfg.Store}
	}
	if cfg.Source == nil || cfg.Sink == nil || cfg.RunID == "" {
		return nil, errors.New("pipeline: a Client (or Source), a Store (or Sink) and a RunID are required")
	}
	cfg.PageSize = cmpOr(cfg.PageSize, 1000)
	cfg.TargetPages = cmpOr(cfg.TargetPages, 25)
	cfg.PageConcurrency = cmpOr(cfg.PageConcurrency, 8)
	cfg.Domains = cmpOr(cfg.Domains, 16)
	if cfg.Store != nil {
		// Each domain's window holds a connection while it commits: no more domains at once
		// than the store's connection budget leaves room for.
		cfg.Domains = min(cfg.Domains, max(cfg.Store.WindowSlots(), 1))
	}
	cfg.RateLimit = cmpOr(cfg.RateLimit, 30)
	cfg.MaxRecordsInFlight = cmpOr(cfg.MaxRecordsInFlight, 40000)
	cfg.Lookahead = cmpOr(cfg.Lookahead, 4)
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
	if cfg.Learned == nil {
		cfg.Learned = extract.NewLearned(cfg.Logger)
	}
	p := &Pipeline{cfg: cfg, log: cfg.Logger}
	// A window's memory weight (extract.Reader.Weight) is at most 1.5 × max(MaxWindowRecords,
	// 2 pages) + 2 pages: make sure the budget holds one window.
	p.memSize = int64(max(cfg.MaxRecordsInFlight, 3*max(p.maxWindowRecords(), 2*cfg.PageSize)/2+2*cfg.PageSize))
	p.mem = newBudget(p.memSize)
	return p, nil
}

// maxWindowRecords is the most records a window holds: an eighth of the memory budget, and at
// most max(1, 4 × rate) pages.
func (p *Pipeline) maxWindowRecords() int {
	pages := max(1, int(4*p.cfg.RateLimit))
	return max(p.cfg.PageSize, min(p.cfg.MaxRecordsInFlight/8, pages*p.cfg.PageSize))
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
	lease   *load.Lease // checked by every window's commit
	reader  *extract.Reader
	query   extract.Query
	gaps    int
	counts  load.Counts
	win     int
	log     *zap.Logger
	started time.Time
}

func (p *Pipeline) runDomain(ctx context.Context, mode Mode, domain string, backfill *extract.Plan) (res DomainResult) {
	started := time.Now()
	res.Domain = domain
	filterJSON, _ := json.Marshal(p.cfg.Filter)
	st := &domainRun{
		mode:    mode,
		key:     load.CheckpointKey{Domain: domain, FilterKey: p.cfg.Filter.Key()},
		filter:  filterJSON,
		log:     p.log.With(zap.String("domain", domain)),
		started: started,
	}
	var onPage func(int)
	if p.cfg.OnPage != nil {
		onPage = func(n int) { p.cfg.OnPage(domain, n) }
	}
	st.reader = extract.NewReader(extract.ReaderConfig{
		Source: p.cfg.Source, Learned: p.cfg.Learned, PageSize: p.cfg.PageSize, TargetPages: p.cfg.TargetPages,
		MaxWindowRecords: p.maxWindowRecords(), Concurrency: p.cfg.PageConcurrency, Now: p.cfg.Now,
		Logger: st.log, OnPage: onPage,
	})
	st.sizer = extract.NewSizer(st.reader.Target, p.cfg.Learned.MaxSpan)
	// Every status of a window is read and archived (see extract.Filter.Queried).
	st.query = extract.Query{Domain: domain, Filter: p.cfg.Filter.Queried(), PageSize: p.cfg.PageSize}
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
		lease, ok, err = p.cfg.Sink.TryLock(ctx, st.key, "run "+p.cfg.RunID)
		if err == nil && !ok {
			st.log.Info("domain is locked by another run; skipping it")
			res.Outcome = OutcomeSkipped
			return res
		}
	} else {
		lease, err = p.cfg.Sink.Lock(ctx, st.key, "run "+p.cfg.RunID, p.cfg.LockTimeout)
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
		cp, found, err := p.cfg.Sink.Checkpoint(ctx, st.key)
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
	if err := p.cfg.Sink.StartRun(ctx, run); err != nil {
		res.Outcome, res.Err = outcomeOf(ctx, err), fmt.Errorf("record run start of %s: %w", domain, err)
		p.logDomain(st, res)
		return res
	}
	if plan.Gap != nil {
		inserted, err := p.cfg.Sink.RecordGap(ctx, st.key, plan.Gap.Start, plan.Gap.End, "older than the API's 366-day history", p.cfg.RunID)
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
		if cp, found, cerr := p.cfg.Sink.Checkpoint(context.WithoutCancel(ctx), st.key); cerr == nil && found {
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
	if ferr := p.cfg.Sink.FinishRun(finishCtx, p.cfg.RunID, domain, st.key.FilterKey, load.RunResult{
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

// future is a window being read ahead of the commits.
type future struct {
	w      extract.Window
	first  bool // read with ReadFirst: the domain's density was not known yet
	weight int64
	cancel context.CancelFunc
	done   chan struct{}
	res    *extract.WindowRead
	err    error
}

// readRange reads r as windows [S, E) in time order. Up to Lookahead windows are read at once
// (each holding its weight of the process-wide memory budget from before its first request
// until it is read, then the number of its records until it is committed); they are committed
// strictly in time order, in transactions opened only once their records are in memory. A
// commit runs in the background, one at a time, while the next windows are read.
func (p *Pipeline) readRange(ctx context.Context, st *domainRun, r extract.Range) error {
	if r.Empty() {
		return nil
	}
	var queue []*future
	drop := func(fs []*future) {
		for _, f := range fs {
			f.cancel()
		}
		for _, f := range fs {
			<-f.done
			p.mem.Release(f.weight)
		}
	}
	defer func() { drop(queue) }()
	// wake is signalled whenever a read ends, so that another can start at once.
	wake := make(chan struct{}, 1)
	launch := func(w extract.Window, weight int64) *future {
		fctx, cancel := context.WithCancel(extract.WithPriority(ctx, w.Start))
		f := &future{w: w, first: !st.sizer.Known(), weight: weight, cancel: cancel, done: make(chan struct{})}
		go func() {
			defer func() {
				select {
				case wake <- struct{}{}:
				default:
				}
			}()
			defer close(f.done)
			f.res, f.err = st.reader.ReadWindow(fctx, st.query, w, &st.stats, extract.ReadOpts{First: f.first,
				Holds: func(n int64) {
					// Its count is known: the rest of its weight lets other windows be read.
					if n < f.weight {
						p.mem.Release(f.weight - n)
						f.weight = n
					}
				}})
			if f.err == nil {
				// The freshest density sizes the windows planned next.
				st.sizer.Learn(f.res)
			}
			if f.err == nil && !f.res.Window.End.Before(w.End) {
				// Read whole: it holds its records only until its commit, not the most a read
				// may gather. The rest of its weight lets other windows be read meanwhile. (A
				// prefix keeps its weight, trimmed or not: the rest of the window is read with
				// it, topped up to a whole window's if free.)
				if held := int64(len(f.res.Records) + len(f.res.Rejects)); held < f.weight {
					p.mem.Release(f.weight - held)
					f.weight = held
				}
			}
		}()
		return f
	}
	cursor := r.Start
	// One commit runs at a time, in the background, while the loop goes on starting reads.
	var committing chan error // nil when no commit runs
	var held []*future        // the running commit's windows, whose weights it frees
	var rest *extract.Window  // a prefix's rest, read once the commit is done, with restWeight
	var restWeight int64
	defer func() {
		if committing != nil {
			<-committing
		}
		for _, g := range held {
			p.mem.Release(g.weight)
		}
		if rest != nil {
			p.mem.Release(restWeight)
		}
	}()
	// launchMore starts reading windows ahead while the memory budget allows; the first window
	// (the next to commit) waits for its share, the others only take what is free (as does
	// the first while a commit runs: what the commit frees may be what it waits for). Until a
	// window has shown the density, only one is read.
	launchMore := func() error {
		// A first window (ReadFirst) is read alone: once counted, the range is planned again
		// from where it started (see the loop), and windows after it would be dropped unread.
		for cursor.Before(r.End) && reading(queue) < p.cfg.Lookahead && len(queue) < 4*p.cfg.Lookahead &&
			(len(queue) == 0 || (st.sizer.Known() && !queue[0].first)) {
			weight := min(st.reader.Weight(), p.memSize)
			if len(queue) == 0 && committing == nil {
				if err := p.mem.Acquire(ctx, weight); err != nil {
					return err
				}
			} else if !p.mem.TryAcquire(weight) {
				break
			}
			w := extract.Window{Start: cursor, End: st.sizer.Next(cursor, r.End)}
			queue = append(queue, launch(w, weight))
			cursor = w.End
		}
		return nil
	}
	for {
		freed := p.mem.changed() // taken before launchMore: a release after it wakes the select
		if err := launchMore(); err != nil {
			return err
		}
		if len(queue) == 0 && committing == nil {
			return nil
		}
		var ready <-chan struct{}
		if committing == nil && len(queue) > 0 {
			ready = queue[0].done
		}
		select {
		case err := <-committing:
			committing = nil
			if err != nil {
				return err
			}
			for _, g := range held {
				p.mem.Release(g.weight)
			}
			held = nil
			if rest != nil {
				// The rest of a prefix is the next to commit.
				// Its weight may have been trimmed to a count (ReadOpts.Holds): a part of the
				// window is read again, so take a whole window's again if it is free.
				if full := min(st.reader.Weight(), p.memSize); restWeight < full && p.mem.TryAcquire(full-restWeight) {
					restWeight = full
				}
				queue = append([]*future{launch(*rest, restWeight)}, queue...)
				rest = nil
			}
			continue
		case <-ready:
		case <-wake:
			continue // a read ended: start another
		case <-freed:
			continue // memory freed (by any domain): read further ahead
		}
		f := queue[0]
		if f.err != nil {
			return f.err
		}
		if f.first && f.res.Window.Empty() && len(f.res.Records)+len(f.res.Rejects)+len(f.res.Gaps) == 0 && st.sizer.Known() {
			// Only counted (ReadFirst): the sizer now knows the density, so the range from
			// here is planned as windows read side by side.
			drop(queue)
			queue, cursor = nil, f.w.Start
			continue
		}
		// Windows read whole right after it, and already read, commit with it in one
		// transaction (fewer, larger commits), up to a window's worth of records.
		batch := 1
		for batch < len(queue) && batch < 4*p.cfg.Lookahead {
			prev, next := queue[batch-1], queue[batch]
			if prev.res.Window.End.Before(prev.w.End) || !isDone(next) || next.err != nil ||
				len(next.res.Records)+batchRecords(queue[:batch]) > p.maxWindowRecords() {
				break
			}
			batch++
		}
		wr := f.res
		if batch > 1 {
			wr = merged(queue[:batch])
		}
		// When the batch's last window was denser than planned and only a prefix was read: if
		// the rest is about a window's worth, it is read next with the same memory weight, once
		// the commit is done; when it is much more (the density jumped), the windows planned
		// after it are dropped and planned again from the density just seen.
		last := queue[batch-1]
		end := last.res.Window.End
		held = slices.Clone(queue[:batch])
		if end.Before(last.w.End) {
			rw := extract.Window{Start: end, End: last.w.End}
			if est := last.res.Density * rw.End.Sub(rw.Start).Seconds(); last.res.Density > 0 && est <= float64(2*st.reader.Target()) {
				rest, restWeight = &rw, last.weight
				held = held[:batch-1]
			} else {
				drop(queue[batch:])
				queue = queue[:batch]
				cursor = end
			}
		}
		for _, g := range queue[:batch] {
			g.cancel() // read: their contexts are done with
		}
		queue = queue[batch:]
		committing = make(chan error, 1)
		go func(done chan<- error) { done <- p.commit(ctx, st, wr) }(committing)
	}
}

func isDone(f *future) bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func batchRecords(fs []*future) int {
	n := 0
	for _, f := range fs {
		n += len(f.res.Records)
	}
	return n
}

// merged is the read of consecutive windows as one: each but the last read whole.
func merged(fs []*future) *extract.WindowRead {
	out := &extract.WindowRead{Window: extract.Window{Start: fs[0].res.Window.Start, End: fs[len(fs)-1].res.Window.End}}
	for _, f := range fs {
		out.Records = append(out.Records, f.res.Records...)
		out.Rejects = append(out.Rejects, f.res.Rejects...)
		out.Gaps = append(out.Gaps, f.res.Gaps...)
	}
	return out
}

// reading counts the windows of queue still being read.
func reading(queue []*future) int {
	n := 0
	for _, f := range queue {
		select {
		case <-f.done:
		default:
			n++
		}
	}
	return n
}

// maxCommitAttempts is how often a window's transaction is tried when the database fails in a
// way a retry may fix (a deadlock with a concurrent run, a lost connection).
const maxCommitAttempts = 3

// commit records a window's gaps, then writes its records and advances the checkpoint in one
// transaction.
func (p *Pipeline) commit(ctx context.Context, st *domainRun, wr *extract.WindowRead) error {
	if err := st.lease.Err(); err != nil {
		return err // another run took the domain over: its windows are its own now
	}
	w := wr.Window
	for _, g := range wr.Gaps {
		inserted, err := p.cfg.Sink.RecordGap(ctx, st.key, g.Window.Start, g.Window.End, g.Reason, p.cfg.RunID)
		if err != nil {
			return fmt.Errorf("window %s of %s: %w", w, st.key.Domain, err)
		}
		st.gaps++
		st.log.Warn("a range could not be archived: recorded in sync_gaps", zap.Time("gap_start", g.Window.Start),
			zap.Time("gap_end", g.Window.End), zap.String("reason", g.Reason), zap.Bool("new_gap", inserted))
	}
	rows := make([]transform.Row, 0, len(wr.Records))
	var rejects []transform.Reject
	for i := range wr.Records {
		row, err := transform.Normalize(wr.Records[i])
		if err != nil {
			rejects = append(rejects, reject(st.key.Domain, wr.Records[i], err))
			continue
		}
		rows = append(rows, row)
	}
	for i := range wr.Rejects {
		_, err := transform.Normalize(wr.Rejects[i])
		if err == nil {
			err = errors.New("CallbackTime does not parse")
		}
		rejects = append(rejects, reject(st.key.Domain, wr.Rejects[i], err))
	}
	for _, rj := range rejects {
		st.log.Warn("record rejected", zap.Time("window_start", w.Start), zap.Time("window_end", w.End), zap.String("reason", rj.Reason))
	}
	opts := load.WindowOpts{Key: st.key, Filter: st.filter, RunID: p.cfg.RunID, Start: w.Start, End: w.End, FirstStart: st.first, Lease: st.lease}
	if st.mode == ModeSync {
		end := w.End
		opts.Advance = &end
	}
	if p.cfg.Reconcile {
		if len(wr.Gaps) > 0 {
			return fmt.Errorf("window %s of %s: a reconciling backfill cannot read %s provably complete (%s); nothing of the window was removed",
				w, st.key.Domain, wr.Gaps[0].Window, wr.Gaps[0].Reason)
		}
		// The range read is exactly the window [S, E) (extract.Window).
		opts.Prune = &load.Prune{Start: w.Start, End: w.End, App: st.query.Filter.App, Stream: st.query.Filter.Stream,
			EventTypes: st.query.Filter.EventTypes, Reason: ReconcileReason}
	}
	var counts load.Counts
	var err error
	for attempt := 1; ; attempt++ {
		counts, err = p.cfg.Sink.CommitWindow(ctx, opts, rows, rejects)
		if err == nil || !errors.Is(err, load.ErrRetryable) || ctx.Err() != nil || attempt >= maxCommitAttempts {
			break
		}
		st.log.Warn("transient database failure; writing the window again",
			zap.Time("window_start", w.Start), zap.Time("window_end", w.End), zap.Int("attempt", attempt), zap.Error(err))
	}
	if err != nil {
		return fmt.Errorf("window %s of %s: %w", w, st.key.Domain, err)
	}
	records := int64(len(wr.Records) + len(wr.Rejects))
	st.win++
	st.counts = st.counts.Add(counts)
	st.log.Debug("window committed", zap.Time("window_start", w.Start), zap.Time("window_end", w.End),
		zap.Int64("records", records),
		zap.Int64("records_new", counts.New), zap.Int64("records_updated", counts.Updated),
		zap.Int64("records_unchanged", counts.Unchanged), zap.Int64("records_rejected", counts.Rejected))
	if p.cfg.OnWindow != nil {
		p.cfg.OnWindow(WindowEvent{Domain: st.key.Domain, Window: w.Range(), Records: records, Counts: counts})
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
