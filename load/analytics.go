package load

import (
	"context"
	"fmt"
	"time"
)

// RefreshAnalytics brings the analysts' hourly rollup (callback_hourly) up to date with the
// rows written since the last refresh; rebuild recomputes it whole (after renormalize). It
// returns the rollup rows written. See migrations/00020_analyst_views.sql.
func (s *Store) RefreshAnalytics(ctx context.Context, rebuild bool) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT cbarchive_refresh_analytics(rebuild => $1)`, rebuild).Scan(&n); err != nil {
		return 0, fmt.Errorf("refresh the analysts' rollup (cbarchive_refresh_analytics): %w", translate(err))
	}
	return n, nil
}

// RefreshAnalyticsRange recomputes the rollup's UTC hours overlapping [from, to] (after rows
// were removed, which the incremental refresh does not see). It returns the rows written.
func (s *Store) RefreshAnalyticsRange(ctx context.Context, from, to time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT cbarchive_refresh_analytics(from_time => $1, to_time => $2)`, from, to).Scan(&n); err != nil {
		return 0, fmt.Errorf("refresh the analysts' rollup over %s..%s (cbarchive_refresh_analytics): %w",
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), translate(err))
	}
	return n, nil
}
