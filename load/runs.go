package load

import (
	"context"
	"fmt"
	"time"
)

// Run outcomes recorded in sync_runs.outcome ("running" until FinishRun).
const (
	OutcomeRunning   = "running"
	OutcomeSuccess   = "success"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	OutcomeSkipped   = "skipped"
)

// Run is the start of one run over one (domain, filter), a row of sync_runs.
type Run struct {
	RunID, Command, Domain, FilterKey string
	WindowStart, WindowEnd            *time.Time
}

// RunResult is how a run ended.
type RunResult struct {
	Outcome                string // OutcomeSuccess, OutcomeFailed, OutcomeCancelled or OutcomeSkipped
	Counts                 Counts
	Requests, Retries      int64
	WindowStart, WindowEnd *time.Time // nil keeps what StartRun recorded
	Err                    string     // empty on success
}

// RunRow is a row of sync_runs, as `status` shows it.
type RunRow struct {
	RunID, Command, Domain, FilterKey string
	StartedAt                         time.Time
	FinishedAt                        *time.Time
	Outcome                           string
	WindowStart, WindowEnd            *time.Time
	Counts                            Counts
	Requests, Retries                 int64
	Err                               string
}

// finishTimeout bounds the bookkeeping writes made after the run's context was cancelled.
const finishTimeout = 10 * time.Second

// StartRun records that a run began over r's (domain, filter). Starting the same run twice is a
// no-op.
func (s *Store) StartRun(ctx context.Context, r Run) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sync_runs (run_id, command, domain, filter_key, window_start, window_end)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (run_id, domain, filter_key) DO NOTHING`,
		r.RunID, r.Command, r.Domain, r.FilterKey, r.WindowStart, r.WindowEnd)
	if err != nil {
		return fmt.Errorf("record start of run %s for %s: %w", r.RunID, CheckpointKey{r.Domain, r.FilterKey}, translate(err))
	}
	return nil
}

// FinishRun records how a run ended. It still writes when ctx is cancelled (a cancelled run
// must say so), within a short timeout. It returns ErrRunNotStarted when StartRun did not
// record the run.
func (s *Store) FinishRun(ctx context.Context, runID, domain, filterKey string, res RunResult) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	var errText *string
	if res.Err != "" {
		e := pgText(res.Err)
		errText = &e
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE sync_runs SET finished_at = now(), outcome = $4,
			records_new = $5, records_updated = $6, records_unchanged = $7, records_rejected = $8,
			requests = $9, retries = $10,
			window_start = coalesce($11, window_start), window_end = coalesce($12, window_end),
			error = $13
		WHERE run_id = $1 AND domain = $2 AND filter_key = $3`,
		runID, domain, filterKey, res.Outcome,
		res.Counts.New, res.Counts.Updated, res.Counts.Unchanged, res.Counts.Rejected,
		res.Requests, res.Retries, res.WindowStart, res.WindowEnd, errText)
	key := CheckpointKey{domain, filterKey}
	if err != nil {
		return fmt.Errorf("record end of run %s for %s: %w", runID, key, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("record end of run %s for %s: %w", runID, key, ErrRunNotStarted)
	}
	return nil
}

// LastRuns returns the latest run of every (domain, filter) that ever ran.
func (s *Store) LastRuns(ctx context.Context) (map[CheckpointKey]RunRow, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (domain, filter_key)
			run_id, command, domain, filter_key, started_at, finished_at, outcome,
			window_start, window_end, records_new, records_updated, records_unchanged,
			records_rejected, requests, retries, coalesce(error, '')
		FROM sync_runs
		ORDER BY domain, filter_key, started_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("read last runs: %w", translate(err))
	}
	defer rows.Close()
	out := map[CheckpointKey]RunRow{}
	for rows.Next() {
		var r RunRow
		if err := rows.Scan(&r.RunID, &r.Command, &r.Domain, &r.FilterKey, &r.StartedAt, &r.FinishedAt,
			&r.Outcome, &r.WindowStart, &r.WindowEnd, &r.Counts.New, &r.Counts.Updated,
			&r.Counts.Unchanged, &r.Counts.Rejected, &r.Requests, &r.Retries, &r.Err); err != nil {
			return nil, fmt.Errorf("read last runs: %w", translate(err))
		}
		r.StartedAt = r.StartedAt.UTC()
		out[CheckpointKey{r.Domain, r.FilterKey}] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read last runs: %w", translate(err))
	}
	return out, nil
}
