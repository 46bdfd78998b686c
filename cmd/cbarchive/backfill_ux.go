package main

import (
	"fmt"
	"math"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/pipeline"
)

// dryRun prints the backfill's plan: for each domain its windows (31 days at most), the records
// the archive already holds there, and an estimate of requests and minutes at the rate limit.
// It sends no DescribeLiveCallbackData request (only ListDomainDetail, for the domains) and
// writes nothing.
func dryRun(e *env, s *Settings, plan extract.Plan, flag []string) error {
	store, err := openStore(e, s)
	if err != nil {
		return err
	}
	defer store.Close()
	// The domains a real run would cover; the domain list is the only API request of a dry run.
	log := newLogger(e.stderr, s.LogLevel, s.LogFormat)
	client, _, err := newClient(s, log)
	if err != nil {
		return err
	}
	domains, err := resolveDomains(e.ctx, client, log, s, flag, "--domain")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backfill plan: %s (UTC), page size %d, rate limit %g/s\n", plan.Read, s.PageSize, s.RateLimit)
	if plan.Gap != nil {
		fmt.Fprintf(e.stdout, "clamped: %s is older than the API's 366-day history and cannot be read; it will be recorded in sync_gaps\n", plan.Gap)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tWINDOW START\tWINDOW END\tARCHIVED RECORDS\tEST. REQUESTS")
	filter := s.filter()
	filter.Statuses = nil // a status-filtered run reads every status (see pipeline.window)
	var total int64
	for _, d := range domains {
		for cur := plan.Read.Start; cur.Before(plan.Read.End); {
			end := cur.Add(extract.MaxSpan)
			if end.After(plan.Read.End) {
				end = plan.Read.End
			}
			n, err := store.CountRecords(e.ctx, load.CountQuery{Domain: d, From: cur, To: end,
				EventTypes: filter.EventTypes, Statuses: filter.Statuses, App: filter.App, Stream: filter.Stream})
			if err != nil {
				return err
			}
			req := int64(math.Max(1, math.Ceil(float64(n)/float64(s.PageSize))))
			total += req
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", d, cur.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), n, req)
			cur = end
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	minutes := float64(total) / s.RateLimit / 60
	fmt.Fprintf(e.stdout, "estimate: %d requests, %.1f minutes at %g requests/s (from the records already archived; dense windows are split as they are read)\n",
		total, minutes, s.RateLimit)
	fmt.Fprintln(e.stdout, "dry run: no call-back data was requested and nothing was written")
	return nil
}

// progress shows a backfill's progress on a terminal; it is silent otherwise.
type progress struct {
	mu      sync.Mutex
	bar     *progressbar.ProgressBar
	records int64
	windows int
}

func newProgress(e *env, s *Settings, plan extract.Plan, domains int) *progress {
	p := &progress{}
	if !isTerminal(os.Stderr) || s.LogFormat == "json" {
		return p
	}
	total := int64(plan.Read.End.Sub(plan.Read.Start).Seconds()) * int64(max(domains, 1))
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionFullWidth(),
	)
	return p
}

func (p *progress) window(ev pipeline.WindowEvent) {
	if p.bar == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records += ev.Records
	p.windows++
	p.bar.Describe(fmt.Sprintf("backfill: %d windows, %d records", p.windows, p.records))
	_ = p.bar.Add64(int64(ev.Window.End.Sub(ev.Window.Start).Seconds()))
}

// done ends the bar: full when the run finished, left where it stopped when it was cut short.
func (p *progress) done(finished bool) {
	if p.bar == nil {
		return
	}
	if finished {
		_ = p.bar.Finish()
	} else {
		_ = p.bar.Exit()
	}
	fmt.Fprintln(os.Stderr)
}
