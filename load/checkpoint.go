package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckpointKey identifies a checkpoint: a domain and a filter. FilterKey "" means no filter.
type CheckpointKey struct {
	Domain    string
	FilterKey string
}

func (k CheckpointKey) String() string {
	if k.FilterKey == "" {
		return "domain " + k.Domain
	}
	return fmt.Sprintf("domain %s (filter %s)", k.Domain, k.FilterKey)
}

// Checkpoint is the incremental progress of one (domain, filter): everything between FirstStart
// and Watermark is archived.
type Checkpoint struct {
	CheckpointKey
	Filter     json.RawMessage
	FirstStart time.Time
	Watermark  time.Time
	UpdatedAt  time.Time
}

const checkpointColumns = `domain, filter_key, filter::text, first_start, watermark, updated_at`

func scanCheckpoint(row pgx.Row) (Checkpoint, error) {
	var c Checkpoint
	var filter string
	err := row.Scan(&c.Domain, &c.FilterKey, &filter, &c.FirstStart, &c.Watermark, &c.UpdatedAt)
	c.Filter = json.RawMessage(filter)
	c.FirstStart, c.Watermark, c.UpdatedAt = c.FirstStart.UTC(), c.Watermark.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// Checkpoint returns key's checkpoint; ok is false when there is none yet.
func (s *Store) Checkpoint(ctx context.Context, key CheckpointKey) (c Checkpoint, ok bool, err error) {
	c, err = scanCheckpoint(s.pool.QueryRow(ctx, `SELECT `+checkpointColumns+`
		FROM sync_checkpoints WHERE domain = $1 AND filter_key = $2`, key.Domain, key.FilterKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("read checkpoint of %s: %w", key, translate(err))
	}
	return c, true, nil
}

// Checkpoints returns every checkpoint, ordered by domain and filter key.
func (s *Store) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+checkpointColumns+`
		FROM sync_checkpoints ORDER BY domain, filter_key`)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", translate(err))
	}
	defer rows.Close()
	var out []Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", translate(err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", translate(err))
	}
	return out, nil
}
