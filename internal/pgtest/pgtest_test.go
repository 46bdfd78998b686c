package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestNewMigratedHasTheArchiveTables(t *testing.T) {
	t.Parallel()
	u := NewMigrated(t)
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, table := range []string{"callback_records", "sync_checkpoints", "sync_runs", "sync_gaps", "callback_rejects"} {
		var ok bool
		if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing after migrate up (err %v)", table, err)
		}
	}
}

func TestRedactHidesThePassword(t *testing.T) {
	t.Parallel()
	got := redact("postgres://u:s3cret@h:5432/db")
	if got != "postgres://u:xxxxx@h:5432/db" {
		t.Fatalf("redact = %q", got)
	}
}
