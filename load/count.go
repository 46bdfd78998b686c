package load

import (
	"context"
	"fmt"
	"time"
)

// CountQuery selects archived records: one domain, a closed time range at second precision
// ([From, To], To's whole second included, as the API counts), and optional filters.
type CountQuery struct {
	Domain     string
	From, To   time.Time
	EventTypes []string
	Statuses   []string
	App        string
	Stream     string
}

// CountRecords counts the archived records matching q.
func (s *Store) CountRecords(ctx context.Context, q CountQuery) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM callback_records
		WHERE domain = $1 AND callback_time >= $2 AND callback_time < $3
		  AND (cardinality($4::text[]) = 0 OR event_type = ANY($4))
		  AND (cardinality($5::text[]) = 0 OR status = ANY($5))
		  AND ($6 = '' OR app = $6)
		  AND ($7 = '' OR stream = $7)`,
		q.Domain, q.From, q.To.Truncate(time.Second).Add(time.Second),
		nonNil(q.EventTypes), nonNil(q.Statuses), q.App, q.Stream).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count records of %s %s..%s: %w", q.Domain, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), translate(err))
	}
	return n, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
