package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/pipeline"
)

// StatusCmd prints each checkpoint's state.
type StatusCmd struct {
	JSON bool `name:"json" help:"Print one JSON array, one object per (domain, filter) checkpoint."`
}

// DomainStatus is one line of `status`, and one object of `status --json`.
type DomainStatus struct {
	Domain        string     `json:"domain"`
	Filter        string     `json:"filter"`
	Watermark     string     `json:"watermark"`
	FirstStart    string     `json:"first_start"`
	LagSeconds    int64      `json:"lag_seconds"`
	LastRunID     string     `json:"last_run_id,omitempty"`
	LastCommand   string     `json:"last_command,omitempty"`
	LastOutcome   string     `json:"last_outcome,omitempty"`
	LastStarted   *time.Time `json:"last_started,omitempty"`
	LastFinished  *time.Time `json:"last_finished,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	ExpiryWarning string     `json:"expiry_warning,omitempty"`
}

// Run prints the status.
func (c *StatusCmd) Run(e *env, s *Settings) error {
	store, err := openStore(e, s)
	if err != nil {
		return err
	}
	defer store.Close()
	cps, err := store.Checkpoints(e.ctx)
	if err != nil {
		return fmt.Errorf("read checkpoints: %w", err)
	}
	runs, err := store.LastRuns(e.ctx)
	if err != nil {
		return fmt.Errorf("read sync_runs: %w", err)
	}
	now := time.Now()
	out := make([]DomainStatus, 0, len(cps))
	for _, cp := range cps {
		ds := DomainStatus{
			Domain: cp.Domain, Filter: cp.FilterKey,
			Watermark:  cp.Watermark.UTC().Format(time.RFC3339),
			FirstStart: cp.FirstStart.UTC().Format(time.RFC3339),
			LagSeconds: int64(now.Sub(cp.Watermark).Seconds()),
		}
		if r, ok := runs[cp.CheckpointKey]; ok {
			ds.LastRunID, ds.LastCommand, ds.LastOutcome, ds.LastError = r.RunID, r.Command, r.Outcome, r.Err
			st := r.StartedAt
			ds.LastStarted, ds.LastFinished = &st, r.FinishedAt
		}
		if age := now.Sub(cp.Watermark); age > pipeline.ExpiryWarning {
			left := extract.History - age
			ds.ExpiryWarning = fmt.Sprintf("watermark is %d days old: unarchived history older than 366 days is lost for good in %d days; run cbarchive sync now",
				int(age.Hours()/24), max(0, int(left.Hours()/24)))
		}
		out = append(out, ds)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Domain != out[j].Domain {
			return out[i].Domain < out[j].Domain
		}
		return out[i].Filter < out[j].Filter
	})
	if c.JSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no checkpoints yet: run cbarchive sync")
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tFILTER\tWATERMARK\tLAG\tLAST RUN\tOUTCOME\tLAST ERROR")
	for _, d := range out {
		last := "-"
		if d.LastStarted != nil {
			last = d.LastStarted.UTC().Format(time.RFC3339)
		}
		filter := d.Filter
		if filter == "" {
			filter = "-"
		}
		errText := d.LastError
		if len(errText) > 80 {
			errText = errText[:80] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Domain, filter, d.Watermark,
			(time.Duration(d.LagSeconds) * time.Second).String(), last, orDash(d.LastOutcome), orDash(errText))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range out {
		if d.ExpiryWarning != "" {
			fmt.Fprintf(e.stdout, "WARNING %s: %s\n", d.Domain, d.ExpiryWarning)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
