package load

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// month is a calendar month in UTC: year*12 + (month-1).
type month int

func monthOf(t time.Time) month {
	t = t.UTC()
	return month(t.Year()*12 + int(t.Month()) - 1)
}

func (m month) start() time.Time {
	return time.Date(int(m)/12, time.Month(int(m)%12+1), 1, 0, 0, 0, 0, time.UTC)
}

// PartitionName is the name of the callback_store partition holding t's month (UTC).
func PartitionName(t time.Time) string { return monthOf(t).name() }

func (m month) name() string { return m.partitionOf(storeTable) }

// partitionOf is the name of table's partition for month m: table_yYYYYmMM.
func (m month) partitionOf(table string) string {
	s := m.start()
	return fmt.Sprintf("%s_y%04dm%02d", table, s.Year(), int(s.Month()))
}

// advisoryKey turns a name into a key for pg_advisory_*lock, namespaced to cbarchive.
func advisoryKey(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte("cbarchive"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int64(h.Sum64())
}

var partitionLockKey = advisoryKey("partitions")

// partitionAttempts and partitionLockTimeout bound how long partition creation waits for its
// lock on callback_store: CREATE TABLE … PARTITION OF needs an exclusive lock on the parent,
// and waiting behind a long analyst query would block every reader queued after it.
const (
	partitionAttempts    = 6
	partitionLockTimeout = "5s"
)

// ensurePartitions creates the monthly partitions of months that are not known to exist, in a
// short transaction on a dedicated connection, so that no window transaction holds a lock on the
// parent while it waits. Creation is serialized across processes by an advisory lock.
func (s *Store) ensurePartitions(ctx context.Context, months map[month]bool) error {
	s.mu.Lock()
	var missing []month
	for m := range months {
		if !s.partitions[m] {
			missing = append(missing, m)
		}
	}
	s.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)

	// One creating connection at a time: it is counted once in the connection budget, and
	// creation is serialized across processes by the advisory lock anyway.
	s.partMu.Lock()
	defer s.partMu.Unlock()
	conn, err := s.connect(ctx, "cbarchive partitions")
	if err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	for attempt := 1; ; attempt++ {
		err = createPartitions(ctx, conn, storeTable, missing)
		var pgErr *pgconn.PgError
		if err == nil || attempt == partitionAttempts || !errors.As(err, &pgErr) || pgErr.Code != SQLStateLockNotAvailable {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("create partition %s…: %w", missing[0].name(), translate(err))
	}
	s.mu.Lock()
	for _, m := range missing {
		s.partitions[m] = true
	}
	s.mu.Unlock()
	return nil
}

// createPartitions creates table's partitions for the missing months, each if absent.
func createPartitions(ctx context.Context, conn *pgx.Conn, table string, missing []month) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, partitionLockTimeout); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLockKey); err != nil {
			return err
		}
		var schema string
		if err := tx.QueryRow(ctx, `SELECT relnamespace::regnamespace::text FROM pg_class
			WHERE oid = $1::regclass`, table).Scan(&schema); err != nil {
			return err
		}
		for _, m := range missing {
			name := pgx.Identifier{schema, m.partitionOf(table)}.Sanitize()
			sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
				name, pgx.Identifier{schema, table}.Sanitize(),
				m.start().Format("2006-01-02 15:04:05Z07:00"), (m + 1).start().Format("2006-01-02 15:04:05Z07:00"))
			if _, err := tx.Exec(ctx, sql); err != nil {
				return err
			}
		}
		return nil
	})
}

// forgetPartitions empties the cache of known partitions (after an insert found one missing).
func (s *Store) forgetPartitions() {
	s.mu.Lock()
	clear(s.partitions)
	s.mu.Unlock()
}
