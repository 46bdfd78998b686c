package load

import (
	"context"
	"fmt"
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
