package load

import (
	"context"
	"fmt"
	"strings"
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
}

// defaultMaxConns is the pool size when the URL does not set pool_max_conns: the pipeline's
// default of 16 domains at once, each holding one window, plus bookkeeping.
const defaultMaxConns = 24

// tempBuffers is the session's temp_buffers: the staging table of a typical window (10,000 rows
// of ~2 KB) then stays in memory instead of spilling to temp files. It is allocated on demand.
const tempBuffers = "64MB"

// Open connects to the archive database and checks that it answers. It does not check the
// schema: call CheckSchema (sync) or Migrate (migrate up).
func Open(ctx context.Context, databaseURL string) (*Store, error) {
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
	// Each window in progress holds a connection for its whole read (see Window): leave room
	// for every domain the pipeline runs at once plus bookkeeping, unless the URL sets it.
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
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
