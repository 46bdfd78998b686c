// Command livesim serves a local stand-in for the Volcengine Live OpenAPI
// (DescribeLiveCallbackData and ListDomainDetail), for demos, tests and trying a deployment
// without an account. See package livesim for what it simulates.
//
// Every flag has an environment fallback (LIVESIM_<FLAG>, e.g. LIVESIM_RECORDS_PER_DAY);
// the keys fall back to VOLC_ACCESSKEY and VOLC_SECRETKEY. A flag wins over its variable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/cbarchive/cbarchive/livesim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	os.Exit(code)
}

// usageError is a bad flag or variable: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// options are the parsed flags.
type options struct {
	listen string
	cfg    livesim.Config
	odd    bool
}

// envSource reads environment fallbacks and remembers the first bad one.
type envSource struct {
	getenv func(string) string
	err    error
}

func (e *envSource) str(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func envParse[T any](e *envSource, name string, def T, parse func(string) (T, error)) T {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil && e.err == nil {
		e.err = usageError{fmt.Sprintf("invalid value %q for %s: %v", v, name, err)}
	}
	return x
}

func parseInt(s string) (int, error)     { return strconv.Atoi(s) }
func parseInt64(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	env := &envSource{getenv: getenv}
	fs := flag.NewFlagSet("livesim", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by run
	var (
		o         options
		domains   string
		faultRate float64
		faults    string
		unlisted  string
		order     string
		counting  string
	)
	fs.StringVar(&o.listen, "listen", env.str("LIVESIM_LISTEN", "127.0.0.1:8080"), "address to listen on (LIVESIM_LISTEN)")
	fs.Int64Var(&o.cfg.Seed, "seed", envParse(env, "LIVESIM_SEED", 0, parseInt64), "data seed (LIVESIM_SEED)")
	fs.StringVar(&domains, "domains", env.str("LIVESIM_DOMAINS", ""), "comma-separated domains (LIVESIM_DOMAINS); default: --num-domains generated names")
	fs.IntVar(&o.cfg.NumDomains, "num-domains", envParse(env, "LIVESIM_NUM_DOMAINS", 0, parseInt), "number of domains live1.example.com.. when --domains is empty; 0: 3 domains d1.example.com.. (LIVESIM_NUM_DOMAINS)")
	fs.IntVar(&o.cfg.RecordsPerDay, "records-per-day", envParse(env, "LIVESIM_RECORDS_PER_DAY", livesim.DefaultRecordsPerDay, parseInt), "generated records per domain and day (LIVESIM_RECORDS_PER_DAY)")
	fs.IntVar(&o.cfg.DaysBack, "days-back", envParse(env, "LIVESIM_DAYS_BACK", livesim.DefaultDaysBack, parseInt), "days of generated history, 1..3650 (LIVESIM_DAYS_BACK)")
	fs.StringVar(&o.cfg.AccessKey, "access-key", env.str("VOLC_ACCESSKEY", livesim.DefaultAccessKey), "accepted access key (VOLC_ACCESSKEY)")
	fs.StringVar(&o.cfg.SecretKey, "secret-key", env.str("VOLC_SECRETKEY", livesim.DefaultSecretKey), "accepted secret key (VOLC_SECRETKEY)")
	fs.IntVar(&o.cfg.RateLimit, "rate-limit", envParse(env, "LIVESIM_RATE_LIMIT", livesim.DefaultRateLimit, parseInt), "requests per sliding second per access key; negative: unlimited (LIVESIM_RATE_LIMIT)")
	fs.DurationVar(&o.cfg.Latency, "latency", envParse(env, "LIVESIM_LATENCY", 0, time.ParseDuration), "added to every answer (LIVESIM_LATENCY)")
	fs.DurationVar(&o.cfg.LatencyJitter, "latency-jitter", envParse(env, "LIVESIM_LATENCY_JITTER", 0, time.ParseDuration), "uniform ± jitter around --latency (LIVESIM_LATENCY_JITTER)")
	fs.Float64Var(&faultRate, "fault-rate", envParse(env, "LIVESIM_FAULT_RATE", 0, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }), "fraction 0..1 of DescribeLiveCallbackData answers that get a fault (LIVESIM_FAULT_RATE)")
	fs.StringVar(&faults, "faults", env.str("LIVESIM_FAULTS", ""), "comma-separated fault classes, or \"all\" (LIVESIM_FAULTS)")
	fs.Int64Var(&o.cfg.Faults.Seed, "fault-seed", envParse(env, "LIVESIM_FAULT_SEED", 0, parseInt64), "fault PRNG seed (LIVESIM_FAULT_SEED)")
	fs.DurationVar(&o.cfg.Faults.SlowDelay, "slow-delay", envParse(env, "LIVESIM_SLOW_DELAY", livesim.DefaultSlowDelay, time.ParseDuration), "delay of the slow fault (LIVESIM_SLOW_DELAY)")
	fs.StringVar(&order, "order", env.str("LIVESIM_ORDER", string(livesim.OrderStable)), "order of CallbackInfoList: stable (time ascending, ties in insertion order), shuffle-ties (seconds ascending, each second's records in a fresh random order per request), newest-first (time descending), shuffle (fully shuffled per request); paging cuts each request's own order (LIVESIM_ORDER)")
	fs.IntVar(&o.cfg.ResultCap, "result-cap", envParse(env, "LIVESIM_RESULT_CAP", 0, parseInt), "count and serve at most this many results per query, as a search engine's result window (TotalCount = min(matches, cap); later pages empty); 0: no cap (LIVESIM_RESULT_CAP)")
	fs.IntVar(&o.cfg.MaxSpanDays, "max-span-days", envParse(env, "LIVESIM_MAX_SPAN_DAYS", livesim.DefaultMaxSpanDays, parseInt), "longest query span in days, 1..31; longer answers 400 InvalidParam (LIVESIM_MAX_SPAN_DAYS)")
	fs.IntVar(&o.cfg.MaxHistoryDays, "max-history-days", envParse(env, "LIVESIM_MAX_HISTORY_DAYS", livesim.DefaultMaxHistoryDays, parseInt), "how far back StartTime may reach in days, 1..366; older answers 400 InvalidParam (LIVESIM_MAX_HISTORY_DAYS)")
	fs.StringVar(&counting, "limit-counting", env.str("LIVESIM_LIMIT_COUNTING", string(livesim.CountExact)), "how the span and history limits count: exact (N×24h), inclusive (both ends count: end−start+1s ≤ N×24h), calendar (UTC+8 dates touched, both ends included) (LIVESIM_LIMIT_COUNTING)")
	fs.StringVar(&unlisted, "unlisted-domains", env.str("LIVESIM_UNLISTED_DOMAINS", ""), "comma-separated domains that have records and are served by DescribeLiveCallbackData but are absent from ListDomainDetail (LIVESIM_UNLISTED_DOMAINS)")
	fs.IntVar(&o.cfg.BurstSize, "burst-size", envParse(env, "LIVESIM_BURST_SIZE", 0, parseInt), "dense data: add this many records at one instant, --bursts-per-day times per domain and day; 0: none (LIVESIM_BURST_SIZE)")
	fs.IntVar(&o.cfg.BurstsPerDay, "bursts-per-day", envParse(env, "LIVESIM_BURSTS_PER_DAY", 1, parseInt), "burst seconds per domain and day when --burst-size > 0, 1..86400 (LIVESIM_BURSTS_PER_DAY)")
	fs.BoolVar(&o.odd, "odd", envParse(env, "LIVESIM_ODD", false, strconv.ParseBool), "add the odd records (livesim.OddRecords) one hour before now for every domain (LIVESIM_ODD)")
	if env.err != nil {
		return o, env.err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "Usage: livesim [flags]")
			fs.PrintDefaults()
			return o, err
		}
		return o, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	var err error
	if o.cfg.Domains, err = domainList("--domains", domains); err != nil {
		return o, err
	}
	if o.cfg.UnlistedDomains, err = domainList("--unlisted-domains", unlisted); err != nil {
		return o, err
	}
	if o.cfg.Order, err = livesim.ParseOrder(strings.TrimSpace(order)); err != nil {
		return o, usageError{fmt.Sprintf("invalid value %q for --order: %v", order, err)}
	}
	if o.cfg.LimitCounting, err = livesim.ParseLimitCounting(strings.TrimSpace(counting)); err != nil {
		return o, usageError{fmt.Sprintf("invalid value %q for --limit-counting: %v", counting, err)}
	}
	checks := []struct {
		bad  bool
		name string
		val  any
		want string
	}{
		{o.cfg.NumDomains < 0, "--num-domains", o.cfg.NumDomains, ">= 0"},
		{o.cfg.RecordsPerDay < 1, "--records-per-day", o.cfg.RecordsPerDay, ">= 1"},
		{o.cfg.DaysBack < 1 || o.cfg.DaysBack > 3650, "--days-back", o.cfg.DaysBack, "1..3650"},
		{o.cfg.RateLimit == 0, "--rate-limit", o.cfg.RateLimit, "> 0, or negative for unlimited"},
		{o.cfg.Latency < 0, "--latency", o.cfg.Latency, ">= 0"},
		{o.cfg.LatencyJitter < 0, "--latency-jitter", o.cfg.LatencyJitter, ">= 0"},
		{faultRate < 0 || faultRate > 1, "--fault-rate", faultRate, "0..1"},
		{o.cfg.Faults.SlowDelay <= 0, "--slow-delay", o.cfg.Faults.SlowDelay, "> 0"},
		{o.cfg.AccessKey == "", "--access-key", "", "not empty"},
		{o.cfg.ResultCap < 0, "--result-cap", o.cfg.ResultCap, ">= 0 (0: no cap)"},
		{o.cfg.MaxSpanDays < 1 || o.cfg.MaxSpanDays > livesim.DefaultMaxSpanDays, "--max-span-days", o.cfg.MaxSpanDays, fmt.Sprintf("1..%d", livesim.DefaultMaxSpanDays)},
		{o.cfg.MaxHistoryDays < 1 || o.cfg.MaxHistoryDays > livesim.DefaultMaxHistoryDays, "--max-history-days", o.cfg.MaxHistoryDays, fmt.Sprintf("1..%d", livesim.DefaultMaxHistoryDays)},
		{o.cfg.BurstSize < 0, "--burst-size", o.cfg.BurstSize, ">= 0 (0: none)"},
		{o.cfg.BurstsPerDay < 1 || o.cfg.BurstsPerDay > 86400, "--bursts-per-day", o.cfg.BurstsPerDay, "1..86400"},
	}
	for _, c := range checks {
		if c.bad {
			return o, usageError{fmt.Sprintf("invalid value %v for %s: want %s", c.val, c.name, c.want)}
		}
	}
	if o.cfg.SecretKey == "" {
		return o, usageError{"invalid value for --secret-key: empty"}
	}
	o.cfg.Faults.Rate = faultRate
	switch faults = strings.TrimSpace(faults); faults {
	case "":
	case "all":
		o.cfg.Faults.Classes = livesim.AllFaultClasses
	default:
		for name := range strings.SplitSeq(faults, ",") {
			c, err := livesim.ParseFaultClass(strings.TrimSpace(name))
			if err != nil {
				return o, usageError{fmt.Sprintf("invalid value %q for --faults: %v", faults, err)}
			}
			o.cfg.Faults.Classes = append(o.cfg.Faults.Classes, c)
		}
	}
	if faultRate > 0 && len(o.cfg.Faults.Classes) == 0 {
		return o, usageError{fmt.Sprintf("invalid value %v for --fault-rate: --faults names no class", faultRate)}
	}
	return o, nil
}

// domainList splits a comma-separated list of domains; an empty list is nil.
func domainList(flagName, v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for d := range strings.SplitSeq(v, ",") {
		if d = strings.TrimSpace(d); d == "" {
			return nil, usageError{fmt.Sprintf("invalid value %q for %s: empty domain name", v, flagName)}
		}
		out = append(out, d)
	}
	return out, nil
}

func newLogger(w io.Writer) *zap.Logger {
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	enc := zapcore.NewJSONEncoder(ec)
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zap.InfoLevel))
}

// run is the whole command; ready, when not nil, receives the base URL once serving.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) int {
	o, err := parseOptions(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "livesim: %v\n", err)
		return 2
	}
	log := newLogger(stderr)
	defer func() { _ = log.Sync() }()

	sim, err := livesim.New(o.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "livesim: %v\n", err)
		return 2
	}
	if o.odd {
		at := time.Now().Add(-time.Hour)
		for _, d := range sim.Domains() {
			sim.Add(livesim.OddRecords(d, at)...)
		}
	}
	base, err := sim.Listen(o.listen)
	if err != nil {
		log.Error("listen failed", zap.String("listen", o.listen), zap.Error(err))
		return 1
	}
	defer sim.Close()
	classes := make([]string, len(o.cfg.Faults.Classes))
	for i, c := range o.cfg.Faults.Classes {
		classes[i] = string(c)
	}
	log.Info("livesim serving",
		zap.String("endpoint", base),
		zap.Strings("domains", sim.Domains()),
		zap.Strings("unlisted_domains", sim.UnlistedDomains()),
		zap.String("order", string(o.cfg.Order)),
		zap.Int("result_cap", o.cfg.ResultCap),
		zap.Int("max_span_days", o.cfg.MaxSpanDays),
		zap.Int("max_history_days", o.cfg.MaxHistoryDays),
		zap.String("limit_counting", string(o.cfg.LimitCounting)),
		zap.Int("burst_size", o.cfg.BurstSize),
		zap.Int("records", sim.Len()),
		zap.String("access_key", o.cfg.AccessKey),
		zap.Int("rate_limit", o.cfg.RateLimit),
		zap.Duration("latency", o.cfg.Latency),
		zap.Duration("latency_jitter", o.cfg.LatencyJitter),
		zap.Float64("fault_rate", o.cfg.Faults.Rate),
		zap.Strings("faults", classes),
		zap.Bool("odd", o.odd),
	)
	if ready != nil {
		ready <- base
	}
	<-ctx.Done()
	return 0
}
