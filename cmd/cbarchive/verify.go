package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
)

// VerifyCmd compares the API's daily counts with the archive's rows.
type VerifyCmd struct {
	Start  string   `name:"start" required:"" help:"First day (RFC3339; the UTC day it falls in)."`
	End    string   `name:"end" required:"" help:"Last day (RFC3339; the UTC day it falls in)."`
	Domain []string `name:"domain" help:"Domain to verify (repeatable); default: CBARCHIVE_DOMAINS or every domain."`
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
	domains, err := a.domains(e.ctx, c.Domain, s.Domains)
	if err != nil {
		return err
	}
	filter := s.filter()
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tDAY\tAPI\tARCHIVE\tRESULT")
	short := 0
	for _, d := range domains {
		for day := start.UTC().Truncate(24 * time.Hour); !day.After(end); day = day.Add(24 * time.Hour) {
			// The history limit moves with the clock: take it for each query.
			now := time.Now()
			horizon := extract.Horizon(now)
			dayEnd := day.Add(24*time.Hour - time.Second)
			qs := day
			if qs.Before(horizon) {
				qs = horizon
			}
			if dayEnd.After(now) {
				dayEnd = now.Truncate(time.Second)
			}
			if !dayEnd.After(qs) {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\toutside the API's history\n", d, day.Format(time.DateOnly))
				continue
			}
			page, err := a.client.Describe(e.ctx, extract.Query{Domain: d, Filter: filter, Start: qs, End: dayEnd, PageNum: 1, PageSize: 1}, nil)
			if err != nil {
				return fmt.Errorf("verify %s %s: %w", d, day.Format(time.DateOnly), err)
			}
			n, err := a.store.CountRecords(e.ctx, load.CountQuery{Domain: d, From: qs, To: dayEnd,
				EventTypes: filter.EventTypes, Statuses: filter.Statuses, App: filter.App, Stream: filter.Stream})
			if err != nil {
				return fmt.Errorf("verify %s %s: %w", d, day.Format(time.DateOnly), err)
			}
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
	if short > 0 {
		fmt.Fprintf(e.stdout, "%d day(s) with records missing from the archive: run cbarchive backfill over them\n", short)
		return &failedError{n: short}
	}
	return nil
}
