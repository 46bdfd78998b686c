// Package pipeline runs the archive: for each domain it plans the range to read, takes the
// domain's lock, reads windows page by page through extract, turns records into rows with
// transform, and commits each window's rows with its checkpoint through load.
//
// It holds the orchestration only: no SQL, no HTTP, no normalization rules. cmd/cbarchive
// builds a Pipeline from configuration and calls Sync or Backfill.
package pipeline
