package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
)

// VerifyCmd compares the API's daily counts with the archive's rows, or with --content the
// records themselves.
type VerifyCmd struct {
	Start   string   `name:"start" required:"" help:"Start of the range (RFC3339), included; the same instants as backfill's."`
	End     string   `name:"end" required:"" help:"End of the range (RFC3339), its second included; the same instants as backfill's."`
	Domain  []string `name:"domain" help:"Domain to verify (repeatable); default: CBARCHIVE_DOMAINS or every domain."`
	Content bool     `name:"content" help:"Compare content, not only counts: re-read the range from the API in windows it can prove complete (whatever order the answers come in) and compare, per domain and UTC day, the multiset of records (content hashes) with the archive's rows; report missing, extra and changed records (changed: same identity, other response side) with counts and examples. Exits 1 on any difference; 'backfill --reconcile' repairs them. Every status is compared (--status does not apply)."`
}

// Run prints a per-day table and fails on any shortfall.
func (c *VerifyCmd) Run(e *env, s *Settings) error {
	start, end, err := parseRange(c.Start, c.End)
	if err != nil {
		return err
	}
	a, err := openArchive(e, s, "verify")
	if err != nil {
		return err
	}
	defer a.close()
	domains, err := a.domains(e.ctx, s, c.Domain, "--domain")
	if err != nil {
		return a.abort(e, err)
	}
	// The range is the instants start..end, end's second included, as backfill reads them; each
	// UTC day it touches is compared over its part of the range.
	start, end = start.Truncate(time.Second), end.Truncate(time.Second)
	if c.Content {
		return verifyContent(e, s, a, domains, start, end)
	}
	filter := s.filter()
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tDAY\tAPI\tARCHIVE\tRESULT")
	short, checked := 0, 0
	for _, d := range domains {
		for day := start.UTC().Truncate(24 * time.Hour); !day.After(end); day = day.Add(24 * time.Hour) {
			qs, dayEnd, ok := verifyDay(day, start, end, time.Now())
			if !ok {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\toutside the API's history\n", d, day.Format(time.DateOnly))
				continue
			}
			page, err := a.client.Describe(e.ctx, extract.Query{Domain: d, Filter: filter, Start: qs, End: dayEnd, PageNum: 1, PageSize: 1}, nil)
			if err != nil {
				return a.abort(e, fmt.Errorf("verify %s %s: %w", d, day.Format(time.DateOnly), err))
			}
			n, err := a.store.CountRecords(e.ctx, load.CountQuery{Domain: d, From: qs, To: dayEnd,
				EventTypes: filter.EventTypes, Statuses: filter.Statuses, App: filter.App, Stream: filter.Stream})
			if err != nil {
				return a.abort(e, fmt.Errorf("verify %s %s: %w", d, day.Format(time.DateOnly), err))
			}
			checked++
			result := "ok"
			switch {
			case n < int64(page.TotalCount):
				result = fmt.Sprintf("MISSING %d", int64(page.TotalCount)-n)
				short++
			case n > int64(page.TotalCount):
				result = fmt.Sprintf("archive has %d more (history kept after upstream changes, or fractional-second edges)", n-int64(page.TotalCount))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", d, day.Format(time.DateOnly), page.TotalCount, n, result)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fields := []zap.Field{zap.String("command", a.cmd), zap.Int("domains", len(domains)), zap.Int("days_checked", checked),
		zap.Int("days_short", short), zap.Duration("duration", time.Since(a.started))}
	if short > 0 {
		fmt.Fprintf(e.stdout, "verify: %d domain(s), %d day(s) compared, %d with records missing from the archive: run cbarchive backfill over them\n",
			len(domains), checked, short)
		a.log.Error("run finished", append(fields, zap.String("outcome", load.OutcomeFailed), zap.Int("exit_code", exitFailed))...)
		return &failedError{n: short}
	}
	fmt.Fprintf(e.stdout, "verify: %d domain(s), %d day(s) compared, the archive holds every record the API counts\n", len(domains), checked)
	a.log.Info("run finished", append(fields, zap.String("outcome", load.OutcomeSuccess), zap.Int("exit_code", exitOK))...)
	return nil
}

// verifyDay returns the part qs..qe (both seconds included) of the UTC day that the range
// start..end covers within the API's history at now; ok is false when there is none.
func verifyDay(day, start, end, now time.Time) (qs, qe time.Time, ok bool) {
	qs, qe = day, day.Add(24*time.Hour-time.Second)
	if qs.Before(start) {
		qs = start
	}
	if qe.After(end) {
		qe = end
	}
	// The history limit moves with the clock: the caller takes now for each day.
	qs = extract.Clamp(extract.Range{Start: qs, End: qe}, now).Read.Start
	if qe.After(now) {
		qe = now.Truncate(time.Second)
	}
	return qs, qe, !qe.Before(qs)
}
