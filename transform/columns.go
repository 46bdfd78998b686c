package transform

import "strings"

// The columns of callback_store (migrations 00050 and 00053) that a Row fills: the loader's
// staging table and merge, migration 00051's conversion, renormalize and the tests are all
// written from this one list.

// StoreColumn is one column of callback_store that a Row fills. This list is the one
// definition of those columns: the staging table, the COPY of a window and of migration 00051,
// the merge's INSERT, its change test and its UPDATE, and renormalize are all written from it.
type StoreColumn struct {
	Name string
	// staged is the column's type in the staging table and in COPY (JSON travels as text).
	Staged string
	// cast turns the staged value into the stored type ("" when they are the same).
	Cast string
	// content marks the columns a record's original is rebuilt from (transform.RecordFromRow):
	// a staged row equal to the archived one in all of them holds the same record, so nothing
	// is written. The key columns and what is derived from content columns are not compared.
	Content bool
	// derived marks the columns normalization derives from the content columns: renormalize
	// rewrites them (with rules_version).
	Derived bool
	Value   func(r *Row) any
	// scan, for the columns a stored record is rebuilt from (key and content), is where a
	// SELECT of the column is read into.
	Scan func(r *Row) any
}

// StoreColumns lists them in the order COPY sends them.
var StoreColumns = []StoreColumn{
	{Name: "domain", Staged: "text", Value: func(r *Row) any { return r.Domain }, Scan: func(r *Row) any { return &r.Domain }},
	{Name: "callback_time", Staged: "timestamptz", Value: func(r *Row) any { return r.CallbackTime }, Scan: func(r *Row) any { return &r.CallbackTime }},
	{Name: "identity_hash", Staged: "bigint", Value: func(r *Row) any { return r.IdentityKey() }},
	{Name: "app", Staged: "text", Content: true, Value: func(r *Row) any { return r.App }, Scan: func(r *Row) any { return &r.App }},
	{Name: "stream", Staged: "text", Content: true, Value: func(r *Row) any { return r.Stream }, Scan: func(r *Row) any { return &r.Stream }},
	{Name: "event_type", Staged: "text", Content: true, Value: func(r *Row) any { return r.EventType }, Scan: func(r *Row) any { return &r.EventType }},
	{Name: "method", Staged: "text", Content: true, Value: func(r *Row) any { return r.Method }, Scan: func(r *Row) any { return &r.Method }},
	{Name: "address", Staged: "text", Content: true, Value: func(r *Row) any { return r.Address }, Scan: func(r *Row) any { return &r.Address }},
	{Name: "status", Staged: "text", Content: true, Value: func(r *Row) any { return r.Status }, Scan: func(r *Row) any { return &r.Status }},
	{Name: "request_body", Staged: "text", Content: true, Value: func(r *Row) any { return r.RequestBody }, Scan: func(r *Row) any { return &r.RequestBody }},
	{Name: "response_code", Staged: "integer", Content: true, Value: func(r *Row) any { return r.ResponseCode }, Scan: func(r *Row) any { return &r.ResponseCode }},
	{Name: "response_header", Staged: "text", Content: true, Value: func(r *Row) any { return r.ResponseHeader }, Scan: func(r *Row) any { return &r.ResponseHeader }},
	{Name: "response_body", Staged: "text", Content: true, Value: func(r *Row) any { return r.ResponseBody }, Scan: func(r *Row) any { return &r.ResponseBody }},
	{Name: "response_time", Staged: "timestamptz", Content: true, Value: func(r *Row) any { return r.ResponseTime }, Scan: func(r *Row) any { return &r.ResponseTime }},
	{Name: "error_code", Staged: "text", Content: true, Value: func(r *Row) any { return r.ErrorCode }, Scan: func(r *Row) any { return &r.ErrorCode }},
	{Name: "error_message", Staged: "text", Content: true, Value: func(r *Row) any { return r.ErrorMessage }, Scan: func(r *Row) any { return &r.ErrorMessage }},
	{Name: "flags", Staged: "smallint", Content: true, Value: func(r *Row) any { return r.Flags }, Scan: func(r *Row) any { return &r.Flags }},
	{Name: "originals", Staged: "text", Cast: "jsonb", Content: true, Value: func(r *Row) any { return nilIfEmpty(r.Originals) }, Scan: func(r *Row) any { return &r.Originals }},
	{Name: "response_status_line", Staged: "text", Derived: true, Value: func(r *Row) any { return r.ResponseStatusLine }},
	{Name: "response_headers", Staged: "text", Cast: "jsonb", Derived: true, Value: func(r *Row) any { return string(r.ResponseHeaders) }},
	{Name: "latency_ms", Staged: "bigint", Derived: true, Value: func(r *Row) any { return r.LatencyMS }},
	{Name: "rules_version", Staged: "smallint", Derived: true, Value: func(r *Row) any { return r.RulesVersion }},
}

// ColumnNames lists the names of cols.
func ColumnNames(cols []StoreColumn) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// StoreValues appends r's values of StoreColumns to dst.
func StoreValues(dst []any, r *Row) []any {
	for _, c := range StoreColumns {
		dst = append(dst, c.Value(r))
	}
	return dst
}

// StoredColumns is the SELECT list of the columns a stored record is rebuilt from, in the
// order of StoredTargets; callback_records (the view) and callback_store both have them.
func StoredColumns() string {
	var cols []string
	for _, c := range StoreColumns {
		switch {
		case c.Scan != nil && c.Cast != "":
			cols = append(cols, c.Name+"::text")
		case c.Scan != nil:
			cols = append(cols, c.Name)
		}
	}
	return strings.Join(cols, ", ")
}

// StoredTargets returns where a row of StoredColumns is scanned into: r's fields, ready for
// RecordFromRow.
func StoredTargets(r *Row) []any {
	var out []any
	for _, c := range StoreColumns {
		if c.Scan != nil {
			out = append(out, c.Scan(r))
		}
	}
	return out
}

func nilIfEmpty(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}
