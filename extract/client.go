package extract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/volcengine/volc-sdk-golang/base"
	live "github.com/volcengine/volc-sdk-golang/service/live/v20230101"
	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/callback"
)

// API action names.
const (
	ActionDescribe    = "DescribeLiveCallbackData"
	ActionListDomains = "ListDomainDetail"
)

// ClientConfig configures a Client. Zero values take the defaults named on each field.
type ClientConfig struct {
	Endpoint  string        // scheme://host[:port]; default https://live.volcengineapi.com
	Region    string        // signing region; default cn-north-1
	AccessKey string        // required
	SecretKey string        // required; never logged
	Timeout   time.Duration // per request; default 30s
	// MaxAttempts is the per-request attempt budget for retryable errors; default 8.
	MaxAttempts int
	// NotFoundAttempts bounds attempts on ResourceNotFound; default 4.
	NotFoundAttempts int
	// BackoffBase and BackoffCap shape exponential backoff with full jitter; defaults 200ms, 10s.
	BackoffBase, BackoffCap time.Duration
	Limiter                 *Limiter    // required: the process-wide gate
	Logger                  *zap.Logger // default: no logs
	// Transport sends the signed requests; default: an http.Transport of its own. Tests wrap
	// one to observe when each request leaves.
	Transport http.RoundTripper
}

// Client calls the Live API through the official SDK's signer and transport, and applies the
// project's error policy: every answer is checked, HTTP 200 included, and classified.
type Client struct {
	sdk *live.Live
	cfg ClientConfig
	log *zap.Logger

	first atomic.Int64 // unix nanos of the first request sent
	last  atomic.Int64 // unix nanos of the latest request sent
}

// Span returns when the first and the latest request were sent (zero when none was).
func (c *Client) Span() (first, last time.Time) {
	if f := c.first.Load(); f != 0 {
		first = time.Unix(0, f)
	}
	if l := c.last.Load(); l != 0 {
		last = time.Unix(0, l)
	}
	return first, last
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://live.volcengineapi.com"
	}
	if cfg.Region == "" {
		cfg.Region = "cn-north-1"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.NotFoundAttempts <= 0 {
		cfg.NotFoundAttempts = 4
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 200 * time.Millisecond
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = 10 * time.Second
	}
	if cfg.Limiter == nil {
		return nil, errors.New("extract: ClientConfig.Limiter is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q is not scheme://host[:port] with scheme http or https", cfg.Endpoint)
	}

	info, ok := live.ServiceInfoMap["cn-north-1"]
	if !ok {
		return nil, errors.New("extract: the SDK has no service info for cn-north-1")
	}
	sdk := &live.Live{Client: base.NewClient(&info, live.ApiListInfo)}
	sdk.SetScheme(u.Scheme)
	sdk.SetHost(u.Host)
	sdk.SetAccessKey(cfg.AccessKey)
	sdk.SetSecretKey(cfg.SecretKey)
	sdk.ServiceInfo.Credentials.Region = cfg.Region
	sdk.SetTimeout(cfg.Timeout)
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			ForceAttemptHTTP2:   true,
		}
	}
	sdk.Client.Client = &http.Client{Transport: &sentTracker{base: cfg.Transport}}
	return &Client{sdk: sdk, cfg: cfg, log: cfg.Logger}, nil
}

// Stats is a caller's count of requests and retries.
type Stats struct {
	Requests atomic.Int64
	Retries  atomic.Int64
	// RetriesByClass counts retries by the class of the error that caused them.
	RetriesByClass [ClassFatal + 1]atomic.Int64
}

// RetryClasses returns the retries by class name (classes with none are left out).
func (s *Stats) RetryClasses() map[string]int64 {
	out := map[string]int64{}
	for c := range s.RetriesByClass {
		if n := s.RetriesByClass[c].Load(); n > 0 {
			out[Class(c).String()] = n
		}
	}
	return out
}

type respMeta struct {
	RequestID string `json:"RequestId"`
	Error     *struct {
		CodeN   int    `json:"CodeN"`
		Code    string `json:"Code"`
		Message string `json:"Message"`
	} `json:"Error"`
}

// envelope is an answer: its Result is decoded straight into the caller's type, in the same
// pass as the rest (a page is decoded once, not once as raw bytes and again as records).
type envelope struct {
	ResponseMetadata respMeta `json:"ResponseMetadata"`
	Result           any      `json:"Result"`
}

// result says where an answer's Result goes: fresh returns a new, empty destination (one per
// attempt), valid whether what was decoded there is a usable Result.
type result struct {
	fresh func() any
	valid func() bool
}

// call sends one action with retries and decodes the answer's Result as res says. It returns
// the answer's request id.
func (c *Client) call(ctx context.Context, action string, body any, stats *Stats, res result, logFields ...zap.Field) (string, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("encode %s request: %w", action, err)
	}
	for attempt := 1; ; attempt++ {
		ticket, err := c.cfg.Limiter.Wait(ctx)
		if err != nil {
			return "", err
		}
		now := time.Now().UnixNano()
		c.first.CompareAndSwap(0, now)
		c.last.Store(now)
		if stats != nil {
			stats.Requests.Add(1)
		}
		if attempt > 1 {
			if stats != nil {
				stats.Retries.Add(1)
			}
		}
		reqID, apiErr := c.once(withTicket(ctx, ticket), action, payload, res)
		if apiErr == nil {
			return reqID, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		apiErr.Attempts = attempt
		budget := c.cfg.MaxAttempts
		switch apiErr.Class {
		case ClassFatal:
			return "", apiErr
		case ClassRetryFew:
			budget = c.cfg.NotFoundAttempts
		case ClassThrottle:
			c.cfg.Limiter.Throttled(ticket)
		}
		if attempt >= budget {
			return "", apiErr
		}
		if stats != nil {
			stats.RetriesByClass[apiErr.Class].Add(1)
		}
		wait := c.backoff(attempt)
		c.log.Warn("api request failed, retrying",
			append(logFields, zap.String("action", action), zap.Int("attempt", attempt),
				zap.Int("http_status", apiErr.HTTPStatus), zap.String("code", apiErr.Code),
				zap.String("request_id", apiErr.RequestID), zap.String("class", apiErr.Class.String()),
				zap.Duration("backoff", wait), zap.String("error", apiErr.Error()))...)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

// backoff is exponential with full jitter: uniform in [0, min(cap, base*2^(attempt-1))].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffBase << min(attempt-1, 20)
	if d <= 0 || d > c.cfg.BackoffCap {
		d = c.cfg.BackoffCap
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// once sends one attempt and classifies its answer.
func (c *Client) once(ctx context.Context, action string, payload []byte, res result) (string, *APIError) {
	data, status, err := c.sdk.Client.CtxJson(ctx, action, url.Values{}, string(payload))
	if err != nil && (status == 0 || status == 500) && len(data) == 0 {
		// The SDK reports transport errors (and its own timeouts) as status 500 with no body.
		code := "TransportError"
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			code = "Timeout"
		}
		return "", &APIError{Action: action, Code: code, Class: ClassRetry, Err: redactErr(err)}
	}
	env := envelope{Result: res.fresh()}
	if status < 200 || status > 299 {
		env.Result = nil // an error answer: only its metadata matters
	}
	decErr := json.Unmarshal(data, &env)
	meta := env.ResponseMetadata
	if status < 200 || status > 299 {
		e := &APIError{Action: action, HTTPStatus: status, RequestID: meta.RequestID}
		if meta.Error != nil && meta.Error.Code != "" {
			e.Code, e.CodeN, e.Message = meta.Error.Code, meta.Error.CodeN, meta.Error.Message
		} else {
			e.Message = snippet(data)
		}
		e.Class = classify(status, e.Code)
		return meta.RequestID, e
	}
	if meta.Error != nil && (meta.Error.Code != "" || meta.Error.CodeN != 0) {
		e := &APIError{Action: action, HTTPStatus: status, Code: meta.Error.Code, CodeN: meta.Error.CodeN,
			Message: meta.Error.Message, RequestID: meta.RequestID}
		e.Class = classify(status, e.Code)
		return meta.RequestID, e
	}
	if decErr != nil {
		// Not JSON, cut short, or a Result of the wrong shape: a broken answer, retried.
		return meta.RequestID, &APIError{Action: action, HTTPStatus: status, Code: "MalformedAnswer", RequestID: meta.RequestID,
			Class: ClassRetry, Message: "answer does not decode (" + decErr.Error() + "): " + snippet(data)}
	}
	if env.Result == nil || !res.valid() {
		return meta.RequestID, &APIError{Action: action, HTTPStatus: status, Code: "MissingResult",
			RequestID: meta.RequestID, Class: ClassRetry, Message: "HTTP 200 answer without a usable Result"}
	}
	return meta.RequestID, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// redactErr keeps transport errors short; they never carry credentials (the SDK signs headers,
// and URLs hold no secrets), but they can be long.
func redactErr(err error) error {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return errors.New(s)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// Filter narrows a query; zero values mean "all".
type Filter struct {
	EventTypes []string `json:"event_types,omitempty"`
	Statuses   []string `json:"statuses,omitempty"`
	App        string   `json:"app,omitempty"`
	Stream     string   `json:"stream,omitempty"`
}

// Queried returns the filter a query sends to the API: f without its statuses. Status is not
// part of a record's identity, so a window read for one status would number an identity's
// records wrongly (its ordinals would shift when a record of another status changes upstream)
// and overwrite or duplicate rows. A status-filtered run reads and archives every status of
// its windows; the statuses key its checkpoint only (see Key).
func (f Filter) Queried() Filter {
	f.Statuses = nil
	return f
}

// Key is a canonical text for the filter ("" when empty), used to key checkpoints and locks.
func (f Filter) Key() string {
	if len(f.EventTypes) == 0 && len(f.Statuses) == 0 && f.App == "" && f.Stream == "" {
		return ""
	}
	var parts []string
	if len(f.EventTypes) > 0 {
		parts = append(parts, "event_type="+strings.Join(sortedCopy(f.EventTypes), ","))
	}
	if len(f.Statuses) > 0 {
		parts = append(parts, "status="+strings.Join(sortedCopy(f.Statuses), ","))
	}
	if f.App != "" {
		parts = append(parts, "app="+f.App)
	}
	if f.Stream != "" {
		parts = append(parts, "stream="+f.Stream)
	}
	return strings.Join(parts, ";")
}

// Query is one page request of DescribeLiveCallbackData for one domain (Domain), several
// (Domains, when set), or the whole account (neither).
type Query struct {
	Domain     string
	Domains    []string
	Filter     Filter
	Start, End time.Time
	PageNum    int
	PageSize   int
}

// Page is one answer of DescribeLiveCallbackData.
type Page struct {
	Records    []callback.Record
	TotalCount int
	PageNum    int
	RequestID  string
}

type describeResult struct {
	CallbackInfoList []callback.Record `json:"CallbackInfoList"`
	Pagination       *struct {
		PageNum    int `json:"PageNum"`
		PageSize   int `json:"PageSize"`
		TotalCount int `json:"TotalCount"`
	} `json:"Pagination"`
}

// TimeFormat is how query times are sent: RFC3339 in UTC, second precision.
const TimeFormat = "2006-01-02T15:04:05Z07:00"

// Describe fetches one page.
func (c *Client) Describe(ctx context.Context, q Query, stats *Stats) (Page, error) {
	body := &live.DescribeLiveCallbackDataBody{
		StartTime: q.Start.UTC().Format(TimeFormat),
		EndTime:   q.End.UTC().Format(TimeFormat),
		PageNum:   ptr(int32(q.PageNum)),
		PageSize:  ptr(int32(q.PageSize)),
	}
	if q.Domain != "" {
		body.DomainList = []*string{ptr(q.Domain)}
	}
	for _, d := range q.Domains {
		body.DomainList = append(body.DomainList, ptr(d))
	}
	for _, e := range q.Filter.EventTypes {
		body.CallbackEventType = append(body.CallbackEventType, ptr(e))
	}
	for _, s := range q.Filter.Statuses {
		body.CallbackStatus = append(body.CallbackStatus, ptr(s))
	}
	if q.Filter.App != "" {
		body.App = ptr(q.Filter.App)
	}
	if q.Filter.Stream != "" {
		body.Stream = ptr(q.Filter.Stream)
	}
	fields := []zap.Field{zap.String("domain", q.Domain), zap.Time("window_start", q.Start),
		zap.Time("window_end", q.End), zap.Int("page", q.PageNum)}
	var res describeResult
	reqID, err := c.call(ctx, ActionDescribe, body, stats, result{
		fresh: func() any { res = describeResult{}; return &res },
		valid: func() bool { return res.Pagination != nil },
	}, fields...)
	if err != nil {
		return Page{}, err
	}
	return Page{Records: res.CallbackInfoList, TotalCount: res.Pagination.TotalCount, PageNum: q.PageNum, RequestID: reqID}, nil
}

// ListDomains returns every domain of the account (ListDomainDetail, paginated).
func (c *Client) ListDomains(ctx context.Context, stats *Stats) ([]string, error) {
	const size = 1000
	var out []string
	seen := map[string]bool{}
	for page := int32(1); page <= 1000; page++ {
		var res struct {
			Total      *int `json:"Total"`
			DomainList []struct {
				Domain string `json:"Domain"`
			} `json:"DomainList"`
		}
		_, err := c.call(ctx, ActionListDomains, &live.ListDomainDetailBody{PageNum: page, PageSize: size}, stats, result{
			fresh: func() any { res.Total, res.DomainList = nil, nil; return &res },
			valid: func() bool { return res.Total != nil },
		})
		if err != nil {
			return nil, err
		}
		for _, d := range res.DomainList {
			if d.Domain != "" && !seen[d.Domain] {
				seen[d.Domain] = true
				out = append(out, d.Domain)
			}
		}
		if len(res.DomainList) < size || int(page)*size >= *res.Total {
			break
		}
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
