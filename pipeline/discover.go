package pipeline

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/extract"
)

// Discover returns the domains that have records in the API's history but are not in listed
// (what ListDomainDetail returned): a deleted domain keeps its call-back history, and nothing
// else would archive it. It compares, over the whole history in windows of the longest span,
// the account-wide TotalCount with that of the listed domains (two requests a window, about
// two dozen a run) and reads the Domain of the records where the account holds more (see
// extract.Reader.Discover). Each domain found is logged, recorded in discovered_domains (for
// `status`), and should be archived like any other.
func (p *Pipeline) Discover(ctx context.Context, listed []string) ([]string, error) {
	r := extract.NewReader(extract.ReaderConfig{Source: p.cfg.Source, Learned: p.cfg.Learned, PageSize: p.cfg.PageSize,
		Now: p.cfg.Now, Logger: p.log})
	now := p.cfg.Now()
	// From the history limit (with the planning margin, and inside any shorter limit learned).
	horizon := extract.Horizon(now).Add(time.Second)
	if learned := p.cfg.Learned.Horizon(now).Add(2 * time.Second).Truncate(time.Second); learned.After(horizon) {
		horizon = learned
	}
	end := now.Add(-p.cfg.Settle).Truncate(time.Second)
	qf := p.cfg.Filter.Queried()
	var stats extract.Stats
	known := append([]string(nil), listed...)
	var found []string
	for cur := horizon; cur.Before(end); {
		w := extract.Window{Start: cur, End: minTime(cur.Add(p.cfg.Learned.MaxSpan()-time.Second), end)}
		more, err := r.Discover(ctx, extract.Query{Filter: qf}, w, known, &stats)
		if err != nil {
			return found, fmt.Errorf("discover unlisted domains: %w", err)
		}
		for _, d := range more {
			p.log.Warn("domain not listed by ListDomainDetail, found by account-wide counts: archiving it like any domain",
				zap.String("domain", d), zap.Time("window_start", w.Start), zap.Time("window_end", w.End))
			if err := p.cfg.Sink.RecordDiscovered(ctx, d, p.cfg.RunID); err != nil {
				return found, err
			}
		}
		known = append(known, more...)
		found = append(found, more...)
		cur = w.End
	}
	p.log.Info("domain discovery by account-wide counts done", zap.Int("unlisted_domains", len(found)),
		zap.Int64("requests", stats.Requests.Load()))
	return found, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
