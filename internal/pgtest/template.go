package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose

	"github.com/cbarchive/cbarchive/internal/redact"
	"github.com/cbarchive/cbarchive/migrations"
)

// templateLock is the advisory lock key under which a test process builds the template, so
// that test binaries started at once (go test ./... runs packages in parallel) build it once.
const templateLock = 0x6362_7465_6d70 // "cbtemp"

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// template returns the name of a database holding every migration, built on first use and
// shared by every test process on the server. Its name carries a hash of the migrations'
// files, so a changed or added migration gets a template of its own and a worktree with other
// migrations never clones a stale one.
func template() (string, error) {
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate() })
	return templateName, templateErr
}

// migrationsKey hashes the names and contents of every migration file and the versions of the
// Go migrations (their code is not hashed: a Go migration that shipped is not edited).
func migrationsKey() (string, error) {
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	for _, v := range migrations.GoVersions() {
		fmt.Fprintf(h, "go\x00%d\x00", v)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func ensureTemplate() (string, error) {
	key, err := migrationsKey()
	if err != nil {
		return "", err
	}
	name := "cbtest_tmpl_" + key
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("cannot reach PostgreSQL at %s to build the template database: %w", redact.URL(admin), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLock); err != nil {
		return "", fmt.Errorf("lock the template database's build: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLock) }()

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for template database %s: %w", name, err)
	}
	if exists {
		return name, nil
	}
	// Built under another name and renamed when complete: a process killed mid-build leaves no
	// half-migrated template behind (the next builder drops the leftover under the lock).
	build := name + "_build"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop leftover %s: %w", build, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+build); err != nil {
		return "", fmt.Errorf("create %s: %w", build, err)
	}
	if err := migrateUp(ctx, withDatabase(admin, build)); err != nil {
		return "", err
	}
	if err := createWithRetry(ctx, conn, "ALTER DATABASE "+build+" RENAME TO "+name); err != nil {
		return "", fmt.Errorf("rename %s to %s: %w", build, name, err)
	}
	return name, nil
}

// migrateUp applies every migration to the database at dbURL.
func migrateUp(ctx context.Context, dbURL string) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return fmt.Errorf("open %s: %w", redact.URL(dbURL), err)
	}
	defer db.Close()
	p, err := migrations.NewProvider(db, io.Discard)
	if err != nil {
		return fmt.Errorf("goose provider: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up %s: %w", redact.URL(dbURL), err)
	}
	return nil
}

// sqlstateObjectInUse is PostgreSQL's object_in_use: CREATE DATABASE … TEMPLATE refuses while
// another session is connected to the template.
const sqlstateObjectInUse = "55006"

// createWithRetry runs a CREATE or ALTER DATABASE statement, retrying while the database it
// reads is in use (a concurrent clone, or the build's last connection still closing).
func createWithRetry(ctx context.Context, conn *pgx.Conn, stmt string) error {
	for {
		_, err := conn.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != sqlstateObjectInUse {
			return err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
