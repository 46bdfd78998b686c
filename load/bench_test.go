package load

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cbarchive/cbarchive/callback"
	"github.com/cbarchive/cbarchive/transform"
)

// Windows like a real run: 10,000 rows, staged in pages of 1,000.
const (
	benchWindowRows = 10_000
	benchPageRows   = 1_000
)

// benchRows builds n realistic rows (JSON request body of ~600 bytes, headers, response body)
// by normalizing records, with callback times starting at base, one per 10 ms.
func benchRows(base time.Time, n int) []transform.Row {
	rows := make([]transform.Row, n)
	for i := range rows {
		at := base.Add(time.Duration(i) * 10 * time.Millisecond).UTC()
		resp := at.Add(37 * time.Millisecond)
		stream := fmt.Sprintf("stream-%06d", i%5000)
		body := fmt.Sprintf(`{"event":"publish","app":"live","stream":%q,"domain":"push.example.com",`+
			`"client_ip":"203.0.113.%d","server_ip":"198.51.100.7","timestamp":%d,"param":"token=%x&expire=%d",`+
			`"vhost":"push.example.com","session_id":"%x","codec":{"video":"h264","audio":"aac","width":1920,"height":1080,"fps":30},`+
			`"extra":{"region":"cn-north-1","node":"edge-%03d","tags":["a","b","c"]}}`,
			stream, i%250, at.Unix(), sha256.Sum256([]byte(stream)), at.Unix()+3600, sha256.Sum256([]byte(at.String())), i%100)
		row, err := transform.Normalize(callback.Record{
			Domain: "push.example.com", App: "live", Stream: stream,
			CallbackTime: at.In(cst).Format("2006-01-02T15:04:05.000Z07:00"), CallbackEventType: "publish",
			CallbackMethod: "POST", CallbackAddress: "https://hooks.example.com/live/callback", CallbackStatus: "success",
			CallbackBody: body, CallbackResponseCode: "200",
			CallbackResponseHeader: "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nServer: nginx/1.25.3\r\nX-Request-Id: " +
				fmt.Sprintf("%x", sha256.Sum256([]byte(body)))[:32],
			CallbackResponseBody: `{"code":0,"message":"success"}`,
			CallbackResponseTime: resp.In(cst).Format("2006-01-02T15:04:05.000Z07:00"),
		})
		if err != nil {
			panic(err)
		}
		rows[i] = row
	}
	return rows
}

var cst = time.FixedZone("", 8*3600)

// rowSize is a row's bytes of stored column data.
func rowSize(r *transform.Row) int {
	n := 8 + 8 + 8 + 8 + 8 + 4 + 4 + 2 + 2 // times, identity, ordinal, code, flags, version
	for _, s := range []string{r.Domain, r.App, r.Stream, r.EventType, r.Method, r.Address, r.Status,
		r.RequestBody, r.ResponseHeader, r.ResponseBody, r.ErrorCode, r.ErrorMessage} {
		n += len(s)
	}
	if r.ResponseStatusLine != nil {
		n += len(*r.ResponseStatusLine)
	}
	return n + len(r.ResponseHeaders) + len(r.Originals)
}

// rawColumns are the columns the raw COPY writes: storeColumns plus ordinal.
var rawColumns = append(transform.ColumnNames(transform.StoreColumns), "ordinal")

// rawSource copies rows straight into callback_store (ordinal 0: every row is distinct).
type rawSource struct {
	rows []transform.Row
	i    int
	vals []any
}

func (s *rawSource) Next() bool { s.i++; return s.i < len(s.rows) }
func (s *rawSource) Err() error { return nil }
func (s *rawSource) Values() ([]any, error) {
	s.vals = append(transform.StoreValues(s.vals[:0], &s.rows[s.i]), int32(0))
	return s.vals, nil
}

func benchLoop(b *testing.B, s *Store, windows func(i int) []transform.Row, load func(ctx context.Context, rows []transform.Row) Counts, want func(Counts) bool) {
	b.Helper()
	var total int
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		rows := windows(i)
		start := time.Now()
		c := load(context.Background(), rows)
		elapsed += time.Since(start)
		if !want(c) {
			b.Fatalf("window %d: unexpected counts %+v", i, c)
		}
		total += len(rows)
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkLoad(b *testing.B) {
	sample := benchRows(t0, 100)
	size := 0
	for i := range sample {
		size += rowSize(&sample[i])
	}
	b.Logf("average row: %d bytes of column data", size/len(sample))

	// Every benchmark loads into one month, whose partition exists before timing starts.
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	window := func(i int) []transform.Row {
		return benchRows(base.Add(time.Duration(i)*2*time.Hour), benchWindowRows)
	}
	setup := func(b *testing.B) *Store {
		s, _ := testStore(b)
		if err := s.ensurePartitions(context.Background(), map[month]bool{monthOf(base): true}); err != nil {
			b.Fatal(err)
		}
		return s
	}

	rawLoad := func(b *testing.B, s *Store) func(ctx context.Context, rows []transform.Row) Counts {
		return func(ctx context.Context, rows []transform.Row) Counts {
			err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
				for p := 0; p < len(rows); p += benchPageRows {
					src := &rawSource{rows: rows[p : p+benchPageRows], i: -1}
					if _, err := tx.CopyFrom(ctx, pgx.Identifier{storeTable}, rawColumns, src); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			return Counts{New: int64(len(rows))}
		}
	}

	b.Run("a=raw-copy-new", func(b *testing.B) {
		s := setup(b)
		benchLoop(b, s, window, rawLoad(b, s), func(Counts) bool { return true })
	})

	windowLoad := func(b *testing.B, s *Store) func(ctx context.Context, rows []transform.Row) Counts {
		return func(ctx context.Context, rows []transform.Row) Counts {
			to := rows[len(rows)-1].CallbackTime
			o := WindowOpts{Key: CheckpointKey{Domain: "push.example.com"}, RunID: "bench", Advance: &to, FirstStart: base,
				Start: rows[0].CallbackTime, End: to} // as the pipeline gives them: the window read
			w, err := s.BeginWindow(ctx, o)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Rollback()
			for p := 0; p < len(rows); p += benchPageRows {
				if err := w.AddRows(ctx, rows[p:p+benchPageRows]); err != nil {
					b.Fatal(err)
				}
			}
			c, err := w.Commit(ctx)
			if err != nil {
				b.Fatal(err)
			}
			return c
		}
	}

	b.Run("b=window-new", func(b *testing.B) {
		s := setup(b)
		benchLoop(b, s, window, windowLoad(b, s), func(c Counts) bool { return c.New == benchWindowRows })
	})

	// The machine is shared: (a) and (b) alternate window by window in one loop, into two
	// databases, so that both see the same load and their ratio means something.
	b.Run("a+b=paired", func(b *testing.B) {
		sa, sb := setup(b), setup(b)
		raw, win := rawLoad(b, sa), windowLoad(b, sb)
		var rawT, winT time.Duration
		var n int
		for i := 0; b.Loop(); i++ {
			rows := window(i)
			start := time.Now()
			raw(context.Background(), rows)
			rawT += time.Since(start)
			start = time.Now()
			if c := win(context.Background(), rows); c.New != benchWindowRows {
				b.Fatalf("window %d: %+v", i, c)
			}
			winT += time.Since(start)
			n += len(rows)
		}
		b.ReportMetric(float64(n)/rawT.Seconds(), "raw-rows/s")
		b.ReportMetric(float64(n)/winT.Seconds(), "window-rows/s")
		b.ReportMetric(100*rawT.Seconds()/winT.Seconds(), "window/raw-%")
		b.ReportMetric(0, "ns/op")
	})

	b.Run("c=window-unchanged", func(b *testing.B) {
		s := setup(b)
		load := windowLoad(b, s)
		// An archive of 10 windows; every iteration re-reads one of them.
		archived := make([][]transform.Row, 10)
		for i := range archived {
			archived[i] = window(i)
			load(context.Background(), archived[i])
		}
		if _, err := s.Pool().Exec(context.Background(), `VACUUM ANALYZE callback_store`); err != nil {
			b.Fatal(err)
		}
		benchLoop(b, s, func(i int) []transform.Row { return archived[i%len(archived)] }, load,
			func(c Counts) bool { return c.Unchanged == benchWindowRows })
	})
}
