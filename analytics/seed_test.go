package analytics

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cbarchive/cbarchive/internal/pgtest"
)

// seedRow is one callback of the seed, with only what the analysts' queries read.
type seedRow struct {
	Domain, App, Stream, Event string
	Time                       time.Time
	Address, Status            string
	Code                       *int // response_code
	StatusLine                 *string
	ErrCode, ErrMsg            string
	Latency                    *int64 // ms; nil when there was no response
	RespBody                   string
}

// failed is the guide's definition (cbarchive_failed), written again in Go.
func (r seedRow) failed() bool {
	return r.Status == "fail" || (r.Code != nil && (*r.Code < 200 || *r.Code > 299)) ||
		r.ErrCode != "" || r.ErrMsg != ""
}

var (
	seedDomains = []string{"push.alpha.example", "push.beta.example", "push.gamma.example"}
	seedApps    = []string{"live", "edu"}
	seedStreams = []string{"cam-0", "cam-1", "cam-2"}
	seedDays    = []time.Time{
		time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 11, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 12, 0, 0, 0, 0, time.UTC),
	}
	// The outage: push.beta.example's receivers answer 502 to everything in this hour.
	outageFrom = time.Date(2025, 6, 11, 2, 0, 0, 0, time.UTC)
	outageTo   = outageFrom.Add(time.Hour)
)

func address(domain, event string) string {
	kind := map[string]string{"push_start": "push", "push_end": "push", "snapshot_event": "snapshot", "record_event": "record"}[event]
	return "https://hooks." + domain + "/live/" + kind
}

// seedRows builds the seed deterministically: for each of 18 streams, three sessions a day on
// 2025-06-10..12 (push_start, a snapshot every 10 minutes, a recording, push_end); one session in
// ten loses its push_end; one ends at the very instant it starts. 8 % of callbacks fail at random
// (500, 502, or a timeout with no response), 1 % more are answered 404 with status success, 1 %
// more carry only an error message; push.beta.example fails everything during the outage;
// push.gamma.example's recordings are slow. A few snapshots fall in May and July (other
// partitions).
func seedRows() []seedRow {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []seedRow
	add := func(domain, app, stream, event string, t time.Time) {
		r := seedRow{Domain: domain, App: app, Stream: stream, Event: event, Time: t,
			Address: address(domain, event), Status: "success"}
		code := func(c int, line string) { r.Code = &c; r.StatusLine = &line }
		lat := int64(5 + rng.IntN(796))
		if domain == "push.gamma.example" && event == "record_event" {
			lat += 1500
		}
		r.Latency = &lat
		roll := rng.IntN(100)
		outage := domain == "push.beta.example" && !t.Before(outageFrom) && t.Before(outageTo)
		switch {
		case outage || (roll < 8 && roll%3 == 1):
			r.Status = "fail"
			code(502, "HTTP/1.1 502 Bad Gateway")
			r.ErrCode, r.ErrMsg = "callback response status code is 502", "CallbackStatusCodeNotOK"
			r.RespBody = "<html><body><h1>502 Bad Gateway</h1></body></html>"
		case roll < 8 && roll%3 == 0:
			r.Status = "fail"
			code(500, "HTTP/1.1 500 Internal Server Error")
			r.ErrCode, r.ErrMsg = "callback response status code is 500", "CallbackStatusCodeNotOK"
			r.RespBody = `{"code":500,"message":"internal error"}`
		case roll < 8:
			r.Status = "fail"
			r.Latency = nil
			r.ErrCode, r.ErrMsg = "dial tcp: i/o timeout", "CallbackRequestFailed"
		case roll == 8:
			code(404, "HTTP/1.1 404 Not Found")
			r.RespBody = "404 page not found"
		case roll == 9:
			code(200, "HTTP/1.1 200 OK")
			r.ErrMsg = "CallbackBodyTooLarge"
			r.RespBody = `{"code":0,"message":"ok"}`
		default:
			code(200, "HTTP/1.1 200 OK")
			r.RespBody = `{"code":0,"message":"ok"}`
		}
		rows = append(rows, r)
	}
	for _, d := range seedDomains {
		for _, a := range seedApps {
			for _, s := range seedStreams {
				for _, day := range seedDays {
					for j := range 3 {
						start := day.Add(time.Duration(j)*8*time.Hour + time.Duration(rng.IntN(3600))*time.Second)
						dur := time.Duration(600+rng.IntN(3*3600)) * time.Second
						if d == "push.alpha.example" && a == "edu" && s == "cam-2" && day.Day() == 11 && j == 0 {
							dur = 0 // ends the instant it starts
						}
						lost := rng.IntN(10) == 0
						add(d, a, s, "push_start", start)
						for t := start.Add(time.Minute); t.Before(start.Add(dur)); t = t.Add(10 * time.Minute) {
							add(d, a, s, "snapshot_event", t)
						}
						if dur > 0 {
							add(d, a, s, "record_event", start.Add(dur-30*time.Second))
						}
						if !lost {
							add(d, a, s, "push_end", start.Add(dur))
						}
					}
				}
			}
		}
	}
	for i := range 5 {
		add("push.alpha.example", "live", "cam-0", "snapshot_event", time.Date(2025, 5, 31, 23, 0, i, 0, time.UTC))
		add("push.alpha.example", "live", "cam-0", "snapshot_event", time.Date(2025, 7, 1, 1, 0, i, 0, time.UTC))
	}
	return rows
}

// seedCheckpoints: per domain, the watermark and the outcome of its latest run.
var seedCheckpoints = []struct {
	Domain    string
	Watermark time.Time
	Outcome   string
}{
	{"push.alpha.example", time.Date(2025, 6, 12, 23, 58, 0, 0, time.UTC), "ok"},
	{"push.beta.example", time.Date(2025, 6, 12, 23, 30, 0, 0, time.UTC), "ok"},
	{"push.gamma.example", time.Date(2025, 6, 12, 20, 0, 0, 0, time.UTC), "failed"},
}

// seedGap is the one range sync_gaps holds.
var seedGap = struct {
	Domain   string
	From, To time.Time
	Reason   string
}{"push.alpha.example", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 9, 0, 0, 0, 0, time.UTC), "older than the API's 366-day history"}

// seeded is a migrated database holding the seed, with callback_hourly refreshed.
type seeded struct {
	pool *pgxpool.Pool
	url  string
	rows []seedRow
}

func newSeeded(t *testing.T) seeded {
	t.Helper()
	ctx := context.Background()
	pool, url := pgtest.NewPool(t)
	rows := seedRows()
	for _, m := range []struct{ name, from, to string }{
		{"callback_store_y2025m05", "2025-05-01", "2025-06-01"},
		{"callback_store_y2025m06", "2025-06-01", "2025-07-01"},
		{"callback_store_y2025m07", "2025-07-01", "2025-08-01"},
	} {
		q := fmt.Sprintf(`CREATE TABLE %s PARTITION OF callback_store FOR VALUES FROM ('%s 00:00Z') TO ('%s 00:00Z')`, m.name, m.from, m.to)
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Straight into the table under the view callback_records: the request body is JSON (flags
	// 16: request_body_json is its cast), response_time is callback_time + the latency.
	cols := []string{"domain", "app", "stream", "event_type", "callback_time", "method", "address", "status",
		"request_body", "response_code", "response_status_line", "response_headers", "response_header",
		"response_body", "response_time", "latency_ms", "error_code", "error_message",
		"identity_hash", "ordinal", "flags", "rules_version"}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"callback_store"}, cols, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		body := fmt.Sprintf(`{"event":%q,"domain":%q,"app":%q,"stream":%q,"timestamp":%d}`, r.Event, r.Domain, r.App, r.Stream, r.Time.Unix())
		var respTime *time.Time
		if r.Latency != nil {
			rt := r.Time.Add(time.Duration(*r.Latency) * time.Millisecond)
			respTime = &rt
		}
		id := sha256.Sum256([]byte(body + r.Time.String() + strconv.Itoa(i)))
		header := ""
		if r.StatusLine != nil {
			header = *r.StatusLine
		}
		return []any{r.Domain, r.App, r.Stream, r.Event, r.Time, "post", r.Address, r.Status,
			body, r.Code, r.StatusLine, json.RawMessage(`{}`), header,
			r.RespBody, respTime, r.Latency, r.ErrCode, r.ErrMsg,
			int64(binary.BigEndian.Uint64(id[:8])), 0, int16(16), 1}, nil
	}))
	if err != nil {
		t.Fatalf("seed callback_records: %v", err)
	}
	for i, c := range seedCheckpoints {
		if _, err := pool.Exec(ctx, `INSERT INTO sync_checkpoints (domain, first_start, watermark) VALUES ($1, $2, $3)`,
			c.Domain, c.Watermark.AddDate(0, 0, -3), c.Watermark); err != nil {
			t.Fatal(err)
		}
		for k, outcome := range []string{"ok", c.Outcome} {
			started := c.Watermark.Add(time.Duration(k) * time.Hour)
			if _, err := pool.Exec(ctx, `INSERT INTO sync_runs (run_id, command, domain, started_at, finished_at,
				outcome, window_start, window_end, records_new) VALUES ($1, 'sync', $2, $3, $4, $5, $6, $7, 0)`,
				fmt.Sprintf("run-%d-%d", i, k), c.Domain, started, started.Add(time.Minute), outcome,
				c.Watermark.Add(-time.Hour), c.Watermark); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sync_gaps (domain, gap_start, gap_end, reason, run_id) VALUES ($1, $2, $3, $4, 'run-0-0')`,
		seedGap.Domain, seedGap.From, seedGap.To, seedGap.Reason); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT cbarchive_refresh_analytics(); ANALYZE`); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return seeded{pool: pool, url: url, rows: rows}
}
