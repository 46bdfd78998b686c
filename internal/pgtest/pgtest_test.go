package pgtest

import (
	"context"
	"io/fs"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/migrations"
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

// TestCloneHoldsEveryMigration guards the template's name: a migration added (as SQL or in Go)
// must give a new template, never a clone of one built before it.
func TestCloneHoldsEveryMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]bool{}
	for _, f := range files {
		v, err := strconv.ParseInt(f[:5], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: no version: %v", f, err)
		}
		want[v] = true
	}
	for _, v := range migrations.GoVersions() {
		want[v] = true
	}
	conn, err := pgx.Connect(ctx, NewMigrated(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT version_id FROM goose_db_version WHERE is_applied AND version_id > 0")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, v := range got {
		have[v] = true
	}
	for v := range want {
		if !have[v] {
			t.Errorf("the clone lacks migration %05d: the template was built before it (its name must change with the migrations)", v)
		}
	}
	if len(have) != len(want) {
		t.Errorf("the clone holds migrations %v, the code has %d", got, len(want))
	}
}
