// Package migrations holds the database schema as goose SQL migrations, embedded in the binary.
//
// Files are named NNNNN_what.sql and applied in order by `cbarchive migrate up`. Never edit a
// migration that has shipped: add a new one.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
