package load

import (
	"testing"

	"github.com/pressly/goose/v3"
)

func TestMigrationReportsNameGoMigrationsByVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		src  goose.Source
		want string
	}{
		{"a SQL file keeps its name", goose.Source{Type: goose.TypeSQL, Path: "00001_archive.sql", Version: 1}, "00001_archive.sql"},
		{"a Go migration has no file: its version", goose.Source{Type: goose.TypeGo, Version: 51}, "00051_go_migration"},
	} {
		if got := sourceName(&tc.src); got != tc.want {
			t.Errorf("%s: sourceName = %q, want %q", tc.name, got, tc.want)
		}
	}
}
