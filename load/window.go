package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cbarchive/cbarchive/transform"
)

// WindowOpts describes one window load.
type WindowOpts struct {
	// Key is the (domain, filter) whose checkpoint the window may advance.
	Key CheckpointKey
	// Filter is stored on the checkpoint when Commit creates it. Default: {}.
	Filter json.RawMessage
	// RunID is recorded on rejects (first_run_id, last_run_id).
	RunID string
	// Start and End are the window's time range, for errors.
	Start, End time.Time
	// Advance, when non-nil, makes Commit move the checkpoint's watermark to *Advance, never
	// backwards (GREATEST), creating the checkpoint with first_start = FirstStart if absent.
	// Nil (backfill) leaves the checkpoint alone.
	Advance *time.Time
	// FirstStart is the new checkpoint's first_start; only used when Advance creates it.
	FirstStart time.Time
	// Prune, when non-nil, makes Commit move the rows of Prune's range that the staged rows
	// do not account for to callback_records_removed (see Prune). Nil: nothing is removed.
	Prune *Prune
	// Lease, when non-nil, is checked in the commit's transaction: if it is no longer held,
	// Commit commits nothing and returns an error wrapping ErrLockLost.
	Lease *Lease
}

// Counts says what a window did to callback_records and callback_rejects.
type Counts struct {
	New       int64 // rows inserted
	Updated   int64 // rows whose response side changed, updated in place
	Unchanged int64 // rows equal to what is archived: nothing written
	Rejected  int64 // records that went to callback_rejects
	Removed   int64 // rows proven extra, moved to callback_records_removed (WindowOpts.Prune)
}

// Add sums two Counts.
func (c Counts) Add(o Counts) Counts {
	return Counts{c.New + o.New, c.Updated + o.Updated, c.Unchanged + o.Unchanged, c.Rejected + o.Rejected, c.Removed + o.Removed}
}

// Window is one window's load in progress: a transaction on a connection of its own, with the
// window's rows staged in a TEMP table until Commit merges them. A Window is not safe for
// concurrent use; always call Rollback (e.g. deferred), which is a no-op after Commit.
type Window struct {
	s    *Store
	o    WindowOpts
	conn *pgxpool.Conn
	tx   pgx.Tx

	staged  int64
	domain  string // the staged rows' domain, while they all have the same
	domains int    // 0, 1 or 2 (several)
	months  map[month]bool
	lo, hi  time.Time // callback_time bounds of the staged rows
	// identities counts the staged rows per identity (domain, callback_time, identity_hash);
	// shared says some identity has more than one, so Commit must number them.
	identities map[identityKey]int32
	shared     bool
	// Direct loading: a window whose range [o.Start, o.End] the archive holds nothing of, for its
	// domain, COPYs its rows straight into callback_store (rows outside the range or of another
	// domain are staged and merged as usual). direct is 0 until the first AddRows decides, then
	// 1 (direct) or -1 (staged). A direct row's ordinal is its arrival number among the rows of
	// its identity; Commit renumbers a group by content hash when arrival order differs
	// (firstHash and groups keep the content hashes for that).
	direct     int8
	directRows int64
	firstHash  map[identityKey][]byte
	groups     map[identityKey][][]byte
	rejects    []transform.Reject
	rejected   int64

	err  error // first failure: the transaction is unusable after it
	done bool
}

const stagingTable = "cbarchive_staging"

// stagingColumns is the order COPY sends: storeColumns, then the record's content hash, which
// only orders records of equal identity (their ordinals) and is not stored, then the ordinal:
// 0, the right one for every record whose identity no other staged record shares; Commit
// numbers the others (numberSQL) before the merge.
var stagingColumns = append(transform.ColumnNames(transform.StoreColumns), "content_hash", "ordinal")

// identityKey is a record's identity within a window: domain, callback_time (microseconds, as
// stored) and identity_hash.
type identityKey struct {
	domain string
	at     int64
	id     int64
}

// createStaging makes the connection's staging table on first use. ON COMMIT DELETE ROWS
// empties it at every commit; a rollback discards its rows anyway.
var createStaging = `CREATE TEMP TABLE IF NOT EXISTS ` + stagingTable + ` (` + stagingDefinition() +
	`) WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS`

// BeginWindow acquires a connection, begins the window's transaction and prepares the staging
// table. The caller must end it with Commit or Rollback.
func (s *Store) BeginWindow(ctx context.Context, o WindowOpts) (*Window, error) {
	w := &Window{s: s, o: o, months: make(map[month]bool), identities: make(map[identityKey]int32),
		firstHash: make(map[identityKey][]byte), groups: make(map[identityKey][][]byte)}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, w.wrap(fmt.Errorf("acquire connection: %w", translate(err)))
	}
	w.conn = conn
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, w.wrap(fmt.Errorf("begin: %w", translate(err)))
	}
	w.tx = tx
	if _, err := tx.Exec(ctx, createStaging); err != nil {
		w.Rollback()
		return nil, w.wrap(fmt.Errorf("create staging table: %w", translate(err)))
	}
	return w, nil
}

// wrap names the window in an error.
func (w *Window) wrap(err error) error {
	return fmt.Errorf("load window %s..%s of %s: %w",
		w.o.Start.UTC().Format(time.RFC3339), w.o.End.UTC().Format(time.RFC3339), w.o.Key, err)
}

// fail records the window's first failure; the transaction is unusable after it.
func (w *Window) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

func (w *Window) usable() error {
	if w.done {
		return w.wrap(errors.New("window already committed or rolled back"))
	}
	return w.err
}

// AddRows stages one page of rows with COPY. Pages may come in any order.
func (w *Window) AddRows(ctx context.Context, rows []transform.Row) error {
	if err := w.usable(); err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	for i := range rows {
		r := &rows[i]
		if len(r.IdentityHash) < 8 || len(r.ContentHash) == 0 {
			return w.fail(w.wrap(fmt.Errorf("row %d (callback_time %s) has no identity or content hash: a bug in transform",
				i, r.CallbackTime.UTC().Format(time.RFC3339Nano))))
		}
		if r.CallbackTime.IsZero() {
			return w.fail(w.wrap(fmt.Errorf("row %d has no callback_time: a bug in transform", i)))
		}
	}
	if w.direct == 0 {
		if err := w.decideDirect(ctx); err != nil {
			return w.fail(w.wrap(err))
		}
	}
	var direct, staged []int
	for i := range rows {
		if w.takesDirect(&rows[i]) {
			direct = append(direct, i)
		} else {
			staged = append(staged, i)
		}
	}
	if len(staged) > 0 && w.direct == 1 {
		// Partitions are created before the first direct COPY: after it, creating one would
		// wait for this transaction's own lock on callback_store.
		if w.directRows == 0 {
			months := map[month]bool{}
			for _, i := range staged {
				months[monthOf(rows[i].CallbackTime)] = true
			}
			if err := w.s.ensurePartitions(ctx, months); err != nil {
				return w.fail(w.wrap(err))
			}
		} else if err := w.checkStagedPartitions(rows, staged); err != nil {
			return w.fail(w.wrap(err))
		}
	}
	if len(staged) > 0 {
		src := &rowSource{rows: rows, pick: staged, i: -1, vals: make([]any, 0, len(stagingColumns))}
		n, err := w.tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", stagingTable}, stagingColumns, src)
		if err != nil {
			return w.fail(w.wrap(fmt.Errorf("stage %d rows: %w", len(staged), translate(err))))
		}
		w.staged += n
	}
	if len(direct) > 0 {
		src := &directSource{w: w, rows: rows, pick: direct, i: -1, vals: make([]any, 0, len(directColumns))}
		n, err := w.tx.CopyFrom(ctx, pgx.Identifier{storeTable}, directColumns, src)
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == SQLStateUniqueViolation {
				w.s.stageDomain(w.o.Key.Domain)
			}
			err = translate(err)
			if errors.Is(err, ErrNoPartition) {
				w.s.forgetPartitions()
			}
			return w.fail(w.wrap(fmt.Errorf("load %d rows: %w", len(direct), err)))
		}
		w.directRows += n
	}
	for i := range rows {
		if w.domains == 0 || (w.domains == 1 && rows[i].Domain != w.domain) {
			w.domain = rows[i].Domain
			w.domains++
		}
		t := rows[i].CallbackTime
		if !w.takesDirect(&rows[i]) {
			k := identityKey{rows[i].Domain, t.UnixMicro(), rows[i].IdentityKey()}
			w.identities[k]++
			if w.identities[k] > 1 {
				w.shared = true
			}
		}
		w.months[monthOf(t)] = true
		if w.lo.IsZero() || t.Before(w.lo) {
			w.lo = t
		}
		if w.hi.IsZero() || t.After(w.hi) {
			w.hi = t
		}
	}
	return nil
}

// mergeArgs are mergeSQL's parameters for the staged rows.
func (w *Window) mergeArgs() []any {
	var domain *string
	if w.domains == 1 {
		domain = &w.domain
	}
	return []any{w.lo, w.hi, domain}
}

// rowSource feeds the rows of pick to CopyFrom, reusing one slice of values.
type rowSource struct {
	rows []transform.Row
	pick []int
	i    int
	vals []any
}

func (s *rowSource) Next() bool { s.i++; return s.i < len(s.pick) }
func (s *rowSource) Err() error { return nil }
func (s *rowSource) Values() ([]any, error) {
	r := &s.rows[s.pick[s.i]]
	s.vals = append(transform.StoreValues(s.vals[:0], r), r.ContentHash, int32(0))
	return s.vals, nil
}

// directColumns is the order of a direct COPY into callback_store.
var directColumns = append(transform.ColumnNames(transform.StoreColumns), "ordinal")

// directSource feeds the rows of pick to a direct COPY, numbering each identity's rows in
// arrival order.
type directSource struct {
	w    *Window
	rows []transform.Row
	pick []int
	i    int
	vals []any
}

func (s *directSource) Next() bool { s.i++; return s.i < len(s.pick) }
func (s *directSource) Err() error { return nil }
func (s *directSource) Values() ([]any, error) {
	r := &s.rows[s.pick[s.i]]
	w := s.w
	k := identityKey{r.Domain, r.CallbackTime.UnixMicro(), r.IdentityKey()}
	n := w.identities[k]
	w.identities[k] = n + 1
	switch n {
	case 0:
		w.firstHash[k] = r.ContentHash
	case 1:
		w.groups[k] = [][]byte{w.firstHash[k], r.ContentHash}
	default:
		w.groups[k] = append(w.groups[k], r.ContentHash)
	}
	s.vals = append(transform.StoreValues(s.vals[:0], r), n)
	return s.vals, nil
}

// decideDirect chooses, at the first page, between direct loading and staging (see
// Window.direct): direct when the window has a range and its domain, no Prune, and the archive
// holds no row of the domain in the range. The range's partitions are created first: once rows
// are in callback_store, this transaction's lock would make partition creation wait on it.
func (w *Window) decideDirect(ctx context.Context) error {
	w.direct = -1
	w.s.mu.Lock()
	staged := w.s.staged[w.o.Key.Domain]
	w.s.mu.Unlock()
	if w.o.Prune != nil || staged || w.o.Start.IsZero() || w.o.End.IsZero() || w.o.End.Before(w.o.Start) {
		return nil
	}
	months := map[month]bool{}
	for m := monthOf(w.o.Start); m <= monthOf(w.o.End); m++ {
		months[m] = true
	}
	if err := w.s.ensurePartitions(ctx, months); err != nil {
		return err
	}
	// In a savepoint rolled back at once, so that the probe's lock on callback_store does not
	// stay with the transaction (it would make partition creation wait for it).
	var fresh bool
	if _, err := w.tx.Exec(ctx, `SAVEPOINT cbarchive_probe`); err != nil {
		return fmt.Errorf("look for archived rows in the window: %w", translate(err))
	}
	if err := w.tx.QueryRow(ctx, freshSQL, w.o.Start, w.o.End, w.o.Key.Domain).Scan(&fresh); err != nil {
		return fmt.Errorf("look for archived rows in the window: %w", translate(err))
	}
	if _, err := w.tx.Exec(ctx, `ROLLBACK TO SAVEPOINT cbarchive_probe`); err != nil {
		return fmt.Errorf("look for archived rows in the window: %w", translate(err))
	}
	if fresh {
		w.direct = 1
	}
	return nil
}

// stageDomain makes the domain's later windows stage every row.
func (s *Store) stageDomain(domain string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staged == nil {
		s.staged = make(map[string]bool)
	}
	s.staged[domain] = true
}

// takesDirect says whether r goes straight into callback_store: direct loading, the window's
// domain, and inside its range (a record of the same identity always shares both).
func (w *Window) takesDirect(r *transform.Row) bool {
	return w.direct == 1 && r.Domain == w.o.Key.Domain &&
		!r.CallbackTime.Before(w.o.Start) && !r.CallbackTime.After(w.o.End)
}

// checkStagedPartitions fails the window, and makes the domain's next windows stage every row,
// when a staged row needs a partition not known to exist.
func (w *Window) checkStagedPartitions(rows []transform.Row, staged []int) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	for _, i := range staged {
		if m := monthOf(rows[i].CallbackTime); !w.s.partitions[m] {
			if w.s.staged == nil {
				w.s.staged = make(map[string]bool)
			}
			w.s.staged[w.o.Key.Domain] = true
			return fmt.Errorf("a record at %s, outside the window's range, needs partition %s, which cannot be created while "+
				"the window holds rows: the window is abandoned and %s's windows are staged from now on; run again",
				rows[i].CallbackTime.UTC().Format(time.RFC3339Nano), m.name(), w.o.Key.Domain)
		}
	}
	return nil
}

// renumberDirect gives the direct rows of each identity with several records their ordinals by
// content hash (as numberSQL does for staged rows), when arrival order differs.
func (w *Window) renumberDirect(ctx context.Context) error {
	for k, hashes := range w.groups {
		order := make([]int, len(hashes))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return bytes.Compare(hashes[order[a]], hashes[order[b]]) < 0 })
		target := make([]int32, len(hashes)) // arrival number -> ordinal
		moved := false
		for ord, arrival := range order {
			target[arrival] = int32(ord)
			moved = moved || arrival != ord
		}
		if !moved {
			continue
		}
		at := time.UnixMicro(k.at).UTC()
		if _, err := w.tx.Exec(ctx, flipSQL, k.domain, at, k.id); err != nil {
			return fmt.Errorf("number records of equal identity at %s: %w", at.Format(time.RFC3339Nano), translate(err))
		}
		if _, err := w.tx.Exec(ctx, renumberSQL, k.domain, at, k.id, target); err != nil {
			return fmt.Errorf("number records of equal identity at %s: %w", at.Format(time.RFC3339Nano), translate(err))
		}
	}
	return nil
}

// flipSQL and renumberSQL move the ordinals of one identity's rows ($1, $2, $3) from arrival
// numbers to $4[arrival + 1], through negative values so that no two rows share an ordinal in
// between.
const (
	flipSQL = `UPDATE ` + storeTable + ` SET ordinal = -1 - ordinal
	WHERE domain = $1 AND callback_time = $2 AND identity_hash = $3 AND ordinal >= 0`
	renumberSQL = `UPDATE ` + storeTable + ` SET ordinal = ($4::integer[])[-ordinal]
	WHERE domain = $1 AND callback_time = $2 AND identity_hash = $3 AND ordinal < 0`
)

// AddRejects keeps rejected records for Commit, which upserts them into callback_rejects.
func (w *Window) AddRejects(ctx context.Context, rejects []transform.Reject) error {
	if err := w.usable(); err != nil {
		return err
	}
	w.rejects = append(w.rejects, rejects...)
	w.rejected += int64(len(rejects))
	return nil
}

// Commit merges the staged rows into callback_records (creating missing monthly partitions
// first, in a transaction of their own), upserts the rejects, advances the checkpoint when asked,
// and commits all of it at once. On any error nothing of the window is committed.
func (w *Window) Commit(ctx context.Context) (Counts, error) {
	if err := w.usable(); err != nil {
		w.Rollback() // an earlier failure left the transaction unusable
		return Counts{}, err
	}
	c, err := w.commit(ctx)
	if err != nil {
		w.fail(err)
		w.Rollback()
		return Counts{}, w.wrap(err)
	}
	return c, nil
}

func (w *Window) commit(ctx context.Context) (Counts, error) {
	var c Counts
	if w.o.Lease != nil {
		if err := w.o.Lease.check(ctx, w.tx); err != nil {
			return c, err
		}
	}
	if w.o.Prune != nil {
		n, err := w.removeExtra(ctx)
		if err != nil {
			return c, err
		}
		c.Removed = n
	}
	if w.directRows > 0 {
		if err := w.renumberDirect(ctx); err != nil {
			return c, err
		}
		c.New += w.directRows
	}
	if w.staged > 0 {
		if err := w.s.ensurePartitions(ctx, w.months); err != nil {
			return c, err
		}
		// The merge's cost estimate crosses jit_above_cost on every sizable window, and
		// compiling it costs more than it saves (~20 ms a window).
		if _, err := w.tx.Exec(ctx, `SELECT set_config('jit', 'off', true)`); err != nil {
			return c, fmt.Errorf("merge: %w", translate(err))
		}
		if w.shared {
			if _, err := w.tx.Exec(ctx, numberSQL); err != nil {
				return c, fmt.Errorf("number records of equal identity: %w", translate(err))
			}
		}
		// A range the archive holds nothing of (the usual sync window) needs no comparison and
		// no conflict handling: a plain INSERT. A reconciling window always merges: it prunes
		// against what is archived.
		fresh := false
		if w.o.Prune == nil {
			if err := w.tx.QueryRow(ctx, freshSQL, w.mergeArgs()...).Scan(&fresh); err != nil {
				return c, fmt.Errorf("look for archived rows in %s..%s: %w",
					w.lo.UTC().Format(time.RFC3339Nano), w.hi.UTC().Format(time.RFC3339Nano), translate(err))
			}
		}
		var err error
		if fresh {
			var tag pgconn.CommandTag
			tag, err = w.tx.Exec(ctx, insertSQL)
			c.New += tag.RowsAffected()
		} else {
			var added int64
			err = w.tx.QueryRow(ctx, mergeSQL, w.mergeArgs()...).Scan(&added, &c.Updated)
			c.New += added
		}
		if err != nil {
			err = translate(err)
			if errors.Is(err, ErrNoPartition) {
				w.s.forgetPartitions()
			}
			return c, fmt.Errorf("merge %d staged rows: %w", w.staged, err)
		}
		c.Unchanged = w.staged - (c.New - w.directRows) - c.Updated
	}
	if len(w.rejects) > 0 {
		if err := w.upsertRejects(ctx); err != nil {
			return c, err
		}
		c.Rejected = w.rejected
	}
	if w.o.Advance != nil {
		filter := w.o.Filter
		if len(filter) == 0 {
			filter = json.RawMessage(`{}`)
		}
		if _, err := w.tx.Exec(ctx, advanceSQL, w.o.Key.Domain, w.o.Key.FilterKey, string(filter),
			w.o.FirstStart, *w.o.Advance); err != nil {
			return c, fmt.Errorf("advance checkpoint to %s: %w", w.o.Advance.UTC().Format(time.RFC3339), translate(err))
		}
	}
	if err := w.tx.Commit(ctx); err != nil {
		return c, fmt.Errorf("commit: %w", translate(err))
	}
	w.done = true
	w.conn.Release()
	return c, nil
}

// Rollback abandons the window. It is idempotent, safe after Commit, and works even when the
// caller's context is already cancelled.
func (w *Window) Rollback() {
	if w.done {
		return
	}
	w.done = true
	if w.tx != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// pgx closes the connection when the rollback itself fails, so a broken connection
		// never returns to the pool.
		_ = w.tx.Rollback(ctx)
		cancel()
	}
	if w.conn != nil {
		w.conn.Release()
	}
}

// numberSQL numbers the staged records that share an identity (domain, callback_time,
// identity_hash): 0.. in the order of their content hash, so that the same records in any page
// order get the same ordinals and k identical records are k rows. Commit runs it only when
// AddRows saw such records; every other record keeps ordinal 0.
var numberSQL = `
UPDATE pg_temp.` + stagingTable + ` s SET ordinal = n.ordinal
FROM (
	SELECT x.ctid AS tid,
		(row_number() OVER (PARTITION BY x.domain, x.callback_time, x.identity_hash ORDER BY x.content_hash) - 1)::integer AS ordinal
	FROM pg_temp.` + stagingTable + ` x
	WHERE (x.domain, x.callback_time, x.identity_hash) IN (
		SELECT domain, callback_time, identity_hash FROM pg_temp.` + stagingTable + `
		GROUP BY 1, 2, 3 HAVING count(*) > 1)
) n
WHERE s.ctid = n.tid AND n.ordinal > 0`

// freshSQL says whether the archive holds no row in the staged rows' range ($1..$2) of their
// domain ($3; NULL: any domain). Windows of one domain and filter are serialized by the domain
// lease (checked at commit), so the answer holds until the window commits; a run of another
// filter writing the same range at the same moment makes the direct COPY or the INSERT fail on
// the unique key, and that domain's later windows merge.
var freshSQL = `SELECT NOT EXISTS (SELECT 1 FROM ` + storeTable + `
	WHERE callback_time BETWEEN $1::timestamptz AND $2::timestamptz AND ($3::text IS NULL OR domain = $3::text))`

// insertSQL inserts every staged row: the merge of a range the archive holds nothing of.
var insertSQL = `INSERT INTO ` + storeTable + ` (` + strings.Join(transform.ColumnNames(transform.StoreColumns), ", ") + `, ordinal)
	SELECT ` + selectExprs("") + `, ordinal FROM pg_temp.` + stagingTable

// mergeSQL drops the staged rows archived unchanged and upserts the rest; $1 and $2 bound the
// staged callback_time so that only the window's partitions are probed, and $3 (the window's
// one domain, or NULL) makes the probe a range scan of the unique index, whose leading column
// is domain, instead of a walk over the whole index. A row is unchanged when its content
// columns (transform.StoreColumn.Content) equal the archived row's.
var mergeSQL = `
WITH changed AS (
	-- Drop what is archived unchanged before the INSERT: those rows never reach ON CONFLICT,
	-- so a re-read writes nothing (no tuple versions, no WAL).
	SELECT s.*
	FROM pg_temp.` + stagingTable + ` s
	WHERE NOT EXISTS (
		SELECT 1 FROM ` + storeTable + ` c
		WHERE c.domain = s.domain AND c.callback_time = s.callback_time
		  AND c.identity_hash = s.identity_hash AND c.ordinal = s.ordinal
		  AND c.callback_time BETWEEN $1::timestamptz AND $2::timestamptz
		  AND ($3::text IS NULL OR c.domain = $3::text)
		  AND ` + sameContent("c", "s") + `)
), merged AS (
	INSERT INTO ` + storeTable + ` AS r (` + strings.Join(transform.ColumnNames(transform.StoreColumns), ", ") + `, ordinal)
	SELECT ` + selectExprs("") + `, ordinal
	FROM changed
	ON CONFLICT ON CONSTRAINT ` + storeTable + `_key DO UPDATE SET
		` + setList(func(c transform.StoreColumn) bool { return c.Content || c.Derived }) + `, updated_at = now()
	WHERE NOT ` + sameContent("r", "excluded") + `
	-- RETURNING (xmax = 0) is refused on partitioned tables ("cannot retrieve a system column
	-- in this context"). A row inserted by this statement has first_seen_at = now() (this
	-- transaction's start); an updated row keeps the first_seen_at of an earlier transaction.
	RETURNING (r.first_seen_at = now()) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged`

const advanceSQL = `
INSERT INTO sync_checkpoints AS c (domain, filter_key, filter, first_start, watermark)
VALUES ($1, $2, $3::jsonb, $4, $5)
ON CONFLICT (domain, filter_key) DO UPDATE
SET watermark = GREATEST(c.watermark, excluded.watermark), updated_at = now()`

const rejectsSQL = `
INSERT INTO callback_rejects AS j (domain, reject_hash, raw, raw_text, reason, copies, first_run_id, last_run_id)
SELECT d, h, r, t, why, n, $7, $7
FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::integer[]) AS u(d, h, r, t, why, n)
ON CONFLICT (domain, reject_hash) DO UPDATE
SET reason = excluded.reason, copies = excluded.copies, updated_at = now(), last_run_id = excluded.last_run_id
WHERE (j.reason, j.copies) IS DISTINCT FROM (excluded.reason, excluded.copies)`

func (w *Window) upsertRejects(ctx context.Context) error {
	type key struct{ domain, hash string }
	index := make(map[key]int, len(w.rejects))
	var domains, texts, reasons []string
	var hashes, raws [][]byte
	var copies []int32
	for _, r := range w.rejects {
		h := r.Hash
		if len(h) == 0 {
			sum := sha256.Sum256(r.Raw)
			h = sum[:]
		}
		k := key{r.Domain, string(h)}
		if i, ok := index[k]; ok { // identical records in one window: one row, k copies
			copies[i]++
			continue
		}
		index[k] = len(domains)
		raw := r.Raw
		if raw == nil {
			raw = []byte{}
		}
		domains = append(domains, pgText(r.Domain))
		hashes = append(hashes, h)
		raws = append(raws, raw)
		texts = append(texts, pgText(string(raw)))
		reasons = append(reasons, pgText(r.Reason))
		copies = append(copies, 1)
	}
	if _, err := w.tx.Exec(ctx, rejectsSQL, domains, hashes, raws, texts, reasons, copies, w.o.RunID); err != nil {
		return fmt.Errorf("record %d rejects: %w", len(domains), translate(err))
	}
	return nil
}

// pgText makes s storable in a text column by transform's one rule (transform.SanitizeText).
func pgText(s string) string { return transform.SanitizeText(s) }
