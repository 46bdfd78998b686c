package livesim

import (
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// cst is the zone the generated times are written in, as the service does (+08:00).
var cst = time.FixedZone("CST", 8*3600)

const (
	callbackTimeLayout = time.RFC3339                    // 2025-03-18T23:30:52+08:00
	responseTimeLayout = "2006-01-02T15:04:05.000Z07:00" // with milliseconds
	duplicateFraction  = 0.005
)

// domainProfile is what one domain's records are drawn from.
type domainProfile struct {
	domain    string
	apps      []string
	streams   []string // per app: streams[i] belongs to apps[i%len(apps)]
	addresses map[string]string
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func newProfile(seed int64, domain string) *domainProfile {
	r := rand.New(rand.NewPCG(uint64(seed), hashString("profile/"+domain)))
	allApps := []string{"live", "edu", "game", "shop", "news"}
	r.Shuffle(len(allApps), func(i, j int) { allApps[i], allApps[j] = allApps[j], allApps[i] })
	p := &domainProfile{domain: domain, apps: allApps[:2+r.IntN(2)]}
	nStreams := 4 + r.IntN(5)
	for i := range nStreams {
		p.streams = append(p.streams, "room_"+strconv.Itoa(1000+r.IntN(9000))+"_"+strconv.Itoa(i))
	}
	base := "http://hooks.example.com/" + domain
	p.addresses = map[string]string{
		"push_start":     base + "/live/push",
		"push_end":       base + "/live/push",
		"snapshot_event": base + "/live/snapshot",
		"record_event":   base + "/live/record",
	}
	return p
}

// generate returns the deterministic records of every domain, listed or not, from
// now − daysBack days to now, each day (and each day's bursts) drawn from its own PRNG (so a
// day's records do not depend on now).
func generate(cfg Config, now time.Time) ([]callback.Record, []int64) {
	from := now.Add(-time.Duration(cfg.DaysBack) * 24 * time.Hour)
	y, m, d := from.In(cst).Date()
	firstDay := time.Date(y, m, d, 0, 0, 0, 0, cst)
	days := int(now.Sub(firstDay)/(24*time.Hour)) + 1
	capacity := len(cfg.allDomains()) * days * (cfg.RecordsPerDay + cfg.RecordsPerDay/64 + 1 + cfg.BurstSize*cfg.BurstsPerDay)
	out := make([]callback.Record, 0, capacity)
	ats := make([]int64, 0, capacity)
	lo, hi := from.UnixNano(), now.UnixNano()
	keep := func(recs []callback.Record, times []int64) {
		for i := range recs {
			if times[i] < lo || times[i] > hi {
				continue
			}
			out = append(out, recs[i])
			ats = append(ats, times[i])
		}
	}
	for _, domain := range cfg.allDomains() {
		p := newProfile(cfg.Seed, domain)
		for day := firstDay; !day.After(now); day = day.AddDate(0, 0, 1) {
			keep(p.day(cfg.Seed, day, cfg.RecordsPerDay))
			if cfg.BurstSize > 0 {
				keep(p.bursts(cfg.Seed, day, cfg.BurstSize, cfg.BurstsPerDay))
			}
		}
	}
	return out, ats
}

// day generates n records (plus duplicated copies) for the day starting at dayStart.
func (p *domainProfile) day(seed int64, dayStart time.Time, n int) ([]callback.Record, []int64) {
	r := rand.New(rand.NewPCG(uint64(seed)^0x9e3779b97f4a7c15, hashString(p.domain)+uint64(dayStart.Unix())))
	secs := make([]int, n)
	for i := range secs {
		secs[i] = r.IntN(86400)
	}
	slices.Sort(secs)
	live := make([]bool, len(p.streams))
	liveCount := 0
	startedAt := make([]int64, len(p.streams))
	out := make([]callback.Record, 0, n+n/100+4)
	ats := make([]int64, 0, n+n/100+4)
	for i, sec := range secs {
		t := dayStart.Add(time.Duration(sec) * time.Second)
		si := r.IntN(len(p.streams))
		remaining := n - i
		if remaining <= liveCount+1 && liveCount > 0 {
			// The day's last events close every open session, so that push_start and
			// push_end of a stream pair up within the day.
			si = p.nthLive(live, r.IntN(liveCount))
		}
		var event string
		switch {
		case !live[si] && remaining <= liveCount+1:
			// No room to open and close a session: a recording finishing after the push ended.
			event = "record_event"
		case !live[si]:
			event = "push_start"
			live[si], startedAt[si] = true, t.Unix()
			liveCount++
		case remaining == liveCount:
			event = "push_end"
		default:
			switch x := r.IntN(10); {
			case x < 5:
				event = "snapshot_event"
			case x < 7:
				event = "record_event"
			default:
				event = "push_end"
			}
		}
		if event == "push_end" {
			live[si] = false
			liveCount--
		}
		rec := p.record(r, t, si, event, t.Unix()-startedAt[si])
		out = append(out, rec)
		ats = append(ats, t.UnixNano())
		if r.Float64() < duplicateFraction {
			for range 1 + r.IntN(2) {
				out = append(out, rec)
				ats = append(ats, t.UnixNano())
			}
		}
	}
	return out, ats
}

func (p *domainProfile) nthLive(live []bool, k int) int {
	for i, l := range live {
		if l {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return 0
}

func (p *domainProfile) record(r *rand.Rand, t time.Time, si int, event string, liveFor int64) callback.Record {
	app := p.apps[si%len(p.apps)]
	stream := p.streams[si]
	rec := callback.Record{
		Domain:            p.domain,
		App:               app,
		Stream:            stream,
		CallbackTime:      t.Format(callbackTimeLayout),
		CallbackEventType: event,
		CallbackMethod:    "post",
		CallbackAddress:   p.addresses[event],
		CallbackStatus:    "success",
	}
	if r.IntN(20) == 0 {
		rec.CallbackMethod = "get"
	}
	rec.CallbackBody = p.body(r, t, app, stream, event, liveFor)
	rec.CallbackResponseTime = t.Add(time.Duration(5+r.IntN(796)) * time.Millisecond).Format(responseTimeLayout)
	jsonBody := r.IntN(3) > 0
	headerBlock := r.IntN(2) == 0
	if r.IntN(10) == 0 {
		rec.CallbackStatus = "fail"
		switch r.IntN(3) {
		case 0:
			rec.CallbackResponseCode = "500"
			rec.CallbackResponseBody = pick(jsonBody, `{"code":500,"message":"internal error"}`, "Internal Server Error")
			rec.CallbackResponseHeader = pick(headerBlock, headerBlockFor(rec.CallbackResponseBody, jsonBody), "HTTP/1.1 500 Internal Server Error")
			rec.CallbackErrorCode = "callback response status code is 500"
			rec.CallbackErrorMessage = "CallbackStatusCodeNotOK"
		case 1:
			rec.CallbackResponseCode = "502"
			rec.CallbackResponseBody = "<html><body><h1>502 Bad Gateway</h1></body></html>"
			rec.CallbackResponseHeader = pick(headerBlock, "Content-Type: text/html\r\nContent-Length: 50", "HTTP/1.1 502 Bad Gateway")
			rec.CallbackErrorCode = "callback response status code is 502"
			rec.CallbackErrorMessage = "CallbackStatusCodeNotOK"
		default:
			rec.CallbackErrorCode = "dial tcp: i/o timeout"
			rec.CallbackErrorMessage = "CallbackRequestFailed"
		}
		return rec
	}
	rec.CallbackResponseCode = "200"
	rec.CallbackResponseBody = pick(jsonBody, `{"code":0,"message":"ok"}`, "success")
	rec.CallbackResponseHeader = pick(headerBlock, headerBlockFor(rec.CallbackResponseBody, jsonBody), "HTTP/1.1 200 OK")
	return rec
}

func pick(cond bool, a, b string) string {
	if cond {
		return a
	}
	return b
}

func headerBlockFor(body string, isJSON bool) string {
	ct := "text/plain; charset=utf-8"
	if isJSON {
		ct = "application/json; charset=utf-8"
	}
	return "Content-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(len(body))
}

// body is the callback's request body: realistic JSON, built without reflection so that
// hundreds of thousands of records generate quickly.
func (p *domainProfile) body(r *rand.Rand, t time.Time, app, stream, event string, liveFor int64) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	b := make([]byte, 0, 256)
	b = append(b, `{"event":"`...)
	b = append(b, event...)
	b = append(b, `","domain":"`...)
	b = append(b, p.domain...)
	b = append(b, `","app":"`...)
	b = append(b, app...)
	b = append(b, `","stream":"`...)
	b = append(b, stream...)
	b = append(b, `","timestamp":`...)
	b = append(b, ts...)
	switch event {
	case "push_start":
		b = append(b, `,"client_ip":"203.0.113.`...)
		b = strconv.AppendInt(b, int64(1+r.IntN(254)), 10)
		b = append(b, `","params":"token=`...)
		b = strconv.AppendUint(b, r.Uint64()>>20, 36)
		b = append(b, '"')
	case "push_end":
		b = append(b, `,"reason":"`...)
		b = append(b, pick(r.IntN(4) > 0, "client_close", "timeout")...)
		b = append(b, `","duration":`...)
		b = strconv.AppendInt(b, liveFor, 10)
	case "snapshot_event":
		b = append(b, `,"snapshot_url":"https://cdn.example.com/snapshots/`...)
		b = append(b, app+"/"+stream+"/"+ts...)
		b = append(b, `.jpg","width":1280,"height":720`...)
	case "record_event":
		b = append(b, `,"record_url":"https://cdn.example.com/records/`...)
		b = append(b, app+"/"+stream+"/"+ts...)
		b = append(b, `.m3u8","format":"hls","duration":`...)
		b = strconv.AppendInt(b, liveFor, 10)
	}
	b = append(b, `,"nonce":"`...)
	b = strconv.AppendUint(b, r.Uint64(), 16)
	b = append(b, `"}`...)
	return string(b)
}
