package livesim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	live "github.com/volcengine/volc-sdk-golang/service/live/v20230101"
)

var testNow = time.Date(2025, 3, 18, 12, 0, 0, 0, cst)

func fixedNow() time.Time { return testNow }

type testBundle struct {
	sim    *Sim
	base   string
	client *live.Live
}

// setup starts a simulator with cfg (Now defaults to testNow) and an SDK client for it.
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = fixedNow
	}
	sim, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	base, err := sim.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(sim.Close)
	return &testBundle{sim: sim, base: base, client: newClient(t, base, DefaultAccessKey, DefaultSecretKey)}
}

func newClient(t *testing.T, base, ak, sk string) *live.Live {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c := live.NewInstance()
	c.SetHost(u.Host)
	c.SetScheme(u.Scheme)
	c.SetAccessKey(ak)
	c.SetSecretKey(sk)
	c.SetTimeout(10 * time.Second)
	return c
}

type answerJSON struct {
	ResponseMetadata struct {
		RequestID string `json:"RequestId"`
		Action    string
		Error     *struct {
			CodeN   *int
			Code    string
			Message string
		}
	}
	Result *struct {
		CallbackInfoList []callback.Record
		Pagination       struct{ PageNum, PageSize, TotalCount int }
		Total            int
		DomainList       []struct{ Domain string }
	}
}

type call struct {
	status int
	body   []byte
	err    error // transport or status error from the SDK
	ans    answerJSON
	jsonOK bool
}

func (b *testBundle) do(t *testing.T, action string, body any) call {
	t.Helper()
	return doWith(t, b.client, action, body)
}

func doWith(t *testing.T, c *live.Live, action string, body any) call {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	out, status, err := c.Client.CtxJson(context.Background(), action, url.Values{}, string(raw))
	res := call{status: status, body: out, err: err}
	res.jsonOK = json.Unmarshal(out, &res.ans) == nil
	return res
}

func (c call) code() string {
	if c.ans.ResponseMetadata.Error == nil {
		return ""
	}
	return c.ans.ResponseMetadata.Error.Code
}

type describeBody map[string]any

func window(from, to time.Time) describeBody {
	return describeBody{"StartTime": from.Format(time.RFC3339), "EndTime": to.Format(time.RFC3339)}
}

func (d describeBody) with(kv ...any) describeBody {
	out := describeBody{}
	for k, v := range d {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// fetchAll pages through a query and returns every record served.
func (b *testBundle) fetchAll(t *testing.T, q describeBody, pageSize int) []callback.Record {
	t.Helper()
	var all []callback.Record
	for page := 1; ; page++ {
		c := b.do(t, actionDescribe, q.with("PageNum", page, "PageSize", pageSize))
		if c.status != http.StatusOK || c.ans.Result == nil {
			t.Fatalf("page %d: status %d err %v body %.300s", page, c.status, c.err, c.body)
		}
		all = append(all, c.ans.Result.CallbackInfoList...)
		if page*pageSize >= c.ans.Result.Pagination.TotalCount {
			return all
		}
	}
}

func stripRaw(recs []callback.Record) []callback.Record {
	out := make([]callback.Record, len(recs))
	for i, r := range recs {
		r.Raw = nil
		out[i] = r
	}
	return out
}

func equalRecords(t *testing.T, got, want []callback.Record) {
	t.Helper()
	got = stripRaw(got)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Fields() != want[i].Fields() {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, got[i].Fields(), want[i].Fields())
		}
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RecordsPerDay: 10, DaysBack: 1, ExtraKeys: map[string]string{"AKOTHER": "othersecret"}})
	q := window(testNow.Add(-time.Hour), testNow)
	tests := []struct {
		name       string
		ak, sk     string
		wantStatus int
		wantCode   string
	}{
		{"right key", DefaultAccessKey, DefaultSecretKey, 200, ""},
		{"extra account key", "AKOTHER", "othersecret", 200, ""},
		{"wrong secret", DefaultAccessKey, "nope", 403, CodeSignatureDoesNotMatch},
		{"unknown access key", "AKNOBODY", DefaultSecretKey, 401, CodeInvalidAccessKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := doWith(t, newClient(t, b.base, tt.ak, tt.sk), actionDescribe, q)
			if c.status != tt.wantStatus || c.code() != tt.wantCode {
				t.Fatalf("status %d code %q, want %d %q (body %.300s)", c.status, c.code(), tt.wantStatus, tt.wantCode, c.body)
			}
		})
	}
	t.Run("unsigned request", func(t *testing.T) {
		resp, err := http.Post(b.base+"/?Action=DescribeLiveCallbackData&Version=2023-01-01", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("status %d, want 401", resp.StatusCode)
		}
	})
}

func TestLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RecordsPerDay: 10, DaysBack: 1, RateLimit: -1})
	ok := window(testNow.Add(-time.Hour), testNow)
	tests := []struct {
		name      string
		body      any
		wantCode  string
		wantInMsg string
		stat      func(Stats) int
	}{
		{"missing StartTime", describeBody{"EndTime": testNow.Format(time.RFC3339)}, CodeInvalidParam, "StartTime", nil},
		{"missing EndTime", describeBody{"StartTime": testNow.Format(time.RFC3339)}, CodeInvalidParam, "EndTime", nil},
		{"StartTime not RFC3339", ok.with("StartTime", "2025-03-18 10:00:00"), CodeInvalidParam, "2025-03-18 10:00:00", nil},
		{"EndTime not RFC3339", ok.with("EndTime", "yesterday"), CodeInvalidParam, "yesterday", nil},
		{"End before Start", window(testNow, testNow.Add(-time.Second)), CodeInvalidParam, "before", nil},
		{"span over 31 days", window(testNow.Add(-31*24*time.Hour-time.Second), testNow), CodeInvalidParam, "31 days", func(s Stats) int { return s.SpanViolations }},
		{"history over 366 days", window(testNow.Add(-367*24*time.Hour), testNow.Add(-366*24*time.Hour)), CodeInvalidParam, "366 days", func(s Stats) int { return s.HistoryViolations }},
		{"PageNum 0", ok.with("PageNum", 0), CodeInvalidParam, "PageNum 0", func(s Stats) int { return s.PageNumViolations }},
		{"PageNum 10001", ok.with("PageNum", 10001), CodeInvalidParam, "PageNum 10001", func(s Stats) int { return s.PageNumViolations }},
		{"PageSize 0", ok.with("PageSize", 0), CodeInvalidParam, "PageSize 0", func(s Stats) int { return s.PageSizeViolations }},
		{"PageSize 1001", ok.with("PageSize", 1001), CodeInvalidParam, "PageSize 1001", func(s Stats) int { return s.PageSizeViolations }},
		{"body not JSON", "not an object", CodeBindError, "bind", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.sim.Stats()
			c := b.do(t, actionDescribe, tt.body)
			if c.status != 400 || c.code() != tt.wantCode {
				t.Fatalf("status %d code %q, want 400 %q (body %.300s)", c.status, c.code(), tt.wantCode, c.body)
			}
			if msg := c.ans.ResponseMetadata.Error.Message; !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("message %q does not name %q", msg, tt.wantInMsg)
			}
			if tt.stat != nil {
				if got := tt.stat(b.sim.Stats()) - tt.stat(before); got != 1 {
					t.Errorf("violation counter moved by %d, want 1", got)
				}
			}
		})
	}
	t.Run("limits themselves are allowed", func(t *testing.T) {
		for _, body := range []describeBody{
			window(testNow.Add(-31*24*time.Hour), testNow),
			window(testNow.Add(-366*24*time.Hour), testNow.Add(-365*24*time.Hour)),
			ok.with("PageNum", 10000, "PageSize", 1000),
			ok.with("PageNum", 1, "PageSize", 1),
			window(testNow, testNow),
		} {
			if c := b.do(t, actionDescribe, body); c.status != 200 || c.code() != "" {
				t.Errorf("%v: status %d code %q", body, c.status, c.code())
			}
		}
	})
	t.Run("defaults", func(t *testing.T) {
		c := b.do(t, actionDescribe, ok)
		if p := c.ans.Result.Pagination; p.PageNum != 1 || p.PageSize != 100 {
			t.Fatalf("pagination %+v, want PageNum 1 PageSize 100", p)
		}
	})
}

func TestRateLimitThrottlesAboveLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RecordsPerDay: 10, DaysBack: 1, RateLimit: 5})
	q := window(testNow.Add(-time.Hour), testNow)
	ch := make(chan call, 20)
	for range 20 {
		go func() { ch <- b.do(t, actionDescribe, q) }()
	}
	throttled := 0
	for range 20 {
		c := <-ch
		if c.status == 429 {
			throttled++
			if c.code() != CodeFlowLimit || c.ans.ResponseMetadata.Error.CodeN == nil || *c.ans.ResponseMetadata.Error.CodeN != 100018 {
				t.Errorf("429 answer %.300s, want FlowLimitExceeded CodeN 100018", c.body)
			}
		}
	}
	if throttled == 0 {
		t.Fatal("no request was throttled")
	}
	if got := b.sim.Stats().Throttled; got != throttled {
		t.Errorf("Stats.Throttled = %d, want %d", got, throttled)
	}
	if got := b.sim.MaxInAnySecond(DefaultAccessKey); got <= 5 {
		t.Errorf("MaxInAnySecond = %d, want > 5", got)
	}
	if got := len(b.sim.Requests()); got != 20 {
		t.Errorf("logged %d requests, want 20", got)
	}
}

func TestMaxInAnySecond(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	tests := []struct {
		name  string
		times []time.Time
		want  int
	}{
		{"none", nil, 0},
		{"one", at(0), 1},
		{"window is half-open", at(0, 1000), 1},
		{"sliding, half-open", at(0, 500, 999, 1400, 1500), 3},
		{"sliding", at(0, 500, 999, 1400, 1499), 4},
	}
	for _, tt := range tests {
		if got := maxInAnySecond(tt.times); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestPaginationCoversEveryRecordOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 3, RecordsPerDay: 300, DaysBack: 2, RateLimit: -1})
	from, to := testNow.Add(-40*time.Hour), testNow
	for _, tt := range []struct {
		name   string
		domain string
		size   int
	}{
		{"all domains", "", 97},
		{"one domain", "d2.example.com", 50},
		{"page size 1000", "", 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := window(from, to)
			if tt.domain != "" {
				q = q.with("DomainList", []string{tt.domain})
			}
			want := b.sim.Records(tt.domain, from, to)
			if len(want) < 100 {
				t.Fatalf("only %d records in the window", len(want))
			}
			equalRecords(t, b.fetchAll(t, q, tt.size), want)
		})
	}
	t.Run("two of three domains", func(t *testing.T) {
		q := window(from, to).with("DomainList", []string{"d3.example.com", "d1.example.com"})
		var want []callback.Record
		for _, r := range b.sim.Records("", from, to) {
			if r.Domain != "d2.example.com" {
				want = append(want, r)
			}
		}
		equalRecords(t, b.fetchAll(t, q, 77), want)
	})
	t.Run("page past the end is empty", func(t *testing.T) {
		c := b.do(t, actionDescribe, window(from, to).with("PageNum", 9999, "PageSize", 1000))
		if c.status != 200 || len(c.ans.Result.CallbackInfoList) != 0 || c.ans.Result.Pagination.TotalCount == 0 {
			t.Fatalf("status %d, %d records, total %d", c.status, len(c.ans.Result.CallbackInfoList), c.ans.Result.Pagination.TotalCount)
		}
	})
}

func TestFilters(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 9, RecordsPerDay: 400, DaysBack: 1, RateLimit: -1})
	from, to := testNow.Add(-20*time.Hour), testNow
	all := b.sim.Records("", from, to)
	sample := all[len(all)/2]
	tests := []struct {
		name  string
		extra []any
		keep  func(r callback.Record) bool
	}{
		{"app", []any{"App", sample.App}, func(r callback.Record) bool { return r.App == sample.App }},
		{"stream", []any{"Stream", sample.Stream}, func(r callback.Record) bool { return r.Stream == sample.Stream }},
		{"event types", []any{"CallbackEventType", []string{"push_start", "push_end"}},
			func(r callback.Record) bool {
				return r.CallbackEventType == "push_start" || r.CallbackEventType == "push_end"
			}},
		{"status fail", []any{"CallbackStatus", []string{"fail"}}, func(r callback.Record) bool { return r.CallbackStatus == "fail" }},
		{"domain and status", []any{"DomainList", []string{sample.Domain}, "CallbackStatus", []string{"success"}},
			func(r callback.Record) bool { return r.Domain == sample.Domain && r.CallbackStatus == "success" }},
		{"unknown domain", []any{"DomainList", []string{"nope.example.com"}}, func(callback.Record) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []callback.Record
			for _, r := range all {
				if tt.keep(r) {
					want = append(want, r)
				}
			}
			got := b.fetchAll(t, window(from, to).with(tt.extra...), 200)
			equalRecords(t, got, want)
		})
	}
}

func TestBothEndsInclusive(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EmptyData: true})
	start, end := testNow.Add(-time.Hour), testNow
	mk := func(at time.Time, zone *time.Location) callback.Record {
		return callback.Record{Domain: "d1.example.com", App: "a", Stream: "s", CallbackTime: at.In(zone).Format(time.RFC3339), CallbackEventType: "push_start"}
	}
	b.sim.Add(
		mk(start.Add(-time.Second), cst), mk(start, time.UTC), mk(start.Add(time.Minute), cst),
		mk(end, time.FixedZone("", -5*3600)), mk(end.Add(time.Second), cst),
	)
	c := b.do(t, actionDescribe, window(start, end))
	if got := c.ans.Result.Pagination.TotalCount; got != 3 {
		t.Fatalf("TotalCount %d, want 3 (both ends inclusive, compared as instants): %.500s", got, c.body)
	}
	if got := len(b.sim.Records("", start, end)); got != 3 {
		t.Errorf("Records: %d, want 3", got)
	}
}

func TestFaultClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		class      FaultClass
		wantStatus int
		wantCode   string
		check      func(t *testing.T, c call)
	}{
		{FaultThrottle, 429, CodeFlowLimit, wantCodeN(100018)},
		{FaultInternal, 500, CodeInternal, nil},
		{FaultBadGateway, 502, CodeInternalService, nil},
		{FaultBadResponse, 502, CodeBadResponse, nil},
		{FaultTimeout504, 504, CodeServiceTimeout, nil},
		{FaultNotFound, 404, CodeNotFound, nil},
		{FaultCommonErr, 200, CodeCommonErr, func(t *testing.T, c call) {
			if c.err != nil {
				t.Errorf("the SDK reports an error %v; the point is that it does not", c.err)
			}
			if c.ans.ResponseMetadata.Error.CodeN != nil || c.ans.Result != nil || strings.Contains(string(c.body), "CodeN") {
				t.Errorf("common_err answer %s has a CodeN or a Result", c.body)
			}
		}},
		{FaultTruncated, 200, "", func(t *testing.T, c call) {
			if c.jsonOK || len(c.body) == 0 || !strings.HasPrefix(string(c.body), `{"ResponseMetadata"`) {
				t.Errorf("truncated answer should be the start of a valid answer that fails to parse: %.200s", c.body)
			}
		}},
		{FaultMalformed, 200, "", func(t *testing.T, c call) {
			if c.jsonOK {
				t.Errorf("malformed answer parses as JSON: %.200s", c.body)
			}
		}},
		{FaultNoResult, 200, "", func(t *testing.T, c call) {
			if !c.jsonOK || c.ans.Result != nil || c.ans.ResponseMetadata.Error != nil || c.ans.ResponseMetadata.RequestID == "" {
				t.Errorf("no_result answer %s", c.body)
			}
		}},
		{FaultReset, 500, "", func(t *testing.T, c call) {
			if c.err == nil || len(c.body) != 0 {
				t.Errorf("reset: err %v body %q, want a transport error", c.err, c.body)
			}
		}},
		{FaultSlow, 200, "", func(t *testing.T, c call) {
			if c.ans.Result == nil {
				t.Errorf("slow answer has no Result: %.200s", c.body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.class), func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{RecordsPerDay: 50, DaysBack: 1, Faults: Faults{Rate: 1, Classes: []FaultClass{tt.class}, SlowDelay: 300 * time.Millisecond}})
			began := time.Now()
			c := b.do(t, actionDescribe, window(testNow.Add(-10*time.Hour), testNow))
			if c.status != tt.wantStatus || c.code() != tt.wantCode {
				t.Fatalf("status %d code %q, want %d %q (err %v, body %.300s)", c.status, c.code(), tt.wantStatus, tt.wantCode, c.err, c.body)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
			if tt.class == FaultSlow && time.Since(began) < 300*time.Millisecond {
				t.Errorf("slow answer came after %s", time.Since(began))
			}
			reqs := b.sim.Requests()
			if len(reqs) != 1 || reqs[0].Fault != tt.class || reqs[0].Code != tt.wantCode {
				t.Errorf("log %+v", reqs)
			}
			// ListDomainDetail never gets faults.
			if c := b.do(t, actionListDomains, map[string]int{"PageNum": 1, "PageSize": 10}); c.status != 200 || c.ans.Result == nil {
				t.Errorf("ListDomainDetail: status %d", c.status)
			}
		})
	}
}

func wantCodeN(n int) func(t *testing.T, c call) {
	return func(t *testing.T, c call) {
		if e := c.ans.ResponseMetadata.Error; e == nil || e.CodeN == nil || *e.CodeN != n {
			t.Errorf("answer %.300s, want CodeN %d", c.body, n)
		}
	}
}

func TestSlowFaultRespectsClientTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RecordsPerDay: 5, DaysBack: 1, Faults: Faults{Rate: 1, Classes: []FaultClass{FaultSlow}, SlowDelay: 5 * time.Second}})
	b.client.SetTimeout(200 * time.Millisecond)
	// The answer comes after 5 s: only the client's timeout can end the call with this error.
	c := b.do(t, actionDescribe, window(testNow.Add(-time.Hour), testNow))
	if c.err == nil || !errors.Is(c.err, context.DeadlineExceeded) && !strings.Contains(c.err.Error(), "deadline") {
		t.Fatalf("err %v, want a client timeout", c.err)
	}
}

func TestDriftShiftsOffsets(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 5, RecordsPerDay: 300, DaysBack: 1, RateLimit: -1})
	from, to := testNow.Add(-20*time.Hour), testNow
	q := window(from, to).with("DomainList", []string{"d1.example.com"}, "CallbackStatus", []string{"success"})
	page1 := b.do(t, actionDescribe, q.with("PageNum", 1, "PageSize", 50))
	total1 := page1.ans.Result.Pagination.TotalCount

	b.sim.SetFaults(Faults{Rate: 1, Classes: []FaultClass{FaultDrift}, Seed: 1})
	page2 := b.do(t, actionDescribe, q.with("PageNum", 2, "PageSize", 50))
	b.sim.SetFaults(Faults{})
	if page2.status != 200 || page2.ans.Result == nil {
		t.Fatalf("drift answer: status %d body %.300s", page2.status, page2.body)
	}
	grown := page2.ans.Result.Pagination.TotalCount - total1
	if grown < 1 || grown > 3 {
		t.Fatalf("TotalCount grew by %d, want 1..3", grown)
	}
	// The records that were the last of page 1 now open page 2.
	p1 := stripRaw(page1.ans.Result.CallbackInfoList)
	p2 := stripRaw(page2.ans.Result.CallbackInfoList)
	for i := range grown {
		if p2[i].Fields() != p1[50-grown+i].Fields() {
			t.Fatalf("page 2 record %d is not page 1's record %d: offsets did not shift", i, 50-grown+i)
		}
	}
	// The new records are upstream truth, match the query, and the log names the fault.
	if reqs := b.sim.Requests(); reqs[1].Fault != FaultDrift {
		t.Errorf("log fault %q", reqs[1].Fault)
	}
	after := b.fetchAll(t, q, 50)
	if len(after) != total1+grown {
		t.Errorf("re-read %d records, want %d", len(after), total1+grown)
	}
	t.Run("page 1 is not drifted", func(t *testing.T) {
		b.sim.SetFaults(Faults{Rate: 1, Classes: []FaultClass{FaultDrift}})
		defer b.sim.SetFaults(Faults{})
		c := b.do(t, actionDescribe, q.with("PageNum", 1, "PageSize", 50))
		if c.ans.Result.Pagination.TotalCount != total1+grown {
			t.Errorf("page 1 with drift changed the total")
		}
	})
}

func TestFaultsAreDeterministic(t *testing.T) {
	t.Parallel()
	run := func() []FaultClass {
		b := setup(t, Config{RecordsPerDay: 5, DaysBack: 1, RateLimit: -1,
			Faults: Faults{Rate: 0.5, Seed: 42, Classes: []FaultClass{FaultInternal, FaultNotFound, FaultCommonErr}}})
		for range 30 {
			b.do(t, actionDescribe, window(testNow.Add(-time.Hour), testNow))
		}
		var out []FaultClass
		for _, r := range b.sim.Requests() {
			out = append(out, r.Fault)
		}
		return out
	}
	a, c := run(), run()
	faulted := 0
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("request %d: %q vs %q", i, a[i], c[i])
		}
		if a[i] != "" {
			faulted++
		}
	}
	if faulted < 5 || faulted > 25 {
		t.Errorf("%d of 30 faulted at rate 0.5", faulted)
	}
}

func TestSameSeedSameData(t *testing.T) {
	t.Parallel()
	mk := func(seed int64) []callback.Record {
		s, err := New(Config{Seed: seed, NumDomains: 2, RecordsPerDay: 200, DaysBack: 3, Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		return s.Records("", testNow.Add(-10*24*time.Hour), testNow)
	}
	a, b, c := mk(1), mk(1), mk(2)
	equalRecords(t, a, b)
	if len(a) == len(c) && a[0].Fields() == c[0].Fields() {
		t.Error("different seeds gave the same data")
	}
}

func TestGeneratedData(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Seed: 11, RecordsPerDay: 2000, DaysBack: 7, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	recs := s.Records("", testNow.Add(-8*24*time.Hour), testNow)
	from := testNow.Add(-7 * 24 * time.Hour)
	counts := map[[15]string]int{}
	fails, live := 0, map[string]bool{}
	prev := map[string][15]string{}
	for i, r := range recs {
		at, err := time.Parse(time.RFC3339, r.CallbackTime)
		if err != nil || at.Before(from) || at.After(testNow) {
			t.Fatalf("record %d time %q outside [now-7d, now]", i, r.CallbackTime)
		}
		if !strings.HasSuffix(r.CallbackTime, "+08:00") {
			t.Fatalf("time %q not in +08:00", r.CallbackTime)
		}
		if !json.Valid([]byte(r.CallbackBody)) {
			t.Fatalf("body %q not JSON", r.CallbackBody)
		}
		rt, err := time.Parse(time.RFC3339, r.CallbackResponseTime)
		if d := rt.Sub(at); err != nil || d < 5*time.Millisecond || d > 800*time.Millisecond {
			t.Fatalf("response time %q for %q", r.CallbackResponseTime, r.CallbackTime)
		}
		counts[r.Fields()]++
		if r.CallbackStatus == "fail" {
			fails++
			if r.CallbackErrorCode == "" {
				t.Fatalf("failure without an error code: %+v", r)
			}
		}
		key := r.Domain + "/" + r.App + "/" + r.Stream
		if prev[key] == r.Fields() {
			continue // a duplicated copy
		}
		prev[key] = r.Fields()
		switch r.CallbackEventType {
		case "push_start":
			if live[key] {
				t.Fatalf("%s: push_start while live at %s", key, r.CallbackTime)
			}
			live[key] = true
		case "push_end":
			if !live[key] && at.Sub(from) > 24*time.Hour { // the window's first day may start mid-session
				t.Fatalf("%s: push_end while not live at %s", key, r.CallbackTime)
			}
			live[key] = false
		}
	}
	dups := 0
	for _, n := range counts {
		if n > 1 {
			if n > 3 {
				t.Errorf("a record repeats %d times", n)
			}
			dups++
		}
	}
	if share := float64(fails) / float64(len(recs)); share < 0.07 || share > 0.13 {
		t.Errorf("fail share %.3f, want about 0.10", share)
	}
	if share := float64(dups) / float64(len(counts)); share < 0.002 || share > 0.01 {
		t.Errorf("duplicated share %.4f, want about 0.005", share)
	}
}

// TestBigDatasetsBuildAndServeDeepPages checks big datasets are complete and paged; how fast
// they build is measured by BenchmarkBuild, not asserted here.
func TestBigDatasetsBuildAndServeDeepPages(t *testing.T) {
	if testing.Short() {
		t.Skip("big dataset")
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		min  int
	}{
		{"200k over a week", Config{NumDomains: 4, RecordsPerDay: 7500, DaysBack: 7}, 200000},
		{"100k in one day", Config{NumDomains: 1, RecordsPerDay: 100000, DaysBack: 1}, 100000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, tt.cfg)
			n := len(b.sim.Records("", testNow.Add(-8*24*time.Hour), testNow))
			if n < tt.min {
				t.Fatalf("%d records, want >= %d", n, tt.min)
			}
			c := b.do(t, actionDescribe, window(testNow.Add(-24*time.Hour), testNow).with("PageNum", 25, "PageSize", 1000))
			if c.status != 200 || len(c.ans.Result.CallbackInfoList) != 1000 {
				t.Fatalf("status %d, %d records", c.status, len(c.ans.Result.CallbackInfoList))
			}
		})
	}
}

// BenchmarkBuild measures building a week of 4 domains at 7,500 records a day (210,000
// records): go test -run='^$' -bench=BenchmarkBuild -benchtime=3x ./livesim/
func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		s, err := New(Config{NumDomains: 4, RecordsPerDay: 7500, DaysBack: 7, Now: fixedNow})
		if err != nil {
			b.Fatal(err)
		}
		if n := len(s.Records("", testNow.Add(-8*24*time.Hour), testNow)); n < 200000 {
			b.Fatalf("%d records", n)
		}
	}
}

func TestListDomainDetailPagination(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{NumDomains: 7, RecordsPerDay: 1, DaysBack: 1})
	var got []string
	for page := 1; page <= 3; page++ {
		c := b.do(t, actionListDomains, map[string]int{"PageNum": page, "PageSize": 3})
		if c.status != 200 || c.ans.Result == nil || c.ans.Result.Total != 7 {
			t.Fatalf("page %d: status %d body %.300s", page, c.status, c.body)
		}
		for _, d := range c.ans.Result.DomainList {
			got = append(got, d.Domain)
		}
	}
	if strings.Join(got, ",") != strings.Join(b.sim.Domains(), ",") || len(got) != 7 || got[0] != "live1.example.com" {
		t.Fatalf("domains %v, want %v", got, b.sim.Domains())
	}
	for _, body := range []map[string]int{{"PageNum": 0, "PageSize": 3}, {"PageNum": 1, "PageSize": 1001}, {"PageNum": 1001, "PageSize": 1}} {
		if c := b.do(t, actionListDomains, body); c.status != 400 || c.code() != CodeInvalidParam {
			t.Errorf("%v: status %d code %q", body, c.status, c.code())
		}
	}
}

func TestOddRecordsAreServed(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{EmptyData: true})
	at := testNow.Add(-time.Hour)
	odd := OddRecords("d1.example.com", at)
	b.sim.Add(odd...)
	got := b.fetchAll(t, window(at.Add(-time.Minute), at.Add(time.Minute)), 1000)
	if len(got) != len(odd) {
		t.Fatalf("served %d of %d odd records", len(got), len(odd))
	}
	byTime := map[string]callback.Record{}
	rawInvalid := false
	for _, r := range got {
		byTime[r.CallbackTime] = r
		if strings.Contains(string(r.Raw), "\xff\xfe") {
			rawInvalid = true
		}
	}
	if _, ok := byTime["not-a-time"]; !ok {
		t.Error("the not-a-time record was not served")
	}
	if !rawInvalid {
		t.Error("invalid UTF-8 was not served raw")
	}
	for _, r := range got {
		if strings.Contains(r.CallbackBody, "tag\":\"a\x00b") {
			return
		}
	}
	t.Error("NUL in body did not survive")
}

func TestUpdateWhereChangesResponseSide(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 2, RecordsPerDay: 100, DaysBack: 1})
	n := b.sim.UpdateWhere(func(r *callback.Record) bool { return r.CallbackStatus == "fail" },
		func(r *callback.Record) { r.CallbackStatus, r.CallbackResponseCode = "success", "200" })
	if n == 0 {
		t.Fatal("nothing updated")
	}
	c := b.do(t, actionDescribe, window(testNow.Add(-24*time.Hour), testNow).with("CallbackStatus", []string{"fail"}))
	if c.ans.Result.Pagination.TotalCount != 0 {
		t.Errorf("%d failures left", c.ans.Result.Pagination.TotalCount)
	}
	// Moving a record in time re-sorts it.
	moved := testNow.Add(-90 * time.Minute).Format(time.RFC3339)
	if b.sim.UpdateWhere(func(r *callback.Record) bool {
		return r.CallbackEventType == "push_start" && r.Domain == "d1.example.com"
	},
		func(r *callback.Record) { r.CallbackTime = moved }) == 0 {
		t.Fatal("no push_start")
	}
	recs := b.sim.Records("d1.example.com", testNow.Add(-90*time.Minute), testNow.Add(-90*time.Minute))
	if len(recs) == 0 || recs[0].CallbackTime != moved {
		t.Errorf("moved records not found at their new time")
	}
}

func TestRequestIDsAreUnique(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RecordsPerDay: 1, DaysBack: 1, RateLimit: -1})
	seen := map[string]bool{}
	for i := range 20 {
		c := b.do(t, actionDescribe, window(testNow.Add(-time.Hour), testNow).with("PageNum", i+1))
		id := c.ans.ResponseMetadata.RequestID
		if id == "" || seen[id] {
			t.Fatalf("request id %q empty or repeated", id)
		}
		seen[id] = true
	}
}

func TestTypedSDKCallDecodesAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 1, RecordsPerDay: 100, DaysBack: 1})
	start, end := testNow.Add(-6*time.Hour).Format(time.RFC3339), testNow.Format(time.RFC3339)
	size := int32(10)
	res, err := b.client.DescribeLiveCallbackData(context.Background(), &live.DescribeLiveCallbackDataBody{StartTime: start, EndTime: end, PageSize: &size})
	if err != nil {
		t.Fatal(err)
	}
	if res.Result == nil || len(res.Result.CallbackInfoList) != 10 || res.Result.Pagination.TotalCount < 10 || res.ResponseMetadata.RequestID == "" {
		t.Fatalf("typed answer %+v", res)
	}
	domains, err := b.client.ListDomainDetail(context.Background(), &live.ListDomainDetailBody{PageNum: 1, PageSize: 100})
	if err != nil || domains.Result == nil || domains.Result.Total != 3 || domains.Result.DomainList[0].Domain != "d1.example.com" {
		t.Fatalf("ListDomainDetail: %v %+v", err, domains)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Seed: 1, RecordsPerDay: 200, DaysBack: 1, RateLimit: -1,
		Faults: Faults{Rate: 0.3, Classes: []FaultClass{FaultDrift, FaultInternal}}})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for page := 1; page <= 5; page++ {
				b.do(t, actionDescribe, window(testNow.Add(-10*time.Hour), testNow).with("PageNum", page, "PageSize", 20))
			}
		})
		wg.Go(func() {
			at := testNow.Add(-time.Duration(i+1) * time.Hour)
			b.sim.Add(callback.Record{Domain: "d1.example.com", CallbackTime: at.Format(time.RFC3339)})
			b.sim.UpdateWhere(func(r *callback.Record) bool { return r.CallbackStatus == "fail" },
				func(r *callback.Record) { r.CallbackErrorMessage = "changed" })
			b.sim.SetFaults(Faults{Rate: 0.5, Classes: []FaultClass{FaultDrift}, Seed: int64(i)})
			_ = b.sim.Records("", testNow.Add(-time.Hour*24), testNow)
			_ = b.sim.Stats()
			_ = b.sim.MaxInAnySecond(DefaultAccessKey)
		})
	}
	wg.Wait()
	if got := len(b.sim.Requests()); got != 20 {
		t.Errorf("%d requests logged, want 20", got)
	}
}

func TestEmptyDomainsMeanDefault(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Domains: []string{}, EmptyData: true})
	if err != nil || len(s.Domains()) != 3 {
		t.Fatalf("%v %v", err, s.Domains())
	}
	if _, err := New(Config{Faults: Faults{Rate: 2}}); err == nil {
		t.Error("fault rate 2 accepted")
	}
	if _, err := New(Config{Faults: Faults{Classes: []FaultClass{"boom"}}}); err == nil {
		t.Error("unknown fault class accepted")
	}
}
