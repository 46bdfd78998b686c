package load

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/transform"
)

// RenormalizeOpts configures Renormalize.
type RenormalizeOpts struct {
	Since   time.Time // only rows with callback_time >= Since; zero = all
	All     bool      // every row, not only rows with rules_version < Version
	Batch   int       // rows per transaction; default 5000
	Version int       // the current rules version
	// Derive re-derives a row from its stored raw and raw_original columns.
	Derive   func(raw, rawOriginal []byte) (transform.Row, error)
	Progress func(rowsDone int64)
}

// RenormalizeResult counts what Renormalize did.
type RenormalizeResult struct {
	Rows    int64 // rows examined
	Changed int64 // rows whose columns changed
}

// Renormalize re-derives the normalized columns of archived rows from raw, in batches that
// each commit, so an interrupted run loses nothing and a rerun continues (rows already at the
// current version are skipped). The key (domain, callback_time, identity_hash, ordinal) and
// the hashes are never changed: they come from the raw text, not from the rules.
func (s *Store) Renormalize(ctx context.Context, o RenormalizeOpts) (RenormalizeResult, error) {
	var res RenormalizeResult
	if o.Derive == nil {
		return res, fmt.Errorf("renormalize: Derive is required")
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	since := o.Since
	if since.IsZero() {
		since = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	type key struct {
		domain  string
		at      time.Time
		id      []byte
		ordinal int32
	}
	var last *key
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var rows pgx.Rows
		var err error
		const cols = `domain, callback_time, identity_hash, ordinal, raw::text, raw_original`
		if last == nil {
			rows, err = s.pool.Query(ctx, `SELECT `+cols+` FROM callback_records
				WHERE callback_time >= $1 AND ($2 OR rules_version < $3)
				ORDER BY callback_time, domain, identity_hash, ordinal LIMIT $4`, since, o.All, o.Version, o.Batch)
		} else {
			rows, err = s.pool.Query(ctx, `SELECT `+cols+` FROM callback_records
				WHERE callback_time >= $1 AND ($2 OR rules_version < $3)
				  AND (callback_time, domain, identity_hash, ordinal) > ($5, $6, $7, $8)
				ORDER BY callback_time, domain, identity_hash, ordinal LIMIT $4`,
				since, o.All, o.Version, o.Batch, last.at, last.domain, last.id, last.ordinal)
		}
		if err != nil {
			return res, fmt.Errorf("read rows to renormalize: %w", translate(err))
		}
		type item struct {
			k   key
			row transform.Row
		}
		var items []item
		for rows.Next() {
			var k key
			var raw string
			var orig []byte
			if err := rows.Scan(&k.domain, &k.at, &k.id, &k.ordinal, &raw, &orig); err != nil {
				rows.Close()
				return res, fmt.Errorf("read rows to renormalize: %w", translate(err))
			}
			row, derr := o.Derive([]byte(raw), orig)
			if derr != nil {
				rows.Close()
				return res, fmt.Errorf("re-derive row %s %s: %w", k.domain, k.at.Format(time.RFC3339Nano), derr)
			}
			items = append(items, item{k, row})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, fmt.Errorf("read rows to renormalize: %w", translate(err))
		}
		if len(items) == 0 {
			return res, nil
		}
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return res, fmt.Errorf("renormalize: %w", translate(err))
		}
		b := &pgx.Batch{}
		for _, it := range items {
			r := it.row
			b.Queue(`UPDATE callback_records SET
					app = $5, stream = $6, event_type = $7, method = $8, address = $9, status = $10,
					request_body = $11, request_body_json = $12::text::jsonb, response_code = $13,
					response_status_line = $14, response_headers = $15::text::jsonb, response_body = $16,
					response_body_json = $17::text::jsonb, response_time = $18, latency_ms = $19,
					error_code = $20, error_message = $21, raw = $22::text::jsonb, raw_original = $23,
					sanitized = $24, rules_version = $25, updated_at = now()
				WHERE domain = $1 AND callback_time = $2 AND identity_hash = $3 AND ordinal = $4
				  AND (app, stream, event_type, method, address, status, request_body, request_body_json,
				       response_code, response_status_line, response_headers, response_body, response_body_json,
				       response_time, latency_ms, error_code, error_message, raw, raw_original, sanitized, rules_version)
				  IS DISTINCT FROM
				      ($5, $6, $7, $8, $9, $10, $11, $12::text::jsonb, $13, $14, $15::text::jsonb, $16,
				       $17::text::jsonb, $18, $19, $20, $21, $22::text::jsonb, $23, $24, $25::smallint)`,
				it.k.domain, it.k.at, it.k.id, it.k.ordinal,
				r.App, r.Stream, r.EventType, r.Method, r.Address, r.Status,
				r.RequestBody, textOrNil(r.RequestBodyJSON), r.ResponseCode,
				r.ResponseStatusLine, string(r.ResponseHeaders), r.ResponseBody,
				textOrNil(r.ResponseBodyJSON), r.ResponseTime, r.LatencyMS,
				r.ErrorCode, r.ErrorMessage, string(r.Raw), r.RawOriginal,
				r.Sanitized, int16(o.Version))
		}
		br := tx.SendBatch(ctx, b)
		for range items {
			tag, err := br.Exec()
			if err != nil {
				_ = br.Close()
				_ = tx.Rollback(context.WithoutCancel(ctx))
				return res, fmt.Errorf("renormalize batch: %w", translate(err))
			}
			res.Changed += tag.RowsAffected()
		}
		if err := br.Close(); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return res, fmt.Errorf("renormalize batch: %w", translate(err))
		}
		if err := tx.Commit(ctx); err != nil {
			return res, fmt.Errorf("renormalize batch: %w", translate(err))
		}
		res.Rows += int64(len(items))
		lk := items[len(items)-1].k
		last = &lk
		if o.Progress != nil {
			o.Progress(res.Rows)
		}
	}
}

func textOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
