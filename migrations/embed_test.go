package migrations

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

var name = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

func TestEveryMigrationIsNamedNumberedAndReversible(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(FS, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations embedded (%v)", err)
	}
	seen := map[string]string{}
	for _, f := range files {
		m := name.FindStringSubmatch(f)
		if m == nil {
			t.Errorf("%s: name is not NNNNN_what.sql", f)
			continue
		}
		if other, ok := seen[m[1]]; ok {
			t.Errorf("%s and %s share version %s", f, other, m[1])
		}
		seen[m[1]] = f
		b, err := fs.ReadFile(FS, f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		up, down := strings.Index(text, "-- +goose Up"), strings.Index(text, "-- +goose Down")
		if up < 0 || down < 0 || down < up {
			t.Errorf("%s: needs a '-- +goose Up' section followed by a '-- +goose Down' section", f)
		}
	}
}
