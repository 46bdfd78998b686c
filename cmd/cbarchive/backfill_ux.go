package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

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
	domains, err := resolveDomains(e.ctx, client, store, log, s, flag, "--domain")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backfill plan: %s (UTC), page size %d, rate limit %g/s\n", plan.Read, s.PageSize, s.RateLimit)
	if plan.Gap != nil {
		fmt.Fprintf(e.stdout, "clamped: %s is older than the API's 366-day history and cannot be read; it will be recorded in sync_gaps\n", plan.Gap)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tWINDOW START\tWINDOW END\tARCHIVED RECORDS\tEST. REQUESTS")
	filter := s.filter().Queried() // what the run will read (see extract.Filter.Queried)
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

// progress shows a backfill's progress on a terminal: one bar line at the bottom that moves
// with every page (records fetched) and every committed window (range covered). Log lines are
// written through it, so they land above the bar, never inside it. Without a terminal (or with
// JSON logs) it only passes writes through.
type progress struct {
	mu      sync.Mutex
	out     io.Writer // the terminal
	active  bool
	width   int
	total   time.Duration // the range times the domains
	covered time.Duration // committed windows' spans
	records int64         // records fetched, page by page
	windows int
	started time.Time
	line    string // the bar as last drawn
}

func newProgress(e *env, s *Settings) *progress {
	p := &progress{out: e.stderr}
	if !isTerminal(os.Stderr) || s.LogFormat == "json" {
		return p
	}
	p.width = 80
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w > 20 {
		p.width = w
	}
	p.active = true
	return p
}

// start shows the bar for plan over n domains.
func (p *progress) start(plan extract.Plan, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = plan.Read.End.Sub(plan.Read.Start) * time.Duration(max(n, 1))
	p.started = time.Now()
	p.draw()
}

// Write writes log lines above the bar.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active || p.started.IsZero() {
		return p.out.Write(b)
	}
	if _, err := io.WriteString(p.out, "\r\033[K"); err != nil {
		return 0, err
	}
	n, err := p.out.Write(b)
	if err == nil {
		_, err = io.WriteString(p.out, p.line)
	}
	return n, err
}

// Sync lets the logger flush through the bar.
func (p *progress) Sync() error { return nil }

func (p *progress) page(_ string, records int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records += int64(records)
	p.draw() // a page is at most a few dozen a second: one short line each is nothing for a terminal
}

func (p *progress) window(ev pipeline.WindowEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.windows++
	p.covered += ev.Window.End.Sub(ev.Window.Start)
	p.draw()
}

// draw redraws the bar in place; p.mu is held.
func (p *progress) draw() {
	if !p.active || p.started.IsZero() {
		return
	}
	frac := 0.0
	if p.total > 0 {
		frac = min(1, float64(p.covered)/float64(p.total))
	}
	info := fmt.Sprintf(" %3.0f%% %d records fetched, %d windows committed, %s", 100*frac, p.records, p.windows,
		time.Since(p.started).Round(time.Second))
	barWidth := min(30, p.width-len(info)-len("backfill [] ")-1)
	line := "backfill" + info
	if barWidth >= 5 {
		filled := int(frac * float64(barWidth))
		line = "backfill [" + strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled) + "]" + info
	}
	if r := []rune(line); len(r) > p.width-1 {
		line = string(r[:p.width-1])
	}
	p.line = line
	_, _ = io.WriteString(p.out, "\r\033[K"+line)
}

// done ends the bar: drawn once more, then left on its own line; later writes pass through.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.active || p.started.IsZero() {
		return
	}
	p.draw()
	_, _ = io.WriteString(p.out, "\n")
	p.active = false
}
