package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/pipeline"
)

// refreshAfterRemoval recomputes the analysts' rollup over the range of a reconciling backfill
// that moved rows to callback_records_removed: the incremental refresh follows written rows
// only. A failure is logged loudly and does not fail the run (the archive itself is right).
func refreshAfterRemoval(e *env, a *archive, res pipeline.Result, r extract.Range) {
	var removed int64
	for _, d := range res.Domains {
		removed += d.Counts.Removed
	}
	a.log.Info("reconcile done", zap.Int64("records_removed", removed), zap.String("removed_to", "callback_records_removed"))
	if removed == 0 || e.ctx.Err() != nil {
		return
	}
	n, err := a.store.RefreshAnalyticsRange(context.WithoutCancel(e.ctx), r.Start, r.End)
	if err != nil {
		a.log.Error("could not refresh callback_hourly after removing rows; run SELECT cbarchive_refresh_analytics(rebuild => true) by hand", zap.Error(err))
		return
	}
	a.log.Info("analytics refreshed", zap.Int64("callback_hourly_rows", n))
}
