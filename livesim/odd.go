package livesim

import (
	"strings"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// OddRecords returns the odd dataset for the normalization end-to-end test: records of
// domain at distinct seconds from at onwards (at, at+1s, ...), each exercising one thing a
// normalizer must survive. Add them with Sim.Add in this order: the "not-a-time" record is
// then served at its preceding neighbour's time.
func OddRecords(domain string, at time.Time) []callback.Record {
	at = at.Truncate(time.Second)
	i := 0
	next := func() time.Time {
		t := at.Add(time.Duration(i) * time.Second)
		i++
		return t
	}
	base := func(t time.Time, event string) callback.Record {
		return callback.Record{
			Domain:                 domain,
			App:                    "odd",
			Stream:                 "odd_stream",
			CallbackTime:           t.In(cst).Format(callbackTimeLayout),
			CallbackEventType:      event,
			CallbackMethod:         "post",
			CallbackAddress:        "http://hooks.example.com/" + domain + "/odd",
			CallbackStatus:         "success",
			CallbackBody:           `{"event":"` + event + `","note":"odd"}`,
			CallbackResponseCode:   "200",
			CallbackResponseHeader: "Content-Type: application/json; charset=utf-8\r\nContent-Length: 10",
			CallbackResponseBody:   `{"code":0}`,
			CallbackResponseTime:   t.Add(42 * time.Millisecond).In(cst).Format(responseTimeLayout),
		}
	}
	var out []callback.Record
	add := func(change func(r *callback.Record)) {
		r := base(next(), "push_start")
		change(&r)
		out = append(out, r)
	}

	// A NUL character inside CallbackBody (raw, so the body is not valid JSON) and inside
	// CallbackResponseBody.
	add(func(r *callback.Record) {
		r.CallbackBody = `{"event":"push_start","tag":"a` + "\x00" + `b"}`
		r.CallbackResponseBody = "ok\x00done"
		r.CallbackResponseHeader = "Content-Type: text/plain\r\nContent-Length: 7"
	})
	// A body that is valid JSON whose decoded text holds NUL (the escape \u0000): JSON, but
	// PostgreSQL's jsonb cannot hold it.
	add(func(r *callback.Record) {
		r.CallbackBody = `{"event":"push_start","tag":"a\u0000b"}`
		r.CallbackResponseBody = `{"code":0,"msg":"\u0000"}`
	})
	// A 2 MB response body (JSON).
	add(func(r *callback.Record) {
		r.CallbackEventType = "record_event"
		r.CallbackResponseBody = `{"data":"` + strings.Repeat("x", 2<<20) + `"}`
		r.CallbackResponseHeader = "Content-Type: application/json\r\nContent-Length: 2097163"
	})
	// Non-JSON bodies: a form-encoded request body and an HTML response body.
	add(func(r *callback.Record) {
		r.CallbackBody = "event=push_start&app=odd&stream=odd_stream"
		r.CallbackResponseBody = "<html><body>OK</body></html>"
		r.CallbackResponseHeader = "Content-Type: text/html\r\nContent-Length: 28"
	})
	// An empty CallbackResponseTime.
	add(func(r *callback.Record) { r.CallbackResponseTime = "" })
	// Response codes: empty, padded with spaces, not a number.
	add(func(r *callback.Record) { r.CallbackResponseCode = "" })
	add(func(r *callback.Record) { r.CallbackResponseCode = " 200 " })
	add(func(r *callback.Record) { r.CallbackResponseCode = "abc" })
	// A header block separated by "\n" instead of "\r\n".
	add(func(r *callback.Record) {
		r.CallbackResponseHeader = "Content-Type: application/json\nContent-Length: 11\nX-Trace: abc"
	})
	// A status line only.
	add(func(r *callback.Record) { r.CallbackResponseHeader = "HTTP/1.1 200 OK" })
	// Repeated header names (joined with ", " by the normalizer), after a status line.
	add(func(r *callback.Record) {
		r.CallbackResponseHeader = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: text/plain"
	})
	// An event type the documentation does not list.
	add(func(r *callback.Record) {
		r.CallbackEventType = "stream_transcode_event"
		r.CallbackBody = `{"event":"stream_transcode_event","template":"hd"}`
	})
	// A status the documentation does not list.
	add(func(r *callback.Record) {
		r.CallbackStatus = "timeout"
		r.CallbackResponseCode = ""
		r.CallbackResponseHeader = ""
		r.CallbackResponseBody = ""
		r.CallbackErrorCode = "request timeout after 3s"
		r.CallbackErrorMessage = "CallbackTimeout"
	})
	// CallbackTime in UTC with "Z".
	add(func(r *callback.Record) {
		t, _ := parseCallbackTime(r.CallbackTime)
		r.CallbackTime = t.UTC().Format(time.RFC3339)
	})
	// CallbackTime at offset -05:00.
	add(func(r *callback.Record) {
		t, _ := parseCallbackTime(r.CallbackTime)
		r.CallbackTime = t.In(time.FixedZone("", -5*3600)).Format(time.RFC3339)
	})
	// CallbackTime with fractional seconds (.250).
	add(func(r *callback.Record) {
		t, _ := parseCallbackTime(r.CallbackTime)
		r.CallbackTime = t.Add(250 * time.Millisecond).In(cst).Format(time.RFC3339Nano)
	})
	// A CallbackTime that is not a time: Sim.Add serves it at its preceding neighbour's
	// instant (the record above), so a query covering this dataset returns it; the archive
	// must reject it (callback_rejects), not fail.
	add(func(r *callback.Record) { r.CallbackTime = "not-a-time" })
	// Invalid UTF-8 bytes in the request and response bodies (served raw on the wire).
	add(func(r *callback.Record) {
		r.CallbackBody = "{\"event\":\"push_start\",\"tag\":\"\xff\xfe\"}"
		r.CallbackResponseBody = "ok \xc3\x28"
	})
	// A failure with the error fields the way the documentation's example has them (a
	// sentence in the code, a code-like value in the message).
	add(func(r *callback.Record) {
		r.CallbackStatus = "fail"
		r.CallbackResponseCode = "500"
		r.CallbackResponseHeader = "HTTP/1.1 500 Internal Server Error"
		r.CallbackResponseBody = "Internal Server Error"
		r.CallbackErrorCode = "callback response status code is 500"
		r.CallbackErrorMessage = "CallbackStatusCodeNotOK"
	})
	return out
}
