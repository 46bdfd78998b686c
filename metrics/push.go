package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
)

// Job is the Pushgateway job of every push; the grouping key is {job="cbarchive", command}.
const Job = "cbarchive"

// DefaultTimeout bounds a push whose context has no deadline, so that an unreachable gateway
// cannot hold a CronJob's pod past its run.
const DefaultTimeout = 10 * time.Second

// Domain outcomes, as package pipeline names them.
const (
	outcomeSuccess   = "success"
	outcomeFailed    = "failed"
	outcomeCancelled = "cancelled"
	outcomeSkipped   = "skipped"
)

// maxErrorBody is how much of a gateway's error answer goes into a PushError.
const maxErrorBody = 512

// RunMetrics is what one run of sync, backfill or verify reports.
type RunMetrics struct {
	// RunID identifies the run in the logs and sync_runs; it is named in errors, never used as
	// a label (one series per run would grow without bound).
	RunID string
	// Command is the grouping key: sync, backfill or verify. Required.
	Command string
	// Started is when the run began. Started+Duration is the run's end, the value of
	// cbarchive_run_last_success_timestamp_seconds; a zero Started means "now" at push time.
	Started time.Time
	// Duration is how long the run took.
	Duration time.Duration
	// Domains is one entry per domain of the run. A domain listed twice has its counts summed.
	Domains []DomainMetrics
}

// DomainMetrics is one domain's part of a run.
type DomainMetrics struct {
	Domain string
	// Outcome is success, failed, cancelled or skipped (package pipeline's Outcome constants).
	Outcome string
	// New, Updated, Unchanged and Rejected are the run's record counts (load.Counts).
	New, Updated, Unchanged, Rejected int64
	// Requests and Retries are the API requests the run sent and how many of them were retries.
	Requests, Retries int64
	// RetriesByClass splits Retries by error class (extract.Class names: "retry", "throttle",
	// "retry_few"). Nil or empty: Retries is reported as class "all".
	RetriesByClass map[string]int64
	// Lag is now minus the domain's watermark after the run; nil when unknown (no series).
	Lag *time.Duration
}

// PushError is a push that did not succeed. Its text names the gateway (password redacted),
// what went wrong and what to check.
type PushError struct {
	URL        string // the Pushgateway URL as given, password redacted
	RunID      string
	Command    string
	StatusCode int    // the gateway's HTTP status; 0 when no answer arrived
	Body       string // the start of the gateway's answer when StatusCode is set
	Err        error  // the push library's or the transport's error
}

func (e *PushError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "push metrics of %s to the Pushgateway at %s: ", runName(e.Command, e.RunID), e.URL)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Body != "" {
			fmt.Fprintf(&b, " %q", e.Body)
		}
	} else {
		b.WriteString(e.Err.Error())
	}
	b.WriteString("; ")
	b.WriteString(e.Hint())
	return b.String()
}

func (e *PushError) Unwrap() error { return e.Err }

// Hint tells the operator what to check.
func (e *PushError) Hint() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return "check the user and password in the Pushgateway URL"
	case e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusMethodNotAllowed:
		return "check the URL's path: give the Pushgateway's base URL (e.g. http://pushgateway:9091), not a /metrics/... path"
	case e.StatusCode == http.StatusBadRequest:
		return "the Pushgateway rejected the metrics, usually because another push used one of the cbarchive_ names with another type or help text: check the Pushgateway's log"
	case e.StatusCode != 0:
		return "check the Pushgateway's health and log; the archive itself is not affected"
	case errors.Is(e.Err, context.DeadlineExceeded):
		return "the Pushgateway did not answer in time: check that it is up and reachable from here (host, port, network policy)"
	case errors.Is(e.Err, context.Canceled):
		return "the push was cancelled before it finished; the next run pushes again"
	default:
		return "check the host and port of the URL and that the Pushgateway is reachable from here"
	}
}

// Push replaces the Pushgateway group {job="cbarchive", command=m.Command} at url with m's
// metrics (an HTTP PUT of the text format). It waits for the gateway at most until ctx's
// deadline, or DefaultTimeout when ctx has none; give it a context that a signal which stopped
// the run has not cancelled (context.WithoutCancel), or a stopped run's metrics are lost.
//
// Basic-auth credentials in url are sent as an Authorization header; errors never contain the
// password. An invalid url is an error from ValidateURL; a failed push is a *PushError.
func Push(ctx context.Context, url string, m RunMetrics) error {
	g, err := parseGateway(url)
	if err != nil {
		return fmt.Errorf("push metrics: %w", err)
	}
	if m.Command == "" {
		return fmt.Errorf("push metrics of %s to the Pushgateway at %s: the command is empty; it is the grouping key: sync, backfill or verify", runName("", m.RunID), g.redacted)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	doer := &statusDoer{client: &http.Client{}}
	p := push.New(g.base, Job).
		Grouping("command", label(m.Command)).
		Format(expfmt.NewFormat(expfmt.TypeTextPlain)).
		Client(doer)
	for _, c := range collectors(m, time.Now()) {
		p = p.Collector(c)
	}
	if g.user != nil {
		password, _ := g.user.Password()
		p = p.BasicAuth(g.user.Username(), password)
	}
	if err := p.PushContext(ctx); err != nil {
		return &PushError{URL: g.redacted, RunID: m.RunID, Command: m.Command, StatusCode: doer.status, Body: doer.body, Err: err}
	}
	return nil
}

// collectors builds the run's metrics; each call makes new ones, registered only in the
// Pusher's own registry.
func collectors(m RunMetrics, now time.Time) []prometheus.Collector {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	vec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	}
	duration := gauge("cbarchive_run_duration_seconds", "How long the last run took.")
	records := vec("cbarchive_records_total", "Records of the last run by what the archive did with them: new, updated, unchanged or rejected (this run's counts, not a running total).", "domain", "outcome")
	requests := vec("cbarchive_requests_total", "API requests the last run sent for the domain (this run's count).", "domain")
	retries := vec("cbarchive_retries_total", "Retried API requests of the last run by error class; class \"all\" when not split (this run's count).", "domain", "class")
	failures := vec("cbarchive_domain_failures", "1 when the domain failed in the last run, else 0.", "domain")
	lag := vec("cbarchive_domain_lag_seconds", "Now minus the domain's watermark after the last run.", "domain")
	domains := vec("cbarchive_domains", "Domains of the last run by outcome.", "outcome")

	duration.Set(m.Duration.Seconds())
	for _, o := range []string{outcomeSuccess, outcomeFailed, outcomeCancelled, outcomeSkipped} {
		domains.WithLabelValues(o).Set(0)
	}
	caughtUp := true
	for _, d := range m.Domains {
		dom := label(d.Domain)
		records.WithLabelValues(dom, "new").Add(float64(d.New))
		records.WithLabelValues(dom, "updated").Add(float64(d.Updated))
		records.WithLabelValues(dom, "unchanged").Add(float64(d.Unchanged))
		records.WithLabelValues(dom, "rejected").Add(float64(d.Rejected))
		requests.WithLabelValues(dom).Add(float64(d.Requests))
		if len(d.RetriesByClass) == 0 {
			retries.WithLabelValues(dom, "all").Add(float64(d.Retries))
		} else {
			for class, n := range d.RetriesByClass {
				retries.WithLabelValues(dom, label(class)).Add(float64(n))
			}
		}
		failed := failures.WithLabelValues(dom)
		if d.Outcome == outcomeFailed {
			failed.Set(1)
		} else {
			failed.Add(0) // creates the series at 0 without clearing a 1 from a duplicate entry
		}
		if d.Lag != nil {
			lag.WithLabelValues(dom).Set(d.Lag.Seconds())
		}
		domains.WithLabelValues(label(d.Outcome)).Inc()
		if d.Outcome == outcomeFailed || d.Outcome == outcomeCancelled {
			caughtUp = false
		}
	}
	out := []prometheus.Collector{duration, records, requests, retries, failures, lag, domains}
	if caughtUp {
		end := m.Started.Add(m.Duration)
		if m.Started.IsZero() {
			end = now
		}
		success := gauge("cbarchive_run_last_success_timestamp_seconds", "Unix time at which the last run that caught every domain up (none failed or cancelled) ended.")
		success.Set(float64(end.UnixNano()) / 1e9)
		out = append(out, success)
	}
	return out
}

// runName names a run in errors: "the sync run 0f3a…".
func runName(command, runID string) string {
	return strings.Join(strings.Fields("the "+command+" run "+runID), " ")
}

// label makes s a valid label value: client_golang panics on invalid UTF-8.
func label(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// statusDoer is the push's HTTP client: it remembers the gateway's status and the start of an
// error answer, which the push library only folds into an error string.
type statusDoer struct {
	client *http.Client
	status int
	body   string
}

func (d *statusDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	if err != nil || resp == nil {
		return resp, err
	}
	d.status = resp.StatusCode
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		start, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		d.body = strings.TrimSpace(strings.ToValidUTF8(string(start), "\uFFFD"))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{bytes.NewReader(start), resp.Body}
	}
	return resp, nil
}
