package main

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// RenormalizeCmd re-derives the normalized columns from raw.
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
	store, err := openStore(e, s)
	if err != nil {
		return err
	}
	defer store.Close()
	log := newLogger(e.stderr, s.LogLevel, s.LogFormat).With(zap.String("run_id", newRunID()))
	res, err := store.Renormalize(e.ctx, load.RenormalizeOpts{
		Since: since, All: c.All, Batch: c.Batch, Version: transform.RulesVersion,
		Derive: func(raw, rawOriginal []byte) (transform.Row, error) {
			rec, err := transform.RecordFromRow(raw, rawOriginal)
			if err != nil {
				return transform.Row{}, err
			}
			return transform.Normalize(rec)
		},
		Progress: func(done int64) { log.Info("renormalize progress", zap.Int64("rows", done)) },
	})
	if err != nil {
		log.Error("renormalize stopped; run it again to continue", zap.Error(err), zap.Int64("rows_done", res.Rows))
		return fmt.Errorf("renormalize: %w", err)
	}
	if res.Changed > 0 {
		if _, err := store.RefreshAnalytics(e.ctx, true); err != nil {
			log.Error("could not rebuild callback_hourly; run SELECT cbarchive_refresh_analytics(rebuild => true) by hand", zap.Error(err))
		}
	}
	log.Info("renormalize finished", zap.Int64("rows", res.Rows), zap.Int64("rows_changed", res.Changed), zap.Int("rules_version", transform.RulesVersion))
	return nil
}
