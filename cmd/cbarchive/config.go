package main

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/internal/redact"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/metrics"
)

// Duration is a Go duration that also takes a d (24h) unit: "366d", "1d12h", "90s". It keeps
// the text it was given, so that messages echo "400d" as written, not "9600h0m0s".
type Duration struct {
	d    time.Duration
	text string
}

// ParseDuration parses Go duration syntax plus the d unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	rest := s
	neg := false
	if strings.HasPrefix(rest, "-") {
		neg, rest = true, rest[1:]
	}
	if i := strings.Index(rest, "d"); i >= 0 {
		days, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use e.g. 36h, 90s, 7d)", s)
		}
		total = time.Duration(days * float64(24*time.Hour))
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use e.g. 36h, 90s, 7d)", s)
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

// UnmarshalText lets kong (and env vars) fill a Duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration{d: v, text: strings.TrimSpace(string(b))}
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return d.d }

// String returns the duration as it was written.
func (d Duration) String() string {
	if d.text != "" {
		return d.text
	}
	return d.d.String()
}

// settingGroups title the settings in help, after each command's own flags.
var settingGroups = []kong.Group{
	{Key: "database", Title: "Database:"},
	{Key: "api", Title: "API:", Description: "Credentials come from the environment only, never from flags: VOLC_ACCESSKEY and VOLC_SECRETKEY (required by sync, backfill and verify; never printed)."},
	{Key: "filters", Title: "Query filters (each filter has its own checkpoint):"},
	{Key: "run", Title: "Run:"},
	{Key: "logs", Title: "Logs and metrics:"},
}

// Settings are the configuration: every one an env var and a flag of the same meaning (the flag
// wins). docs/reference.md lists them with their accepted ranges.
type Settings struct {
	DatabaseURL         string   `name:"database-url" env:"DATABASE_URL" group:"database" help:"PostgreSQL connection string (pgx syntax), e.g. postgres://user:password@host:5432/db."`
	MaxConns            int      `name:"max-conns" env:"CBARCHIVE_MAX_CONNS" group:"database" default:"${max_conns}" help:"Most PostgreSQL connections the process opens at once, all included, 4..1000 (domains run at once: at most this minus 3)."`
	Endpoint            string   `name:"endpoint" env:"CBARCHIVE_ENDPOINT" group:"api" default:"https://live.volcengineapi.com" help:"scheme://host[:port] of the API."`
	Region              string   `name:"region" env:"CBARCHIVE_REGION" group:"api" default:"cn-north-1" help:"Signing region."`
	RateLimit           float64  `name:"rate-limit" env:"CBARCHIVE_RATE_LIMIT" group:"api" default:"30" help:"API requests per second for the whole account (shared by every process of the same access key on the same database), in (0, 1000]."`
	PageSize            int      `name:"page-size" env:"CBARCHIVE_PAGE_SIZE" group:"api" default:"1000" help:"Records per page, 1..1000."`
	RequestTimeout      Duration `name:"request-timeout" env:"CBARCHIVE_REQUEST_TIMEOUT" group:"api" default:"30s" help:"Timeout of one API request, 1s..10m."`
	Domains             []string `name:"domains" env:"CBARCHIVE_DOMAINS" group:"filters" sep:"," help:"Comma-separated domains; empty: every domain ListDomainDetail lists."`
	AllowUnknownDomains bool     `name:"allow-unknown-domains" env:"CBARCHIVE_ALLOW_UNKNOWN_DOMAINS" group:"filters" help:"Archive named domains that ListDomainDetail does not list (e.g. deleted domains whose history is still queryable); without it such a name is refused."`
	EventTypes          []string `name:"event-type" env:"CBARCHIVE_EVENT_TYPES" group:"filters" sep:"," help:"Only these callback event types (repeatable or comma-separated)."`
	Statuses            []string `name:"status" env:"CBARCHIVE_STATUSES" group:"filters" sep:"," help:"Only these callback statuses (repeatable or comma-separated); every status of each window is still archived."`
	App                 string   `name:"app" env:"CBARCHIVE_APP" group:"filters" help:"Only this app."`
	Stream              string   `name:"stream" env:"CBARCHIVE_STREAM" group:"filters" help:"Only this stream."`
	InitialLookback     Duration `name:"initial-lookback" env:"CBARCHIVE_INITIAL_LOOKBACK" group:"run" default:"24h" help:"Where a domain with no checkpoint starts, (0, 366d]."`
	Overlap             Duration `name:"overlap" env:"CBARCHIVE_OVERLAP" group:"run" default:"10m" help:"How far before the watermark each run re-reads, [0, 31d]."`
	Settle              Duration `name:"settle" env:"CBARCHIVE_SETTLE" group:"run" default:"2m" help:"The watermark never passes now - settle, [0, 7d]."`
	LogLevel            string   `name:"log-level" env:"CBARCHIVE_LOG_LEVEL" group:"logs" default:"info" enum:"debug,info,warn,error" help:"debug, info, warn or error."`
	LogFormat           string   `name:"log-format" env:"CBARCHIVE_LOG_FORMAT" group:"logs" default:"auto" enum:"auto,json,console" help:"auto (console on a terminal, JSON otherwise), json or console."`
	Pushgateway         string   `name:"pushgateway" env:"CBARCHIVE_PUSHGATEWAY" group:"logs" help:"Prometheus Pushgateway URL; when set, sync and backfill push their metrics at the end."`

	// Credentials come from the environment only (never flags: they would show in ps).
	AccessKey string `kong:"-"`
	SecretKey string `kong:"-"`
}

// usageError is a configuration error: exit 2, nothing done.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// validateDatabase checks what every command that touches the database needs.
func (s *Settings) validateDatabase() error {
	if strings.TrimSpace(s.DatabaseURL) == "" {
		return usagef("DATABASE_URL (--database-url) is not set: give a PostgreSQL connection string, e.g. postgres://user:password@host:5432/db")
	}
	if _, err := pgxpool.ParseConfig(s.DatabaseURL); err != nil {
		return usagef("DATABASE_URL (--database-url) is not a valid PostgreSQL connection string (%s; the value is not shown, it may hold a password): give e.g. postgres://user:password@host:5432/db",
			urlErrorReason(err, s.DatabaseURL))
	}
	if s.MaxConns < load.MinMaxConns || s.MaxConns > load.MaxMaxConns {
		return usagef("CBARCHIVE_MAX_CONNS (--max-conns) %d is out of range: give %d..%d connections (default %d)", s.MaxConns, load.MinMaxConns, load.MaxMaxConns, load.DefaultMaxConns)
	}
	return nil
}

// validateAPI checks what every command that calls the API needs.
func (s *Settings) validateAPI() error {
	if s.AccessKey == "" || s.SecretKey == "" {
		return usagef("VOLC_ACCESSKEY and VOLC_SECRETKEY must both be set in the environment: the API key of the account to archive")
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return usagef("CBARCHIVE_ENDPOINT (--endpoint) %q is not scheme://host[:port]: use e.g. https://live.volcengineapi.com or http://127.0.0.1:8080", s.Endpoint)
	}
	if strings.TrimSpace(s.Region) == "" {
		return usagef("CBARCHIVE_REGION (--region) is empty: use e.g. cn-north-1")
	}
	if s.RateLimit <= 0 || s.RateLimit > 1000 {
		return usagef("CBARCHIVE_RATE_LIMIT (--rate-limit) %v is out of range: give requests per second in (0, 1000]; the API allows 30", s.RateLimit)
	}
	if s.PageSize < 1 || s.PageSize > extract.MaxPageSize {
		return usagef("CBARCHIVE_PAGE_SIZE (--page-size) %d is out of range: give 1..1000", s.PageSize)
	}
	if lb := s.InitialLookback.D(); lb <= 0 || lb > extract.History {
		return usagef("CBARCHIVE_INITIAL_LOOKBACK (--initial-lookback) %s is out of range: give a duration in (0, 366d], e.g. 24h or 30d", s.InitialLookback)
	}
	if o := s.Overlap.D(); o < 0 || o > extract.MaxSpan {
		return usagef("CBARCHIVE_OVERLAP (--overlap) %s is out of range: give a duration in [0, 31d], e.g. 10m", s.Overlap)
	}
	if st := s.Settle.D(); st < 0 || st > 7*24*time.Hour {
		return usagef("CBARCHIVE_SETTLE (--settle) %s is out of range: give a duration in [0, 7d], e.g. 2m", s.Settle)
	}
	if t := s.RequestTimeout.D(); t < time.Second || t > 10*time.Minute {
		return usagef("CBARCHIVE_REQUEST_TIMEOUT (--request-timeout) %s is out of range: give a duration in [1s, 10m]", s.RequestTimeout)
	}
	if len(trimAll(s.Domains)) == 0 {
		s.Domains = nil // CBARCHIVE_DOMAINS="" means unset: discover
	}
	if s.Pushgateway != "" {
		if err := metrics.ValidateURL(s.Pushgateway); err != nil {
			return usagef("CBARCHIVE_PUSHGATEWAY (--pushgateway): %v", err)
		}
	}
	for _, d := range s.Domains {
		if strings.TrimSpace(d) == "" {
			return usagef("CBARCHIVE_DOMAINS (--domains) %q has an empty entry: give comma-separated domain names", strings.Join(s.Domains, ","))
		}
	}
	return nil
}

// filter returns the query filter of the settings.
func (s *Settings) filter() extract.Filter {
	return extract.Filter{EventTypes: trimAll(s.EventTypes), Statuses: trimAll(s.Statuses), App: s.App, Stream: s.Stream}
}

func trimAll(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// urlErrorReason says why a connection string does not parse without quoting the string (a
// malformed one cannot be redacted reliably): the innermost reason, with any password that can be
// found removed.
func urlErrorReason(err error, rawURL string) string {
	reason := "unrecognized syntax"
	var ue *url.Error
	var pe *pgconn.ParseConfigError
	switch {
	case errors.As(err, &ue):
		reason = ue.Err.Error()
	case errors.As(err, &pe) && pe.Unwrap() != nil:
		reason = pe.Unwrap().Error()
	}
	if strings.Contains(reason, rawURL) {
		return "unrecognized syntax"
	}
	return redact.Text(reason, redact.Password(rawURL))
}

// parseTime parses a command-line time (RFC3339).
func parseTime(flag, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, usagef("%s %q is not an RFC3339 time: use e.g. 2026-01-02T15:04:05Z or 2026-01-02T23:04:05+08:00", flag, v)
	}
	return t, nil
}

// parseRange parses --start and --end and checks that start is not after end.
func parseRange(startText, endText string) (start, end time.Time, err error) {
	if start, err = parseTime("--start", startText); err != nil {
		return
	}
	if end, err = parseTime("--end", endText); err != nil {
		return
	}
	if end.Before(start) {
		err = usagef("--end %s is before --start %s: give a range with start before end", endText, startText)
	}
	return
}
