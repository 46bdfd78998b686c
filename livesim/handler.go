package livesim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cbarchive/cbarchive/callback"
	live "github.com/volcengine/volc-sdk-golang/service/live/v20230101"
)

// Error codes, with the HTTP status and CodeN the simulator answers them with. Only
// FlowLimitExceeded's 100018 is an observed value; the other CodeN values are the sim's own
// (non-zero, so that the SDK treats a 2xx carrying one as an error).
const (
	CodeInvalidParam           = "InvalidParam"
	CodeBindError              = "InvalidParam.BindError"
	CodeNotFound               = "ResourceNotFound"
	CodeInternal               = "InternalError"
	CodeInternalService        = "InternalServiceError"
	CodeBadResponse            = "InternalServiceError.BadResponse"
	CodeServiceTimeout         = "InternalServiceTimeout"
	CodeFlowLimit              = "FlowLimitExceeded"
	CodeCommonErr              = "CommonErr"
	CodeInvalidAccessKey       = "InvalidAccessKey"
	CodeSignatureDoesNotMatch  = "SignatureDoesNotMatch"
	CodeInvalidActionOrVersion = "InvalidActionOrVersion"
	CodeMethodNotAllowed       = "MethodNotAllowed"
)

var codeN = map[string]int{
	CodeInvalidParam:           100004,
	CodeBindError:              100004,
	CodeNotFound:               100007,
	CodeInternal:               100014,
	CodeInternalService:        100015,
	CodeBadResponse:            100015,
	CodeServiceTimeout:         100016,
	CodeFlowLimit:              100018,
	CodeInvalidAccessKey:       100009,
	CodeSignatureDoesNotMatch:  100010,
	CodeInvalidActionOrVersion: 100008,
	CodeMethodNotAllowed:       100002,
}

const (
	actionDescribe    = "DescribeLiveCallbackData"
	actionListDomains = "ListDomainDetail"
	maxBodyBytes      = 1 << 20
)

// answer is what a request gets.
type answer struct {
	status      int
	body        []byte
	contentType string
	reset       bool          // close the connection without answering
	delay       time.Duration // extra wait (FaultSlow)
}

type responseMetadata struct {
	RequestID string    `json:"RequestId"`
	Action    string    `json:"Action"`
	Version   string    `json:"Version"`
	Service   string    `json:"Service"`
	Region    string    `json:"Region"`
	Error     *apiError `json:"Error,omitempty"`
}

type apiError struct {
	CodeN   *int   `json:"CodeN,omitempty"`
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (s *Sim) metadata(action string) responseMetadata {
	return responseMetadata{RequestID: s.requestID(), Action: action, Version: Version, Service: Service, Region: Region}
}

func (s *Sim) errorAnswer(status int, action, code, msg string) answer {
	md := s.metadata(action)
	md.Error = &apiError{Code: code, Message: msg}
	if n, ok := codeN[code]; ok {
		md.Error.CodeN = &n
	}
	b, _ := json.Marshal(struct {
		ResponseMetadata responseMetadata
	}{md})
	return answer{status: status, body: b, contentType: "application/json; charset=utf-8"}
}

func jsonAnswer(v any) answer {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("livesim: marshal answer: %v", err)) // our own types: cannot happen
	}
	return answer{status: http.StatusOK, body: b, contentType: "application/json; charset=utf-8"}
}

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	req := Request{At: time.Now(), Action: r.URL.Query().Get("Action")}
	var count func(*Stats)
	ans := s.handle(r, &req, &count)
	req.HTTPStatus = ans.status
	if ans.reset {
		req.HTTPStatus = 0
	}
	if req.Code == "" && ans.status != http.StatusOK {
		req.Code = codeOf(ans.body)
	}
	s.record(req, count)

	if !sleep(r.Context(), s.latency()+ans.delay) {
		return
	}
	if ans.reset {
		resetConnection(w)
		return
	}
	w.Header().Set("Content-Type", ans.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(ans.body)))
	w.WriteHeader(ans.status)
	_, _ = w.Write(ans.body)
}

func codeOf(body []byte) string {
	var v struct{ ResponseMetadata responseMetadata }
	if json.Unmarshal(body, &v) == nil && v.ResponseMetadata.Error != nil {
		return v.ResponseMetadata.Error.Code
	}
	return ""
}

// sleep waits d or until ctx is done; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// resetConnection hijacks the connection and closes it with a TCP reset, so the client
// sees a transport error and no answer.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func (s *Sim) handle(r *http.Request, req *Request, count *func(*Stats)) answer {
	action := req.Action
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return s.errorAnswer(http.StatusBadRequest, action, CodeBindError, "cannot read the request body: "+err.Error())
	}
	if len(body) > maxBodyBytes {
		return s.errorAnswer(http.StatusBadRequest, action, CodeBindError, "the request body is larger than 1 MiB")
	}
	auth, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return s.errorAnswer(http.StatusUnauthorized, action, CodeInvalidAccessKey, err.Error())
	}
	req.AccessKey = auth.accessKey
	secret, ok := s.keys[auth.accessKey]
	if !ok {
		return s.errorAnswer(http.StatusUnauthorized, action, CodeInvalidAccessKey,
			fmt.Sprintf("the access key %q does not exist", auth.accessKey))
	}
	if err := verifySignature(r, body, auth, auth.accessKey, secret); err != nil {
		return s.errorAnswer(http.StatusForbidden, action, CodeSignatureDoesNotMatch, err.Error())
	}
	if !s.limiter.allow(auth.accessKey, req.At) {
		*count = func(st *Stats) { st.Throttled++ }
		return s.errorAnswer(http.StatusTooManyRequests, action, CodeFlowLimit,
			fmt.Sprintf("flow limit exceeded: more than %d requests per second for access key %q", s.cfg.RateLimit, auth.accessKey))
	}
	if r.Method != http.MethodPost {
		return s.errorAnswer(http.StatusMethodNotAllowed, action, CodeMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed; use POST", r.Method))
	}
	if v := r.URL.Query().Get("Version"); v != Version {
		return s.errorAnswer(http.StatusNotFound, action, CodeInvalidActionOrVersion,
			fmt.Sprintf("version %q is not supported; use %s", v, Version))
	}
	switch action {
	case actionDescribe:
		return s.describe(body, req, count)
	case actionListDomains:
		return s.listDomains(body, req)
	default:
		return s.errorAnswer(http.StatusNotFound, action, CodeInvalidActionOrVersion,
			fmt.Sprintf("action %q does not exist", action))
	}
}

func derefs(ps []*string) []string {
	var out []string
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// describe answers DescribeLiveCallbackData.
func (s *Sim) describe(body []byte, req *Request, count *func(*Stats)) answer {
	const action = actionDescribe
	bad := func(format string, args ...any) answer {
		return s.errorAnswer(http.StatusBadRequest, action, CodeInvalidParam, fmt.Sprintf(format, args...))
	}
	var in live.DescribeLiveCallbackDataBody
	if err := json.Unmarshal(body, &in); err != nil {
		return s.errorAnswer(http.StatusBadRequest, action, CodeBindError, "cannot bind the request body: "+err.Error())
	}
	req.Domains = derefs(in.DomainList)
	req.PageNum, req.PageSize = DefaultPageNum, DefaultPageSize
	if in.PageNum != nil {
		req.PageNum = int(*in.PageNum)
	}
	if in.PageSize != nil {
		req.PageSize = int(*in.PageSize)
	}
	start, errStart := time.Parse(time.RFC3339, in.StartTime)
	if errStart == nil {
		req.StartTime = start
	}
	end, errEnd := time.Parse(time.RFC3339, in.EndTime)
	if errEnd == nil {
		req.EndTime = end
	}
	switch {
	case in.StartTime == "":
		return bad("StartTime is required")
	case errStart != nil:
		return bad("StartTime %q is not an RFC3339 time", in.StartTime)
	case in.EndTime == "":
		return bad("EndTime is required")
	case errEnd != nil:
		return bad("EndTime %q is not an RFC3339 time", in.EndTime)
	case end.Before(start):
		return bad("EndTime %s is before StartTime %s", in.EndTime, in.StartTime)
	case s.cfg.spanRefused(start, end):
		*count = func(st *Stats) { st.SpanViolations++ }
		return bad("the query from StartTime %s to EndTime %s spans more than %d days", in.StartTime, in.EndTime, s.cfg.MaxSpanDays)
	case s.cfg.historyRefused(start, s.cfg.Now()):
		*count = func(st *Stats) { st.HistoryViolations++ }
		return bad("StartTime %s is older than %d days", in.StartTime, s.cfg.MaxHistoryDays)
	case req.PageNum < 1 || req.PageNum > MaxPageNum:
		*count = func(st *Stats) { st.PageNumViolations++ }
		return bad("PageNum %d is out of range [1, %d]", req.PageNum, MaxPageNum)
	case req.PageSize < 1 || req.PageSize > MaxPageSize:
		*count = func(st *Stats) { st.PageSizeViolations++ }
		return bad("PageSize %d is out of range [1, %d]", req.PageSize, MaxPageSize)
	}

	q := query{
		domains:  req.Domains,
		app:      deref(in.App),
		stream:   deref(in.Stream),
		events:   derefs(in.CallbackEventType),
		statuses: derefs(in.CallbackStatus),
		from:     start.UnixNano(),
		to:       end.UnixNano(),
		offset:   (req.PageNum - 1) * req.PageSize,
		limit:    req.PageSize,
	}
	q.order, q.cap, q.rnd = s.arrangement()
	fault, slow := s.drawFault()
	req.Fault = fault
	switch fault {
	case FaultThrottle:
		return s.errorAnswer(http.StatusTooManyRequests, action, CodeFlowLimit, "flow limit exceeded (injected)")
	case FaultInternal:
		return s.errorAnswer(http.StatusInternalServerError, action, CodeInternal, "internal error (injected)")
	case FaultBadGateway:
		return s.errorAnswer(http.StatusBadGateway, action, CodeInternalService, "internal service error (injected)")
	case FaultBadResponse:
		return s.errorAnswer(http.StatusBadGateway, action, CodeBadResponse, "bad response between services (injected)")
	case FaultTimeout504:
		return s.errorAnswer(http.StatusGatewayTimeout, action, CodeServiceTimeout, "internal service timeout (injected)")
	case FaultNotFound:
		return s.errorAnswer(http.StatusNotFound, action, CodeNotFound, "resource not found (injected)")
	case FaultCommonErr:
		a := s.errorAnswer(http.StatusOK, action, CodeCommonErr, "common error (injected)")
		req.Code = CodeCommonErr
		return a
	case FaultReset:
		return answer{status: 0, reset: true}
	case FaultMalformed:
		return answer{status: http.StatusOK, contentType: "text/html",
			body: []byte("<html><head><title>502 Bad Gateway</title></head><body>upstream sent an invalid answer</body></html>")}
	case FaultNoResult:
		return jsonAnswer(struct{ ResponseMetadata responseMetadata }{s.metadata(action)})
	case FaultDrift:
		if req.PageNum >= 2 {
			s.drift(q)
		}
	}
	res := s.store.run(q)
	ans := answer{status: http.StatusOK, contentType: "application/json; charset=utf-8",
		body: s.describeBody(in, req, res)}
	switch fault {
	case FaultSlow:
		ans.delay = slow
	case FaultTruncated:
		ans.body = ans.body[:len(ans.body)/2]
	}
	return ans
}

// describeBody writes the success answer. Records are encoded by appendRecord, which keeps
// invalid UTF-8 bytes as they are (encoding/json would replace them).
func (s *Sim) describeBody(in live.DescribeLiveCallbackDataBody, req *Request, res result) []byte {
	type pagination struct{ PageNum, PageSize, TotalCount int }
	head, _ := json.Marshal(struct {
		StartTime         string
		EndTime           string
		DomainList        []string `json:",omitempty"`
		App               *string  `json:",omitempty"`
		Stream            *string  `json:",omitempty"`
		CallbackEventType []string `json:",omitempty"`
		CallbackStatus    []string `json:",omitempty"`
		Pagination        pagination
	}{in.StartTime, in.EndTime, req.Domains, in.App, in.Stream, derefs(in.CallbackEventType),
		derefs(in.CallbackStatus), pagination{req.PageNum, req.PageSize, res.total}})
	md, _ := json.Marshal(s.metadata(actionDescribe))
	var b bytes.Buffer
	b.Grow(len(head) + len(md) + 64 + len(res.page)*1024)
	b.WriteString(`{"ResponseMetadata":`)
	b.Write(md)
	b.WriteString(`,"Result":{"CallbackInfoList":[`)
	for i := range res.page {
		if i > 0 {
			b.WriteByte(',')
		}
		appendRecord(&b, &res.page[i])
	}
	b.WriteString("],")
	b.Write(head[1:])
	b.WriteByte('}')
	return b.Bytes()
}

// appendRecord writes r as a JSON object with the 15 API fields.
func appendRecord(b *bytes.Buffer, r *callback.Record) {
	f := r.Fields()
	b.Write(callback.AppendFieldsJSON(b.AvailableBuffer(), &f))
}

// drift inserts 1..3 new records matching q into its window, before the records of the
// requested page in serving order (earlier in time; later in time for OrderNewestFirst), so
// that the offsets of later pages shift.
func (s *Sim) drift(q query) {
	res := s.store.run(q)
	first := q.to
	if q.order == OrderNewestFirst {
		first = q.from
	}
	if res.haveFirst {
		first = res.firstAt
	}
	// Second-precision times in [from, first − 1s] (newest first: [first + 1s, to]); the
	// window's edge itself when there is no room.
	loSec := time.Unix(0, q.from).Unix()
	if time.Unix(loSec, 0).UnixNano() < q.from {
		loSec++
	}
	hiSec := time.Unix(0, first).Add(-time.Second).Unix()
	if q.order == OrderNewestFirst {
		loSec, hiSec = time.Unix(0, first).Add(time.Second).Unix(), time.Unix(0, q.to).Unix()
		if hiSec < loSec {
			loSec = hiSec
		}
	}
	domains := q.domains
	if len(domains) == 0 {
		domains = s.cfg.allDomains()
	}
	s.faultMu.Lock()
	r := s.faultRnd
	n := 1 + r.IntN(3)
	recs := make([]callback.Record, 0, n)
	for range n {
		sec := loSec
		if hiSec > loSec {
			sec = loSec + r.Int64N(hiSec-loSec+1)
		}
		t := time.Unix(sec, 0).In(cst)
		p := s.profile(domains[r.IntN(len(domains))])
		event := "snapshot_event"
		if len(q.events) > 0 {
			event = q.events[r.IntN(len(q.events))]
		}
		rec := p.record(r, t, r.IntN(len(p.streams)), event, 0)
		if q.app != "" {
			rec.App = q.app
		}
		if q.stream != "" {
			rec.Stream = q.stream
		}
		if len(q.statuses) > 0 {
			rec.CallbackStatus = q.statuses[r.IntN(len(q.statuses))]
		}
		recs = append(recs, rec)
	}
	s.faultMu.Unlock()
	s.Add(recs...)
}

type domainItem struct {
	CNAME, CertDomain, ChainID string
	CnameCheck                 int
	CreateTime, Domain         string
	DomainCheck                int
	HTTP2                      bool
	ICPCheck                   int
	ProjectName, PushDomain    string
	Region                     string
	Status                     int
	Tags                       []struct{ Category, Key, Value string }
	Type, Vhost                string
}

// listDomains answers ListDomainDetail.
func (s *Sim) listDomains(body []byte, req *Request) answer {
	const action = actionListDomains
	var in live.ListDomainDetailBody
	if err := json.Unmarshal(body, &in); err != nil {
		return s.errorAnswer(http.StatusBadRequest, action, CodeBindError, "cannot bind the request body: "+err.Error())
	}
	req.PageNum, req.PageSize = int(in.PageNum), int(in.PageSize)
	if req.PageNum < 1 || req.PageNum > MaxDomainPage {
		return s.errorAnswer(http.StatusBadRequest, action, CodeInvalidParam,
			fmt.Sprintf("PageNum %d is out of range [1, %d]", req.PageNum, MaxDomainPage))
	}
	if req.PageSize < 1 || req.PageSize > MaxDomainPage {
		return s.errorAnswer(http.StatusBadRequest, action, CodeInvalidParam,
			fmt.Sprintf("PageSize %d is out of range [1, %d]", req.PageSize, MaxDomainPage))
	}
	names := derefs(in.DomainNameList)
	req.Domains = names
	var all []string
	for _, d := range s.cfg.Domains {
		if len(names) == 0 || slices.Contains(names, d) {
			all = append(all, d)
		}
	}
	lo := min((req.PageNum-1)*req.PageSize, len(all))
	hi := min(lo+req.PageSize, len(all))
	items := make([]domainItem, 0, hi-lo)
	for _, d := range all[lo:hi] {
		items = append(items, domainItem{
			CNAME: d + ".volcgslb.com", CnameCheck: 1, CreateTime: "2024-01-02T03:04:05Z", Domain: d,
			HTTP2: true, ICPCheck: 1, ProjectName: "default", Region: "cn", Type: "push", Vhost: d,
			Tags: []struct{ Category, Key, Value string }{},
		})
	}
	return jsonAnswer(struct {
		ResponseMetadata responseMetadata
		Result           struct {
			Total      int
			DomainList []domainItem
		}
	}{ResponseMetadata: s.metadata(action), Result: struct {
		Total      int
		DomainList []domainItem
	}{len(all), items}})
}
