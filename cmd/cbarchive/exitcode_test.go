package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/pgtest"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
)

func TestExitCodeOfEachKindOfFailure(t *testing.T) {
	t.Parallel()
	// What load returns (load's own test holds each SQLSTATE to its class), wrapped on the way up.
	wrapped := func(class error, code string) error {
		return fmt.Errorf("read checkpoints: %w", fmt.Errorf("%w: %w", class, &pgconn.PgError{Code: code, Message: "m"}))
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"no error", nil, 0},
		{"usage", usagef("bad flag"), 2},
		{"signature refused", &extract.APIError{Action: "ListDomainDetail", HTTPStatus: 403, Code: "SignatureDoesNotMatch", Class: extract.ClassFatal}, 2},
		{"access key refused", fmt.Errorf("window: %w", &extract.APIError{HTTPStatus: 401, Code: "InvalidAccessKey"}), 2},
		{"forbidden", &extract.APIError{HTTPStatus: 403, Code: "RequestForbidden"}, 2},
		{"throttled past retries", &extract.APIError{HTTPStatus: 429, Code: "FlowLimitExceeded", Class: extract.ClassThrottle}, 1},
		{"API unavailable", &extract.APIError{HTTPStatus: 503, Code: "InternalServiceError", Class: extract.ClassRetry}, 1},
		{"unknown role", wrapped(load.ErrConfig, "28000"), 2},
		{"wrong password", wrapped(load.ErrConfig, "28P01"), 2},
		{"unknown database", wrapped(load.ErrConfig, "3D000"), 2},
		{"missing privilege", wrapped(load.ErrConfig, "42501"), 2},
		{"schema not migrated", wrapped(load.ErrSchemaOutdated, "42P01"), 2},
		{"deadlock", wrapped(load.ErrRetryable, "40P01"), 1},
		{"database shut down", wrapped(load.ErrRetryable, "57P01"), 1},
		{"failed run, retry may fix", &failedError{n: 1}, 1},
		{"failed run, configuration", &failedError{n: 1, config: true}, 2},
		{"other", errors.New("boom"), 1},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exit %d, want %d (%v)", tt.name, got, tt.want, tt.err)
		}
	}
}

// newRole creates a login role with no privileges, dropped when t ends.
func newRole(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "cbnopriv_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})
	return role
}

// withUser returns dbURL with its user replaced.
func withUser(dbURL, user string) string { return strings.Replace(dbURL, "postgres@", user+"@", 1) }

// withDatabase returns dbURL naming another database.
func withDatabase(dbURL, db string) string {
	i := strings.LastIndex(dbURL, "/")
	j := strings.Index(dbURL[i:], "?")
	if j < 0 {
		return dbURL[:i+1] + db
	}
	return dbURL[:i+1] + db + dbURL[i+j:]
}

// runFinished returns the "run finished" log line of a run's JSON logs.
func runFinished(t *testing.T, stderr string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "run finished" {
			return m
		}
	}
	t.Fatalf("no \"run finished\" log line:\n%s", stderr)
	return nil
}

func TestConfigurationFoundDuringTheRunExitsTwo(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, NumDomains: 2, RecordsPerDay: 20, DaysBack: 1}, true)
	role := newRole(t)
	tests := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"secret refused during discovery", []string{"VOLC_SECRETKEY=wrong-secret"}, []string{"sync"},
			[]string{"SignatureDoesNotMatch", "VOLC_SECRETKEY"}},
		{"secret refused in a domain", []string{"VOLC_SECRETKEY=wrong-secret"}, []string{"sync", "--domains", "live1.example.com", "--allow-unknown-domains"},
			[]string{"SignatureDoesNotMatch", "live1.example.com"}},
		{"unknown role", []string{"DATABASE_URL=" + withUser(w.dbURL, "no_such_role_x")}, []string{"sync"},
			[]string{"no_such_role_x", "DATABASE_URL"}},
		{"unknown database", []string{"DATABASE_URL=" + withDatabase(w.dbURL, "no_such_database_x")}, []string{"sync"},
			[]string{"no_such_database_x", "does not exist", "CREATE DATABASE"}},
		{"role without privileges", []string{"DATABASE_URL=" + withUser(w.dbURL, role)}, []string{"sync"},
			[]string{"privilege", "schema public"}},
		{"migrate with an unknown role", []string{"DATABASE_URL=" + withUser(w.dbURL, "no_such_role_y")}, []string{"migrate", "up"},
			[]string{"no_such_role_y", "DATABASE_URL"}},
		{"migrate with a role without privileges", []string{"DATABASE_URL=" + withUser(w.dbURL, role)}, []string{"migrate", "up"},
			[]string{"privilege", "schema public"}},
		{"status with a role without privileges", []string{"DATABASE_URL=" + withUser(w.dbURL, role)}, []string{"status"},
			[]string{"privilege", "schema public"}},
	}
	for _, tt := range tests {
		res := w.run(tt.env, tt.args...)
		if res.code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", tt.name, res.code, res.all())
			continue
		}
		for _, want := range tt.wants {
			if !strings.Contains(res.all(), want) {
				t.Errorf("%s: output does not say %q:\n%s", tt.name, want, res.all())
			}
		}
		if tt.args[0] == "sync" {
			if m := runFinished(t, res.stderr); m["exit_code"] != float64(2) || m["outcome"] != "failed" {
				t.Errorf("%s: run finished line %v, want outcome failed and exit_code 2", tt.name, m)
			}
		}
	}
}

func TestARetryableFailureExitsOne(t *testing.T) {
	t.Parallel()
	w := newWorld(t, livesim.Config{Seed: 1, NumDomains: 1, RecordsPerDay: 20, DaysBack: 1}, true)
	unreachable := "postgres://postgres@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=2"
	res := w.run([]string{"DATABASE_URL=" + unreachable}, "sync")
	if res.code != 1 {
		t.Fatalf("database unreachable: exit %d, want 1\n%s", res.code, res.all())
	}
	if m := runFinished(t, res.stderr); m["exit_code"] != float64(1) {
		t.Errorf("run finished line %v, want exit_code 1", m)
	}
}
