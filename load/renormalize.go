package load

import (
	"context"
	"fmt"
	"strings"
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
	// Derive re-derives a row from its stored form: stored holds the columns a record is
	// rebuilt from (transform.RecordFromRow).
	Derive   func(stored *transform.Row) (transform.Row, error)
	Progress func(rowsDone int64)
}

// RenormalizeResult counts what Renormalize did.
type RenormalizeResult struct {
	Rows    int64 // rows examined
	Changed int64 // rows whose columns changed
}

// Renormalize re-derives the columns of archived rows from their stored form, in batches that
// each commit, so an interrupted run loses nothing and a rerun continues (rows already at the
// current version are skipped). The key (domain, callback_time, identity_hash, ordinal) is never
// changed: it comes from the text as received, not from the rules.
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
		id      int64
		ordinal int32
	}
	// Read: the rebuildable columns, then identity_hash and ordinal.
	cols := transform.StoredColumns() + ", identity_hash, ordinal"
	// Write: every content and derived column, when any differs.
	var setCols, params []string
	for _, c := range transform.StoreColumns {
		if c.Content || c.Derived {
			p := fmt.Sprintf("$%d", len(setCols)+5)
			if c.Cast != "" {
				p += "::" + c.Staged + "::" + c.Cast
			} else {
				p += "::" + c.Staged
			}
			setCols = append(setCols, c.Name)
			params = append(params, p)
		}
	}
	var set []string
	for i := range setCols {
		set = append(set, setCols[i]+" = "+params[i])
	}
	update := `UPDATE ` + storeTable + ` SET ` + strings.Join(set, ", ") + `, updated_at = now()
		WHERE domain = $1 AND callback_time = $2 AND identity_hash = $3 AND ordinal = $4
		  AND (` + strings.Join(setCols, ", ") + `) IS DISTINCT FROM (` + strings.Join(params, ", ") + `)`
	var last *key
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var rows pgx.Rows
		var err error
		if last == nil {
			rows, err = s.pool.Query(ctx, `SELECT `+cols+` FROM `+storeTable+`
				WHERE callback_time >= $1 AND ($2 OR rules_version < $3)
				ORDER BY callback_time, domain, identity_hash, ordinal LIMIT $4`, since, o.All, o.Version, o.Batch)
		} else {
			rows, err = s.pool.Query(ctx, `SELECT `+cols+` FROM `+storeTable+`
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
			var stored transform.Row
			if err := rows.Scan(append(transform.StoredTargets(&stored), &k.id, &k.ordinal)...); err != nil {
				rows.Close()
				return res, fmt.Errorf("read rows to renormalize: %w", translate(err))
			}
			k.domain, k.at = stored.Domain, stored.CallbackTime
			row, derr := o.Derive(&stored)
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
			args := []any{it.k.domain, it.k.at, it.k.id, it.k.ordinal}
			for _, c := range transform.StoreColumns {
				if c.Content || c.Derived {
					args = append(args, c.Value(&it.row))
				}
			}
			b.Queue(update, args...)
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
