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

func TestClonesAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := NewMigrated(t), NewMigrated(t)
	if a == b {
		t.Fatalf("two tests got the same database %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var found bool
	if err := cb.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&found); err != nil || found {
		t.Fatalf("a table created in one clone shows in another (found %v, err %v)", found, err)
	}
	var version int64
	if err := cb.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&version); err != nil || version == 0 {
		t.Fatalf("the clone has no migration history (version %d, err %v)", version, err)
	}
}

// BenchmarkNewMigrated measures a test's migrated database: a clone of the template.
// go test -run='^$' -bench=. -benchtime=20x ./internal/pgtest/
func BenchmarkNewMigrated(b *testing.B) {
	if _, err := template(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		NewMigrated(b)
	}
}

// BenchmarkMigrateFromScratch measures what each test paid before the template: every
// migration applied to an empty database.
func BenchmarkMigrateFromScratch(b *testing.B) {
	for b.Loop() {
		if err := migrateUp(context.Background(), NewDatabase(b)); err != nil {
			b.Fatal(err)
		}
	}
}
