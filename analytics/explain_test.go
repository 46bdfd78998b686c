package analytics

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// planFacts is what a plan touches: the relations scanned and the indexes used, with partition
// indexes named after the index of callback_records they belong to.
type planFacts struct {
	Relations []string
	Indexes   []string
	Nodes     []string
	Outer     []string // relations of the outer side of the first Nested Loop, if any
}

// findNode returns the first node of type typ, depth first.
func findNode(node map[string]any, typ string) map[string]any {
	if node["Node Type"] == typ {
		return node
	}
	kids, _ := node["Plans"].([]any)
	for _, k := range kids {
		if m, ok := k.(map[string]any); ok {
			if n := findNode(m, typ); n != nil {
				return n
			}
		}
	}
	return nil
}

func walkPlan(node map[string]any, f *planFacts) {
	if t, ok := node["Node Type"].(string); ok {
		f.Nodes = append(f.Nodes, t)
	}
	if r, ok := node["Relation Name"].(string); ok && !slices.Contains(f.Relations, r) {
		f.Relations = append(f.Relations, r)
	}
	if i, ok := node["Index Name"].(string); ok && !slices.Contains(f.Indexes, i) {
		f.Indexes = append(f.Indexes, i)
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				walkPlan(m, f)
			}
		}
	}
}

// explain returns the facts of EXPLAIN (FORMAT JSON) sql, run in tx; partition index names are
// replaced by their parent index's name.
func explain(ctx context.Context, t *testing.T, tx pgx.Tx, sql string) planFacts {
	t.Helper()
	var doc []map[string]any
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql).Scan(&doc); err != nil {
		t.Fatalf("explain: %v\n%s", err, sql)
	}
	var f planFacts
	root := doc[0]["Plan"].(map[string]any)
	walkPlan(root, &f)
	if nl := findNode(root, "Nested Loop"); nl != nil {
		var outer planFacts
		walkPlan(nl["Plans"].([]any)[0].(map[string]any), &outer)
		f.Outer = outer.Relations
	}
	for i, name := range f.Indexes {
		var parent string
		err := tx.QueryRow(ctx, `SELECT inhparent::regclass::text FROM pg_inherits
			WHERE inhrelid = to_regclass($1)`, name).Scan(&parent)
		if err == nil {
			f.Indexes[i] = parent
		}
	}
	raw, _ := json.MarshalIndent(doc, "", " ")
	t.Logf("plan of %s:\n%s", strings.Join(strings.Fields(sql), " "), raw)
	return f
}

// One day's query reads one month's partition and serves its filter from an index. The seed is
// small enough for sequential scans to win, so they are disabled: what must hold is that pruning
// keeps the plan to one partition and that an index can serve the filter; the benchmark
// (cmd/querybench) shows the planner choosing these plans by itself on 10 million rows.
func TestOneDayQueriesPruneToOnePartitionAndUseAnIndex(t *testing.T) {
	t.Parallel()
	s := newSeeded(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		sql       string
		wantIndex string
		outerOnly bool // check the outer side's partitions: the LATERAL side is pruned at run time
	}{
		{
			name: "failures of a day on every domain: the partial index of failures",
			sql: `SELECT domain, address, count(*) FROM callback_failures
				WHERE callback_time >= '2025-06-11 00:00Z' AND callback_time < '2025-06-12 00:00Z' GROUP BY 1, 2`,
			wantIndex: "callback_store_failed",
		},
		{
			name: "the function written in a query: the partial index of failures",
			sql: `SELECT count(*) FROM callback_records
				WHERE callback_time >= '2025-06-11 00:00Z' AND callback_time < '2025-06-12 00:00Z'
				  AND cbarchive_failed(status, response_code, error_code, error_message)`,
			wantIndex: "callback_store_failed",
		},
		{
			name: "one domain's day: the unique key",
			sql: `SELECT status, count(*) FROM callback_records WHERE domain = 'push.beta.example'
				AND callback_time >= '2025-06-11 00:00Z' AND callback_time < '2025-06-12 00:00Z' GROUP BY 1`,
			wantIndex: "callback_store_key",
		},
		{
			name: "one stream's push events of a day: the push index",
			sql: `SELECT callback_time, event_type FROM callback_records
				WHERE domain = 'push.alpha.example' AND app = 'live' AND stream = 'cam-1'
				  AND event_type IN ('push_start', 'push_end')
				  AND callback_time >= '2025-06-11 00:00Z' AND callback_time < '2025-06-12 00:00Z'`,
			wantIndex: "callback_store_push_stream",
		},
		{
			name: "sessions started in a day: pruned outer scan, pairing through the push index",
			sql: `SELECT * FROM push_sessions WHERE domain = 'push.alpha.example'
				AND started_at >= '2025-06-11 00:00Z' AND started_at < '2025-06-12 00:00Z' AND ended_at IS NULL`,
			wantIndex: "callback_store_push_stream",
			outerOnly: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
				t.Fatal(err)
			}
			f := explain(ctx, t, tx, tt.sql)
			if !slices.Contains(f.Indexes, tt.wantIndex) {
				t.Errorf("plan uses indexes %v, want %s", f.Indexes, tt.wantIndex)
			}
			rels := f.Relations
			if tt.outerOnly {
				rels = f.Outer
			}
			var parts []string
			for _, r := range rels {
				if strings.HasPrefix(r, "callback_store_y") {
					parts = append(parts, r)
				}
			}
			if !slices.Equal(parts, []string{"callback_store_y2025m06"}) {
				t.Errorf("plan scans partitions %v, want only callback_store_y2025m06", parts)
			}
		})
	}
}
