package load

import (
	"context"
	"fmt"
	"time"

	"github.com/cbarchive/cbarchive/transform"
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
// content hash (both sha256 of the record the row gives back, as transform computes them for
// a record read from the API), and a few fields to describe it in a report.
type ContentRow struct {
	CallbackTime           time.Time
	App, Stream, EventType string
	Status                 string
	ResponseCode           *int32
	IdentityHash           []byte
	Ordinal                int32
	ContentHash            []byte
}

// contentRowsSQL is the archive side of a content comparison, in one place: the stored form of
// each row (no content hash is stored: it is computed from the record the row gives back).
var contentRowsSQL = `
SELECT ` + transform.StoredColumns() + `, ordinal
FROM ` + storeTable + `
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
		var st transform.Row
		var r ContentRow
		if err := rows.Scan(append(transform.StoredTargets(&st), &r.Ordinal)...); err != nil {
			return nil, fmt.Errorf("read the content of %s: %w", q.Domain, translate(err))
		}
		rec, err := transform.RecordFromRow(&st)
		if err != nil {
			return nil, fmt.Errorf("read the content of %s %s: %w", q.Domain, st.CallbackTime.UTC().Format(time.RFC3339Nano), err)
		}
		r.CallbackTime, r.App, r.Stream, r.EventType, r.Status, r.ResponseCode = st.CallbackTime, st.App, st.Stream, st.EventType, st.Status, st.ResponseCode
		r.IdentityHash, r.ContentHash = transform.IdentityHash(&rec), transform.ContentHash(&rec)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the content of %s %s..%s: %w", q.Domain, q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339), translate(err))
	}
	return out, nil
}
