package load

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cbarchive/cbarchive/internal/redact"
)

// Store is the archive database. It wraps a *pgxpool.Pool; it is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	// connConfig is a copy of the pool's connection settings, for the dedicated connections of
	// locks and partition creation (they must not take connections from the pool, which windows
	// hold for their whole duration).
	connConfig *pgx.ConnConfig

	mu         sync.Mutex
	partitions map[month]bool // months whose partition is known to exist
	partMu     sync.Mutex     // one partition-creating connection at a time (see ensurePartitions)
	// staged lists domains whose windows must stage every row (see Window's direct loading):
	// one of their windows met a row direct loading could not take.
	staged map[string]bool
}

// The process's connection budget: MaxConns in all, of which dedicatedConns are outside the
// pool (the rate budget's heartbeat and, one at a time, partition creation) and the rest form
// the pool. Leases hold no connection.
const (
	// DefaultMaxConns fits two runs (a sync and a backfill) and room for analysts beside them
	// in PostgreSQL's default max_connections of 100, and in 50.
	DefaultMaxConns = 10
	// MinMaxConns leaves the pool one connection for a window and one for bookkeeping.
	MinMaxConns = dedicatedConns + 2
	// MaxMaxConns bounds the setting to what a single process can use.
	MaxMaxConns    = 1000
	dedicatedConns = 2
)

// Options configures Open.
type Options struct {
	// MaxConns caps the connections the Store opens at once, dedicated ones included; default
	// DefaultMaxConns, at least MinMaxConns. It overrides a pool_max_conns in the URL.
	MaxConns int
}

// tempBuffers is the session's temp_buffers: the staging table of a typical window (10,000 rows
// of ~2 KB) then stays in memory instead of spilling to temp files. It is allocated on demand.
const tempBuffers = "64MB"

// Open connects to the archive database with the default Options (see OpenWith).
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	return OpenWith(ctx, databaseURL, Options{})
}

// OpenWith connects to the archive database and checks that it answers. It does not check the
// schema: call CheckSchema (sync) or Migrate (migrate up).
func OpenWith(ctx context.Context, databaseURL string, o Options) (*Store, error) {
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.MaxConns < MinMaxConns || o.MaxConns > MaxMaxConns {
		return nil, fmt.Errorf("max connections %d is out of range %d..%d", o.MaxConns, MinMaxConns, MaxMaxConns)
	}
	password := redact.Password(databaseURL)
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("parse database URL: %w", err), password)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "cbarchive"
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["temp_buffers"]; !ok {
		cfg.ConnConfig.RuntimeParams["temp_buffers"] = tempBuffers
	}
	cfg.MaxConns = int32(o.MaxConns - dedicatedConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("open database pool: %w", err), password)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, redact.Error(fmt.Errorf("connect to database %s: %w", describeConfig(cfg.ConnConfig), translate(err)), password)
	}
	return &Store{
		pool:       pool,
		connConfig: cfg.ConnConfig.Copy(),
		partitions: make(map[month]bool),
	}, nil
}

// WindowSlots is how many windows may hold a pool connection at once while one connection
// stays free for bookkeeping (leases, runs, checkpoints): the most domains to run at once.
func (s *Store) WindowSlots() int { return int(s.pool.Config().MaxConns) - 1 }

// Close closes every connection of the pool. Windows and locks must be finished first.
func (s *Store) Close() { s.pool.Close() }

// Pool returns the underlying pool, for callers that need plain queries.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// connect opens a dedicated connection outside the pool.
func (s *Store) connect(ctx context.Context, applicationName string) (*pgx.Conn, error) {
	cfg := s.connConfig.Copy()
	if applicationName != "" {
		cfg.RuntimeParams["application_name"] = applicationName
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("connect to database %s: %w", describeConfig(cfg), translate(err)), cfg.Password)
	}
	return conn, nil
}

// describeConfig names a database without its password.
func describeConfig(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}
