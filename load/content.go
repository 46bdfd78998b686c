package load

import (
	"context"
	"fmt"
	"time"
)

// ContentQuery selects the archived rows whose content `verify --content` compares: one
// domain, the half-open range From <= callback_time < To, and the query filter ("" and empty:
// any). Status is not a filter: every status of the range is compared, as runs archive them.
type ContentQuery struct {
	Domain      string
	From, To    time.Time
	App, Stream string
	EventTypes  []string
}

// ContentRow is one archived row as `verify --content` sees it: its identity, ordinal and
// content hash, and a few fields to describe it in a report.
type ContentRow struct {
	CallbackTime           time.Time
	App, Stream, EventType string
	Status                 string
	ResponseCode           *int32
	IdentityHash           []byte
	Ordinal                int32
	ContentHash            []byte
}

// contentRowsSQL is the archive side of a content comparison, in one place.
const contentRowsSQL = `
SELECT callback_time, app, stream, event_type, status, response_code, identity_hash, ordinal, content_hash
FROM callback_records
WHERE domain = $1 AND callback_time >= $2 AND callback_time < $3
  AND ($4 = '' OR app = $4) AND ($5 = '' OR stream = $5)
  AND (cardinality($6::text[]) = 0 OR event_type = ANY($6))
ORDER BY callback_time, identity_hash, ordinal`

// ContentRows returns the archived rows q selects.
func (s *Store) ContentRows(ctx context.Context, q ContentQuery) ([]ContentRow, error) {
	rows, err := s.pool.Query(ctx, contentRowsSQL, q.Domain, q.From, q.To, q.App, q.Stream, nonNil(q.EventTypes))
	if err != nil {
		return nil, fmt.Errorf("read the content of %s %s..%s: %w", q.Domain, q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339), translate(err))
	}
	defer rows.Close()
	var out []ContentRow
	for rows.Next() {
		var r ContentRow
		if err := rows.Scan(&r.CallbackTime, &r.App, &r.Stream, &r.EventType, &r.Status, &r.ResponseCode,
			&r.IdentityHash, &r.Ordinal, &r.ContentHash); err != nil {
			return nil, fmt.Errorf("read the content of %s: %w", q.Domain, translate(err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the content of %s %s..%s: %w", q.Domain, q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339), translate(err))
	}
	return out, nil
}
