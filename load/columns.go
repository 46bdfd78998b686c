package load

import (
	"strings"

	"github.com/cbarchive/cbarchive/transform"
)

// storeTable is the table the archive's rows are stored in; analysts query the view
// callback_records over it (migrations 00050-00052).
const storeTable = "callback_store"

// selectExprs lists "prefix.name::cast" for every column, for an INSERT … SELECT from staged
// text.
func selectExprs(prefix string) string {
	var b strings.Builder
	for i, c := range transform.StoreColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(prefix + c.Name)
		if c.Cast != "" {
			b.WriteString("::" + c.Cast)
		}
	}
	return b.String()
}

// sameContent is a condition: archived row a (callback_store) holds the same record as staged
// row s, compared on the content columns.
func sameContent(a, s string) string {
	var l, r []string
	for _, c := range transform.StoreColumns {
		if !c.Content {
			continue
		}
		l = append(l, a+"."+c.Name)
		e := s + "." + c.Name
		if c.Cast != "" {
			e += "::" + c.Cast
		}
		r = append(r, e)
	}
	return "(" + strings.Join(l, ", ") + ") IS NOT DISTINCT FROM (" + strings.Join(r, ", ") + ")"
}

// setList is "name = excluded.name, …" over the columns of cols for which keep is true.
func setList(keep func(transform.StoreColumn) bool) string {
	var parts []string
	for _, c := range transform.StoreColumns {
		if keep(c) {
			parts = append(parts, c.Name+" = excluded."+c.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// stagingDefinition is the staging table's column list.
func stagingDefinition() string {
	var parts []string
	for _, c := range transform.StoreColumns {
		parts = append(parts, c.Name+" "+c.Staged)
	}
	return strings.Join(append(parts, "content_hash bytea", "ordinal integer"), ", ")
}
