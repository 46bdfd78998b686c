package load

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Gap is a time range of a (domain, filter) that could not be archived, a row of sync_gaps.
type Gap struct {
	CheckpointKey
	Start, End time.Time
	Reason     string
	RunID      string
	RecordedAt time.Time
}

// RecordGap records that [from, to) of key could not be archived, and why. Runs that lose the
// same or an overlapping range for the same reason do not add rows: the existing row is
// extended (gap_start = least, gap_end = greatest, run_id = the latest). inserted reports whether
// a new row was added. Keep reason free of run-specific details so that repeats merge.
func (s *Store) RecordGap(ctx context.Context, key CheckpointKey, from, to time.Time, reason, runID string) (inserted bool, err error) {
	if to.Before(from) {
		from, to = to, from
	}
	reason = pgText(reason)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialize writers of this (domain, filter, reason) so that two runs cannot both insert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`,
			advisoryKey("gap", key.Domain, key.FilterKey, reason)); err != nil {
			return err
		}
		// Every existing row overlapping or touching the range merges into one.
		var start, end time.Time
		err := tx.QueryRow(ctx, `
			WITH gone AS (
				DELETE FROM sync_gaps
				WHERE domain = $1 AND filter_key = $2 AND reason = $3
				  AND gap_start <= $5 AND gap_end >= $4
				RETURNING gap_start, gap_end)
			SELECT min(gap_start), max(gap_end) FROM gone HAVING count(*) > 0`,
			key.Domain, key.FilterKey, reason, from, to).Scan(&start, &end)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			inserted = true
		case err != nil:
			return err
		default:
			from, to = minTime(from, start), maxTime(to, end)
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO sync_gaps (domain, filter_key, gap_start, gap_end, reason, run_id)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			key.Domain, key.FilterKey, from, to, reason, runID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record gap %s..%s of %s: %w", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), key, translate(err))
	}
	return inserted, nil
}

// Gaps returns every recorded gap, ordered by domain, filter and start.
func (s *Store) Gaps(ctx context.Context) ([]Gap, error) {
	rows, err := s.pool.Query(ctx, `SELECT domain, filter_key, gap_start, gap_end, reason, run_id, recorded_at
		FROM sync_gaps ORDER BY domain, filter_key, gap_start`)
	if err != nil {
		return nil, fmt.Errorf("read gaps: %w", translate(err))
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		if err := rows.Scan(&g.Domain, &g.FilterKey, &g.Start, &g.End, &g.Reason, &g.RunID, &g.RecordedAt); err != nil {
			return nil, fmt.Errorf("read gaps: %w", translate(err))
		}
		g.Start, g.End, g.RecordedAt = g.Start.UTC(), g.End.UTC(), g.RecordedAt.UTC()
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read gaps: %w", translate(err))
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
