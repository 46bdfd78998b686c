package migrations

// Internals for the external tests (package migrations_test, which may import internal/pgtest).
var (
	LegacyColumns = legacyColumns
	ConvertBatch  = &convertBatch
)
