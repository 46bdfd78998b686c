package main

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// RenormalizeCmd re-derives the normalized columns from the stored form.
type RenormalizeCmd struct {
	Since string `name:"since" help:"Only rows with callback_time at or after this time (RFC3339)."`
	All   bool   `name:"all" help:"Re-derive every row, not only rows made by older rules."`
	Batch int    `name:"batch" default:"5000" help:"Rows per transaction."`
}

// Run re-normalizes in batches; it is resumable (each batch commits).
func (c *RenormalizeCmd) Run(e *env, s *Settings) error {
	var since time.Time
	if c.Since != "" {
		t, err := parseTime("--since", c.Since)
		if err != nil {
			return err
		}
		since = t
	}
	if c.Batch < 1 || c.Batch > 100000 {
		return usagef("--batch %d is out of range: give 1..100000", c.Batch)
	}
	if err := s.validateDatabase(); err != nil {
		return err
	}
	started := time.Now()
	log := newLogger(e.stderr, s.LogLevel, s.LogFormat).With(zap.String("run_id", newRunID()))
	finished := func(err error, rows, changed int64) error {
		fields := []zap.Field{zap.String("command", "renormalize"), zap.Int64("rows", rows), zap.Int64("rows_changed", changed),
			zap.Int("rules_version", transform.RulesVersion), zap.Duration("duration", time.Since(started))}
		if err == nil {
			log.Info("run finished", append(fields, zap.String("outcome", load.OutcomeSuccess), zap.Int("exit_code", exitOK))...)
			return nil
		}
		code := exitFailed
		if isConfigError(err) {
			code = exitUsage
		}
		log.Error("run finished", append(fields, zap.String("outcome", load.OutcomeFailed), zap.Int("exit_code", code),
			zap.String("error", err.Error()), zap.String("hint", "rows done so far are committed; run renormalize again to continue"))...)
		return &failedError{config: code == exitUsage, err: err}
	}
	store, err := openStore(e, s)
	if err != nil {
		return finished(err, 0, 0)
	}
	defer store.Close()
	res, err := store.Renormalize(e.ctx, load.RenormalizeOpts{
		Since: since, All: c.All, Batch: c.Batch, Version: transform.RulesVersion,
		Derive: func(stored *transform.Row) (transform.Row, error) {
			rec, err := transform.RecordFromRow(stored)
			if err != nil {
				return transform.Row{}, err
			}
			return transform.Normalize(rec)
		},
		Progress: func(done int64) { log.Info("renormalize progress", zap.Int64("rows", done)) },
	})
	if err != nil {
		fmt.Fprintf(e.stdout, "renormalize: stopped after %d row(s) (%d changed); run it again to continue\n", res.Rows, res.Changed)
		return finished(fmt.Errorf("renormalize: %w", err), res.Rows, res.Changed)
	}
	if res.Changed > 0 {
		if _, err := store.RefreshAnalytics(e.ctx, true); err != nil {
			log.Error("could not rebuild callback_hourly; run SELECT cbarchive_refresh_analytics(rebuild => true) by hand", zap.Error(err))
		}
	}
	fmt.Fprintf(e.stdout, "renormalize: %d row(s) read, %d changed, rules version %d\n", res.Rows, res.Changed, transform.RulesVersion)
	return finished(nil, res.Rows, res.Changed)
}
