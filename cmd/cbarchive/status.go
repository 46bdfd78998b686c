package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
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
	Watermark     *string    `json:"watermark"`   // null: no window committed yet
	FirstStart    *string    `json:"first_start"` // null: no window committed yet
	LagSeconds    *int64     `json:"lag_seconds"` // null: no window committed yet
	LastRunID     string     `json:"last_run_id,omitempty"`
	LastCommand   string     `json:"last_command,omitempty"`
	LastOutcome   string     `json:"last_outcome,omitempty"`
	LastStarted   *time.Time `json:"last_started,omitempty"`
	LastFinished  *time.Time `json:"last_finished,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	LastCause     string     `json:"last_error_cause,omitempty"`
	ExpiryWarning string     `json:"expiry_warning,omitempty"`
	// Unlisted: ListDomainDetail does not list the domain; it was found by account-wide counts.
	Unlisted bool `json:"unlisted,omitempty"`
	// Gaps are the ranges of the (domain, filter) that could not be archived (sync_gaps).
	Gaps []GapStatus `json:"gaps,omitempty"`
}

// GapStatus is a row of sync_gaps as `status` shows it.
type GapStatus struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Reason string `json:"reason"`
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
	withRun := func(ds DomainStatus, r load.RunRow) DomainStatus {
		ds.LastRunID, ds.LastCommand, ds.LastOutcome, ds.LastError = r.RunID, r.Command, r.Outcome, r.Err
		ds.LastCause = causeOf(r.Err)
		st := r.StartedAt
		ds.LastStarted, ds.LastFinished = &st, r.FinishedAt
		return ds
	}
	hasCheckpoint := map[load.CheckpointKey]bool{}
	for _, cp := range cps {
		hasCheckpoint[cp.CheckpointKey] = true
		wm, first := cp.Watermark.UTC().Format(time.RFC3339), cp.FirstStart.UTC().Format(time.RFC3339)
		lag := int64(now.Sub(cp.Watermark).Seconds())
		ds := DomainStatus{Domain: cp.Domain, Filter: cp.FilterKey, Watermark: &wm, FirstStart: &first, LagSeconds: &lag}
		if r, ok := runs[cp.CheckpointKey]; ok {
			ds = withRun(ds, r)
		}
		if age := now.Sub(cp.Watermark); age > pipeline.ExpiryWarning {
			left := extract.History - age
			ds.ExpiryWarning = fmt.Sprintf("watermark is %d days old: unarchived history older than 366 days is lost for good in %d days; run cbarchive sync now",
				int(age.Hours()/24), max(0, int(left.Hours()/24)))
		}
		out = append(out, ds)
	}
	// Domains that ran but never committed a window (a wrong key, a typo in --domains, a failure
	// in the first window) have runs and no checkpoint: they are listed too, with their error.
	var newestDomainRun time.Time
	for key, r := range runs {
		if key.Domain == runLevelDomain {
			continue
		}
		if r.StartedAt.After(newestDomainRun) {
			newestDomainRun = r.StartedAt
		}
		if !hasCheckpoint[key] {
			out = append(out, withRun(DomainStatus{Domain: key.Domain, Filter: key.FilterKey}, r))
		}
	}
	// A run that failed before any domain started (the rate budget or discovery failed) is
	// listed as domain "" while no domain has run since.
	if r, ok := runs[load.CheckpointKey{Domain: runLevelDomain}]; ok && r.StartedAt.After(newestDomainRun) {
		out = append(out, withRun(DomainStatus{}, r))
	}
	discovered, err := store.DiscoveredDomains(e.ctx)
	if err != nil {
		return err
	}
	unlisted := map[string]bool{}
	for _, d := range discovered {
		unlisted[d.Domain] = true
	}
	gaps, err := store.Gaps(e.ctx)
	if err != nil {
		return err
	}
	byKey := map[load.CheckpointKey][]GapStatus{}
	for _, g := range gaps {
		byKey[g.CheckpointKey] = append(byKey[g.CheckpointKey], GapStatus{Start: g.Start.Format(time.RFC3339), End: g.End.Format(time.RFC3339), Reason: g.Reason})
	}
	for i := range out {
		out[i].Unlisted = unlisted[out[i].Domain]
		out[i].Gaps = byKey[load.CheckpointKey{Domain: out[i].Domain, FilterKey: out[i].Filter}]
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
		_, err := fmt.Fprintln(e.stdout, "no runs yet: run cbarchive sync")
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tFILTER\tWATERMARK\tLAG\tLAST RUN\tOUTCOME\tLAST ERROR")
	for _, d := range out {
		last := "-"
		if d.LastStarted != nil {
			last = d.LastStarted.UTC().Format(time.RFC3339)
		}
		domain := d.Domain
		if domain == runLevelDomain {
			domain = "(before any domain)"
		}
		filter := d.Filter
		if filter == "" {
			filter = "-"
		}
		wm, lag := "none yet", "-"
		if d.Domain == runLevelDomain {
			wm = "-"
		}
		if d.Watermark != nil {
			wm, lag = *d.Watermark, (time.Duration(*d.LagSeconds) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", domain, filter, wm, lag, last, orDash(d.LastOutcome),
			orDash(errorCell(d.LastCause, d.LastError)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range out {
		if d.ExpiryWarning != "" {
			fmt.Fprintf(e.stdout, "WARNING %s: %s\n", d.Domain, d.ExpiryWarning)
		}
	}
	for _, d := range out {
		for _, g := range d.Gaps {
			fmt.Fprintf(e.stdout, "GAP %s %s..%s: %s\n", d.Domain, g.Start, g.End, g.Reason)
		}
	}
	for _, d := range discovered {
		fmt.Fprintf(e.stdout, "NOTE %s: not listed by ListDomainDetail, found by account-wide counts (first %s, last %s); archived like any domain\n",
			d.Domain, d.FirstFoundAt.UTC().Format(time.RFC3339), d.LastFound.UTC().Format(time.RFC3339))
	}
	return nil
}

// errorCellWidth is the most of an error the status table shows; `status --json` has it whole.
const errorCellWidth = 100

// errorCell is an error as the status table shows it: its cause first, then the error, cut at
// the end (never before the cause).
func errorCell(cause, text string) string {
	if text == "" {
		return ""
	}
	cell := text
	if cause != "" {
		cell = cause + ": " + text
	}
	if r := []rune(cell); len(r) > errorCellWidth && len(r) > len([]rune(cause))+1 {
		cell = string(r[:max(errorCellWidth, len([]rune(cause)))]) + "…"
	}
	return cell
}

var (
	apiCodePattern  = regexp.MustCompile(`\b(?:DescribeLiveCallbackData|ListDomainDetail)(?:: HTTP \d{3})? ([A-Z][A-Za-z0-9.]*)`)
	sqlStatePattern = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)
)

// causeOf finds the cause of a recorded error: the API's error code, or the meaning of a
// PostgreSQL SQLSTATE; "" when the text holds neither.
func causeOf(text string) string {
	if m := apiCodePattern.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	if m := sqlStatePattern.FindStringSubmatch(text); m != nil {
		return load.SQLStateMeaning(m[1])
	}
	if strings.Contains(text, load.ErrSchemaOutdated.Error()) {
		return "schema not migrated"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
