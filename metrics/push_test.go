package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// pushed is one request the fake Pushgateway received.
type pushed struct {
	method, path, contentType string
	body                      []byte
	user, password            string
	hasAuth                   bool
}

// fakeGateway is an in-process Pushgateway that records requests and answers with status.
type fakeGateway struct {
	url string

	mu     sync.Mutex
	reqs   []pushed
	status int
	answer string
}

func newFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	g := &fakeGateway{status: http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, password, ok := r.BasicAuth()
		g.mu.Lock()
		g.reqs = append(g.reqs, pushed{
			method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
			body: body, user: user, password: password, hasAuth: ok,
		})
		status, answer := g.status, g.answer
		g.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func (g *fakeGateway) answerWith(status int, answer string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status, g.answer = status, answer
}

// only returns the one request the gateway received.
func (g *fakeGateway) only(t *testing.T) pushed {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.reqs) != 1 {
		t.Fatalf("gateway received %d requests, want 1", len(g.reqs))
	}
	return g.reqs[0]
}

// samples parses a text-format body into `name{label="value",...}` -> value, checking that every
// family is a gauge.
func samples(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("body is not the text format: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, mf := range fams {
		if got := mf.GetType().String(); got != "GAUGE" {
			t.Errorf("%s has type %s, want GAUGE", name, got)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func diffSamples(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %s (want %v)", k, want[k])
		} else if g != want[k] {
			t.Errorf("%s = %v, want %v", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s = %v", k, got[k])
		}
	}
}

// newHangingGateway is a gateway that reads a push and never answers.
func newHangingGateway(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client that hung up only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for handlers
	return srv
}

func dur(d time.Duration) *time.Duration { return &d }

var started = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)

func TestPush_PutsToTheCommandsGroupInTextFormat(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	err := Push(t.Context(), gw.url, RunMetrics{RunID: "r1", Command: "sync", Started: started, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	req := gw.only(t)
	if req.method != http.MethodPut {
		t.Errorf("method = %s, want PUT (replace the group)", req.method)
	}
	if want := "/metrics/job/cbarchive/command/sync"; req.path != want {
		t.Errorf("path = %s, want %s", req.path, want)
	}
	if !strings.HasPrefix(req.contentType, "text/plain") {
		t.Errorf("Content-Type = %q, want the text format", req.contentType)
	}
	if req.hasAuth {
		t.Errorf("sent basic auth %q without credentials in the URL", req.user)
	}
}

func TestPush_BodyHasEveryMetricWithItsLabelsAndValues(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	m := RunMetrics{
		RunID: "r2", Command: "sync", Started: started, Duration: 150 * time.Second,
		Domains: []DomainMetrics{
			{
				Domain: "a.example.com", Outcome: "success",
				New: 10, Updated: 2, Unchanged: 30, Rejected: 1, Requests: 7, Retries: 3,
				RetriesByClass: map[string]int64{"retry": 1, "throttle": 2},
				Lag:            dur(90 * time.Minute),
			},
			{Domain: "b.example.com", Outcome: "skipped"},
		},
	}
	if err := Push(t.Context(), gw.url, m); err != nil {
		t.Fatal(err)
	}
	end := float64(started.Add(150 * time.Second).Unix())
	diffSamples(t, samples(t, gw.only(t).body), map[string]float64{
		`cbarchive_run_duration_seconds`:                                      150,
		`cbarchive_run_last_success_timestamp_seconds`:                        end,
		`cbarchive_records_total{domain="a.example.com",outcome="new"}`:       10,
		`cbarchive_records_total{domain="a.example.com",outcome="updated"}`:   2,
		`cbarchive_records_total{domain="a.example.com",outcome="unchanged"}`: 30,
		`cbarchive_records_total{domain="a.example.com",outcome="rejected"}`:  1,
		`cbarchive_records_total{domain="b.example.com",outcome="new"}`:       0,
		`cbarchive_records_total{domain="b.example.com",outcome="updated"}`:   0,
		`cbarchive_records_total{domain="b.example.com",outcome="unchanged"}`: 0,
		`cbarchive_records_total{domain="b.example.com",outcome="rejected"}`:  0,
		`cbarchive_requests_total{domain="a.example.com"}`:                    7,
		`cbarchive_requests_total{domain="b.example.com"}`:                    0,
		`cbarchive_retries_total{class="retry",domain="a.example.com"}`:       1,
		`cbarchive_retries_total{class="throttle",domain="a.example.com"}`:    2,
		`cbarchive_retries_total{class="all",domain="b.example.com"}`:         0,
		`cbarchive_domain_failures{domain="a.example.com"}`:                   0,
		`cbarchive_domain_failures{domain="b.example.com"}`:                   0,
		`cbarchive_domain_lag_seconds{domain="a.example.com"}`:                5400,
		`cbarchive_domains{outcome="success"}`:                                1,
		`cbarchive_domains{outcome="skipped"}`:                                1,
		`cbarchive_domains{outcome="failed"}`:                                 0,
		`cbarchive_domains{outcome="cancelled"}`:                              0,
	})
}

func TestPush_FailedDomainIsOneAndRetriesWithoutClassesAreAll(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	m := RunMetrics{
		RunID: "r3", Command: "backfill", Started: started, Duration: time.Second,
		Domains: []DomainMetrics{{Domain: "a.example.com", Outcome: "failed", Requests: 4, Retries: 3}},
	}
	if err := Push(t.Context(), gw.url, m); err != nil {
		t.Fatal(err)
	}
	req := gw.only(t)
	if want := "/metrics/job/cbarchive/command/backfill"; req.path != want {
		t.Errorf("path = %s, want %s", req.path, want)
	}
	got := samples(t, req.body)
	for k, want := range map[string]float64{
		`cbarchive_domain_failures{domain="a.example.com"}`:                  1,
		`cbarchive_retries_total{class="all",domain="a.example.com"}`:        3,
		`cbarchive_domains{outcome="failed"}`:                                1,
		`cbarchive_records_total{domain="a.example.com",outcome="new"}`:      0,
		`cbarchive_requests_total{domain="a.example.com"}`:                   4,
		`cbarchive_run_duration_seconds`:                                     1,
		`cbarchive_domains{outcome="success"}`:                               0,
		`cbarchive_records_total{domain="a.example.com",outcome="rejected"}`: 0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got[`cbarchive_domain_lag_seconds{domain="a.example.com"}`]; ok {
		t.Error("lag pushed for a domain whose lag is unknown")
	}
}

func TestPush_LastSuccessOnlyWhenTheRunCaughtUp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcomes []string
		want     bool
	}{
		{name: "all succeeded", outcomes: []string{"success", "success"}, want: true},
		{name: "a skipped domain is no failure", outcomes: []string{"success", "skipped"}, want: true},
		{name: "no domains", outcomes: nil, want: true},
		{name: "one failed", outcomes: []string{"success", "failed"}, want: false},
		{name: "one cancelled by a signal", outcomes: []string{"success", "cancelled"}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			m := RunMetrics{RunID: "r4", Command: "sync", Started: started, Duration: time.Minute}
			for i, o := range tt.outcomes {
				m.Domains = append(m.Domains, DomainMetrics{Domain: fmt.Sprintf("d%d", i), Outcome: o})
			}
			if err := Push(t.Context(), gw.url, m); err != nil {
				t.Fatal(err)
			}
			v, ok := samples(t, gw.only(t).body)["cbarchive_run_last_success_timestamp_seconds"]
			if ok != tt.want {
				t.Fatalf("last success pushed = %v, want %v", ok, tt.want)
			}
			if want := float64(started.Add(time.Minute).Unix()); ok && v != want {
				t.Errorf("last success = %v, want the run's end %v", v, want)
			}
		})
	}
}

func TestPush_ZeroStartedStampsLastSuccessWithNow(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	before := time.Now()
	if err := Push(t.Context(), gw.url, RunMetrics{Command: "verify"}); err != nil {
		t.Fatal(err)
	}
	v := samples(t, gw.only(t).body)["cbarchive_run_last_success_timestamp_seconds"]
	if v < float64(before.Unix()) || v > float64(time.Now().Unix()+1) {
		t.Errorf("last success = %v, want about now (%d)", v, before.Unix())
	}
}

func TestPush_DuplicateDomainsAreSummedAndInvalidUTF8DoesNotPanic(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	m := RunMetrics{Command: "sync", Started: started, Domains: []DomainMetrics{
		{Domain: "a", Outcome: "failed", New: 1, Requests: 2},
		{Domain: "a", Outcome: "success", New: 3, Requests: 4},
		{Domain: "bad\xff", Outcome: "success", RetriesByClass: map[string]int64{"x\xfe": 1}},
	}}
	if err := Push(t.Context(), gw.url, m); err != nil {
		t.Fatal(err)
	}
	got := samples(t, gw.only(t).body)
	for k, want := range map[string]float64{
		`cbarchive_records_total{domain="a",outcome="new"}`:               4,
		`cbarchive_requests_total{domain="a"}`:                            6,
		`cbarchive_domain_failures{domain="a"}`:                           1,
		"cbarchive_retries_total{class=\"x\uFFFD\",domain=\"bad\uFFFD\"}": 1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
}

func TestPush_SendsURLCredentialsAsBasicAuthNotInThePath(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	url := strings.Replace(gw.url, "http://", "http://pusher:s3cret%40x@", 1)
	if err := Push(t.Context(), url, RunMetrics{Command: "sync"}); err != nil {
		t.Fatal(err)
	}
	req := gw.only(t)
	if !req.hasAuth || req.user != "pusher" || req.password != "s3cret@x" {
		t.Errorf("basic auth = %q:%q (set %v), want pusher:s3cret@x", req.user, req.password, req.hasAuth)
	}
	if want := "/metrics/job/cbarchive/command/sync"; req.path != want {
		t.Errorf("path = %s, want %s", req.path, want)
	}
}

func TestPush_GatewayErrorNamesTheURLTheStatusAndWhatToCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		answer   string
		wantHint string
	}{
		{name: "server error", status: 500, answer: "storage full\n", wantHint: "health"},
		{name: "bad credentials", status: 401, answer: "unauthorized", wantHint: "user and password"},
		{name: "wrong path", status: 404, answer: "not found", wantHint: "base URL"},
		{name: "inconsistent metrics", status: 400, answer: "pushed metrics are invalid", wantHint: "help text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw := newFakeGateway(t)
			gw.answerWith(tt.status, tt.answer)

			err := Push(t.Context(), gw.url, RunMetrics{RunID: "r5", Command: "sync"})
			var pe *PushError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PushError", err)
			}
			if pe.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", pe.StatusCode, tt.status)
			}
			msg := err.Error()
			for _, want := range []string{gw.url, fmt.Sprint(tt.status), strings.TrimSpace(tt.answer), "run r5", tt.wantHint} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestPush_LongErrorAnswerIsCut(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)
	gw.answerWith(502, strings.Repeat("<html>", 1000))

	err := Push(t.Context(), gw.url, RunMetrics{Command: "sync"})
	var pe *PushError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *PushError", err)
	}
	if len(pe.Body) > maxErrorBody || len(err.Error()) > 2*maxErrorBody+300 {
		t.Errorf("error is %d bytes (body %d), want the answer cut to %d", len(err.Error()), len(pe.Body), maxErrorBody)
	}
}

func TestPush_GivesUpAtTheContextsDeadline(t *testing.T) {
	t.Parallel()
	srv := newHangingGateway(t)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	// The gateway never answers: Push returns only because the deadline ended it.
	err := Push(ctx, srv.URL, RunMetrics{Command: "sync"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "did not answer in time") {
		t.Errorf("error %q does not name the URL and say it timed out", err)
	}
}

func TestPush_UnreachableGatewayNamesURLAndSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more

	err := Push(t.Context(), url, RunMetrics{Command: "sync"})
	var pe *PushError
	if !errors.As(err, &pe) || pe.StatusCode != 0 {
		t.Fatalf("err = %v, want a *PushError without status", err)
	}
	if !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "reachable") {
		t.Errorf("error %q does not name the URL and say what to check", err)
	}
}

func TestPush_RejectsAnEmptyCommandAndABadURLBeforeSending(t *testing.T) {
	t.Parallel()
	gw := newFakeGateway(t)

	if err := Push(t.Context(), gw.url, RunMetrics{}); err == nil || !strings.Contains(err.Error(), "command is empty") {
		t.Errorf("empty command: err = %v", err)
	}
	if err := Push(t.Context(), "ftp://host", RunMetrics{Command: "sync"}); err == nil || !strings.Contains(err.Error(), `"ftp://host"`) {
		t.Errorf("bad URL: err = %v", err)
	}
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if len(gw.reqs) != 0 {
		t.Errorf("gateway received %d requests, want none", len(gw.reqs))
	}
}

func TestPush_ErrorsNeverShowThePassword(t *testing.T) {
	t.Parallel()
	const secret = "hunter2secret"
	withCreds := func(u string) string { return strings.Replace(u, "http://", "http://pusher:"+secret+"@", 1) }

	failing := newFakeGateway(t)
	failing.answerWith(500, "oops")
	denied := newFakeGateway(t)
	denied.answerWith(401, "bad password")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	hanging := newHangingGateway(t)

	tests := []struct {
		name    string
		url     string
		timeout time.Duration
	}{
		{name: "gateway answers 500", url: withCreds(failing.url)},
		{name: "gateway answers 401", url: withCreds(denied.url)},
		{name: "nothing listens", url: withCreds(closed.URL)},
		{name: "gateway hangs", url: withCreds(hanging.URL), timeout: 100 * time.Millisecond},
		{name: "bad port", url: "http://pusher:" + secret + "@127.0.0.1:99999"},
		{name: "unparsable port", url: "http://pusher:" + secret + "@127.0.0.1:nope"},
		{name: "no scheme", url: "pusher:" + secret + "@127.0.0.1:9091"},
		{name: "wrong scheme", url: "ftp://pusher:" + secret + "@127.0.0.1"},
		{name: "control character", url: "http://pusher:" + secret + "@127.0.0.1/\x7f"},
		{name: "space in host", url: "http://pusher:" + secret + "@127.0 .0.1/"},
		{name: "query", url: "http://pusher:" + secret + "@127.0.0.1:9091/?a=b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := Push(ctx, tt.url, RunMetrics{RunID: "r6", Command: "sync"})
			if err == nil {
				t.Fatal("push succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the password: %v", err)
			}
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), secret) {
					t.Errorf("wrapped error shows the password: %v", e)
				}
			}
			if !strings.Contains(err.Error(), "pusher:xxxxx@") {
				t.Errorf("error %q does not name the URL with the password redacted", err)
			}
		})
	}
}
