// Package pgtest gives each test its own PostgreSQL database, created and dropped around it.
//
// Tests read DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable).
// A test that cannot reach the server fails with instructions; it never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cbarchive/cbarchive/internal/redact"
)

// DefaultURL is used when DATABASE_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the server URL tests use to create their databases.
func AdminURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database for t, dropped when t ends, and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, "")
}

// createDatabase creates a database for t with CREATE DATABASE name+suffix, dropped when t
// ends, and returns its URL.
func createDatabase(t testing.TB, suffix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: cannot reach PostgreSQL at %s: %v\n"+
			"Start one (on Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, "+
			"or apt-get install -y postgresql) or point DATABASE_URL at a server where this user may CREATE DATABASE.",
			redact.URL(admin), err)
	}
	defer conn.Close(ctx)

	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "cbtest_" + hex.EncodeToString(b[:])
	if err := createWithRetry(ctx, conn, "CREATE DATABASE "+name+suffix); err != nil {
		t.Fatalf("pgtest: create database %s%s: %v", name, suffix, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	return withDatabase(admin, name)
}

// withDatabase returns the server URL admin with its database replaced by name.
func withDatabase(admin, name string) string {
	u, err := url.Parse(admin)
	if err != nil {
		panic(fmt.Sprintf("pgtest: DATABASE_URL %q is not a URL: %v", redact.URL(admin), err))
	}
	u.Path = "/" + name
	return u.String()
}

// NewMigrated creates a database for t with every migration applied and returns its URL. The
// database is cloned (CREATE DATABASE … TEMPLATE) from a template migrated once per set of
// migrations, shared by every test process on the server; see template.
func NewMigrated(t testing.TB) string {
	t.Helper()
	tmpl, err := template()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return createDatabase(t, " TEMPLATE "+tmpl)
}

// NewPool returns a pool on a fresh migrated database, closed when t ends.
func NewPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	dbURL := NewMigrated(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, dbURL
}
