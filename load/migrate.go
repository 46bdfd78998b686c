package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cbarchive/cbarchive/internal/redact"
	"github.com/cbarchive/cbarchive/migrations"
)

// Migration directions accepted by Migrate.
const (
	MigrateUp         = "up"           // apply every pending migration
	MigrateDown       = "down"         // roll back the most recent migration (one step)
	MigrateDownToZero = "down-to-zero" // roll back every migration: drops the archive
	MigrateStatus     = "status"       // print each migration and whether it is applied
)

// Migrate runs the embedded goose migrations in direction (MigrateUp, MigrateDown,
// MigrateDownToZero or MigrateStatus) and prints what it did to w. Concurrent runs are
// serialized by goose's PostgreSQL advisory lock.
func Migrate(ctx context.Context, databaseURL string, direction string, w io.Writer) (err error) {
	password := redact.Password(databaseURL)
	defer func() { err = redact.Error(err, password) }()

	switch direction {
	case MigrateUp, MigrateDown, MigrateDownToZero, MigrateStatus:
	default:
		return fmt.Errorf("migrate: unknown direction %q: want %s, %s, %s or %s",
			direction, MigrateUp, MigrateDown, MigrateDownToZero, MigrateStatus)
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("migrate: parse database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()

	var opts []goose.ProviderOption
	if direction != MigrateStatus {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := migrations.NewProvider(db, w, opts...)
	if err != nil {
		return fmt.Errorf("migrate: load embedded migrations: %w", err)
	}

	switch direction {
	case MigrateUp:
		res, err := p.Up(ctx)
		return reportMany(w, "up", res, err, "no migrations to apply: the schema is up to date")
	case MigrateDown:
		res, err := p.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(w, "no migrations to roll back")
			return nil
		}
		if res != nil {
			printResults(w, []*goose.MigrationResult{res})
		}
		if err != nil {
			return fmt.Errorf("migrate down: %w", translate(err))
		}
	case MigrateDownToZero:
		res, err := p.DownTo(ctx, 0)
		return reportMany(w, "down-to-zero", res, err, "no migrations to roll back")
	case MigrateStatus:
		st, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", translate(err))
		}
		for _, m := range st {
			applied := "pending"
			if m.State == goose.StateApplied {
				applied = "applied " + m.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(w, "%-28s %s\n", sourceName(m.Source), applied)
		}
	}
	return nil
}

// reportMany prints what a multi-step migration did (also the step that failed) and wraps its
// error; none is printed when there was nothing to do.
func reportMany(w io.Writer, what string, res []*goose.MigrationResult, err error, none string) error {
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		res = append(partial.Applied, partial.Failed)
	}
	printResults(w, res)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", what, translate(err))
	}
	if len(res) == 0 {
		fmt.Fprintln(w, none)
	}
	return nil
}

func printResults(w io.Writer, res []*goose.MigrationResult) {
	for _, r := range res {
		if r == nil {
			continue
		}
		if r.Source != nil && r.Source.Path == "" {
			named := *r.Source
			named.Path = sourceName(r.Source)
			shown := *r
			shown.Source = &named
			r = &shown
		}
		fmt.Fprintln(w, r.String())
	}
}

// sourceName names a migration in reports: its file, or for a Go migration (which has none) its
// version, so that no line reads "." where a name belongs.
func sourceName(s *goose.Source) string {
	if s.Path != "" {
		return s.Path
	}
	return fmt.Sprintf("%05d_go_migration", s.Version)
}

// embeddedVersions lists the versions of the embedded migrations, ascending.
func embeddedVersions() ([]int64, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	var vs []int64
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		vs = append(vs, v)
	}
	vs = append(vs, migrations.GoVersions()...)
	slices.Sort(vs)
	return vs, nil
}

// CheckSchema returns an error wrapping ErrSchemaOutdated (with the current and wanted version)
// unless every embedded migration is applied, and ErrSchemaNewer when the database has
// migrations this binary does not know. It never changes the database (unlike goose, it does
// not create the version table).
func (s *Store) CheckSchema(ctx context.Context) error {
	want, err := embeddedVersions()
	if err != nil {
		return fmt.Errorf("check schema: list embedded migrations: %w", err)
	}
	wanted := int64(0)
	if len(want) > 0 {
		wanted = want[len(want)-1]
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, goose.DefaultTablename).Scan(&exists); err != nil {
		return fmt.Errorf("check schema: %w", translate(err))
	}
	if !exists {
		return fmt.Errorf("check schema: no migration applied, version 0, this binary wants %d: %w", wanted, ErrSchemaOutdated)
	}
	// goose records one row per step; the latest row of a version says whether it is applied.
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (version_id) version_id, is_applied
		FROM `+goose.DefaultTablename+`
		WHERE version_id > 0
		ORDER BY version_id, id DESC`)
	if err != nil {
		return fmt.Errorf("check schema: %w", translate(err))
	}
	applied := map[int64]bool{}
	current := int64(0)
	var v int64
	var ok bool
	_, err = pgx.ForEachRow(rows, []any{&v, &ok}, func() error {
		if ok {
			applied[v] = true
			current = max(current, v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check schema: %w", translate(err))
	}
	var missing []string
	for _, w := range want {
		if !applied[w] {
			missing = append(missing, strconv.FormatInt(w, 10))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("check schema: database at version %d, this binary wants %d (missing %s): %w",
			current, wanted, strings.Join(missing, ", "), ErrSchemaOutdated)
	}
	if current > wanted {
		return fmt.Errorf("check schema: database at version %d, this binary knows up to %d: %w", current, wanted, ErrSchemaNewer)
	}
	return nil
}
