// Command extract is the extraction benchmark: a full sync of a large simulated account through
// livesim (in a child process, with 150 ms ± 50 ms latency and the API's 30 requests/s limit)
// into a fresh PostgreSQL database. It reports requests/s achieved against the rate limit,
// records/s into PostgreSQL, requests spent against the minimum, and the sync's peak RSS.
//
//	go run ./bench/extract [-records-per-day 10000] [-domains 5] [-days 6] [-rate 30] [-order stable|all]
//
// -order all runs it once for each of livesim's answer orders and ends with one row per order.
//
// DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/postgres); the
// benchmark creates and drops its own database there.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/livesim"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/pipeline"
)

func main() {
	var (
		child    = flag.Bool("livesim-child", false, "internal: serve livesim and print its URL")
		perDay   = flag.Int("records-per-day", 10000, "records per domain and day")
		domains  = flag.Int("domains", 5, "domains")
		days     = flag.Int("days", 6, "days of history")
		rateLim  = flag.Float64("rate", 30, "rate limit (requests/s), enforced by livesim too")
		pageSize = flag.Int("page-size", 1000, "page size")
		latency  = flag.Duration("latency", 150*time.Millisecond, "livesim latency")
		jitter   = flag.Duration("jitter", 50*time.Millisecond, "livesim latency jitter (±)")
		cpuProf  = flag.String("cpuprofile", "", "write the sync's CPU profile to this file")
		order    = flag.String("order", "stable", "livesim's answer order: stable, shuffle-ties, newest-first or shuffle; all: each in turn, then one row per order")
		inFlight = flag.Int("max-records-in-flight", 0, "pipeline.Config.MaxRecordsInFlight (0: the default)")
		trace    = flag.Bool("trace", false, "print a per-second timeline: arrivals at livesim, requests written, pages waiting for the limiter, requests in flight")
	)
	flag.Parse()
	if *cpuProf != "" && !*child {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *child || os.Getenv(childEnv) != "" {
		serveChild(*perDay, *domains, *days, int(*rateLim), *latency, *jitter, *order)
		return
	}
	orders := []string{*order}
	if *order == "all" {
		orders = nil
		for _, o := range livesim.AllOrders {
			orders = append(orders, string(o))
		}
	} else if _, err := livesim.ParseOrder(*order); err != nil {
		fmt.Fprintln(os.Stderr, "bench/extract: -order:", err, "or all")
		os.Exit(2)
	}
	if err := runOrders(os.Stdout, orders, func(out io.Writer, order string, res *result) error {
		return run(out, *perDay, *domains, *days, *rateLim, *pageSize, *latency, *jitter, order, *inFlight, *trace, res)
	}); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench/extract:", err)
		os.Exit(1)
	}
}

// childEnv makes the program (or its test binary) serve livesim as the benchmark's child.
const childEnv = "CBARCHIVE_BENCH_LIVESIM_CHILD"

// arrivalsEnv names the file the child writes its requests' arrival times to (for -trace).
const arrivalsEnv = "CBARCHIVE_BENCH_ARRIVALS"

// simEnd is where the simulated history ends: fixed, so no record arrives during the run.
func simEnd() time.Time { return time.Now().Add(-10 * time.Minute).Truncate(time.Minute) }

func serveChild(perDay, domains, days, rate int, latency, jitter time.Duration, order string) {
	end := simEnd()
	sim, err := livesim.New(livesim.Config{Seed: 1, NumDomains: domains, RecordsPerDay: perDay, DaysBack: days,
		RateLimit: rate, Latency: latency, LatencyJitter: jitter, Order: livesim.Order(order), Now: func() time.Time { return end }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	u, err := sim.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s %d\n", u, sim.Len())
	// Serve until the parent closes stdin, then report the request log's figures.
	_, _ = io.Copy(io.Discard, os.Stdin)
	st := sim.Stats()
	fmt.Printf("requests=%d throttled=%d max_in_any_second=%d page_violations=%d\n",
		st.Requests, st.Throttled, sim.MaxInAnySecond("AKLTSIM"), st.PageNumViolations)
	if path := os.Getenv(arrivalsEnv); path != "" {
		var at []time.Time
		for _, r := range sim.Requests() {
			at = append(at, r.At)
		}
		if err := writeArrivals(path, at); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	sim.Close()
}

// result is one run's figures, for runOrders' rows.
type result struct {
	order                     string
	records                   int64
	requests, minimum         int64
	rate, limit               float64 // requests/s while extracting, and the limit
	rssMB                     float64
	throttled, maxInAnySecond string
}

// runOrders runs one benchmark per order; with more than one, it then prints one row per order.
// Between runs it returns the heap to the system and resets the process's peak RSS, so that
// each run's peak is its own but for what the process keeps from the runs before (about
// 10 MB).
func runOrders(out io.Writer, orders []string, one func(io.Writer, string, *result) error) error {
	var rows []result
	for i, o := range orders {
		if len(orders) > 1 {
			fmt.Fprintf(out, "== order %s\n", o)
		}
		if i > 0 {
			runtime.GC()
			debug.FreeOSMemory()
			// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
			_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		}
		var r result
		if err := one(out, o, &r); err != nil {
			return fmt.Errorf("order %s: %w", o, err)
		}
		rows = append(rows, r)
	}
	if len(rows) < 2 {
		return nil
	}
	fmt.Fprintf(out, "\n| order | records | requests vs minimum | requests/s while extracting | 429s / max in any second | peak RSS |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(out, "| %s | %d | %d vs %d, %.3f × | %.2f (%.1f %%) | %s / %s | %.1f MB |\n", r.order, r.records, r.requests, r.minimum,
			float64(r.requests)/float64(r.minimum), r.rate, 100*r.rate/r.limit, r.throttled, r.maxInAnySecond, r.rssMB)
	}
	return nil
}

func run(out io.Writer, perDay, domains, days int, rateLim float64, pageSize int, latency, jitter time.Duration, order string, inFlight int, trace bool, res *result) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// livesim in a child process, so that its data does not count in our RSS.
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-records-per-day", strconv.Itoa(perDay), "-domains", strconv.Itoa(domains),
		"-days", strconv.Itoa(days), "-rate", fmt.Sprint(rateLim), "-latency", latency.String(), "-jitter", jitter.String(), "-order", order)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var tr *tracer
	var arrivalsPath string
	if trace {
		tr = &tracer{}
		f, err := os.CreateTemp("", "cbbench-arrivals-*")
		if err != nil {
			return err
		}
		arrivalsPath = f.Name()
		_ = f.Close()
		defer os.Remove(arrivalsPath)
		cmd.Env = append(cmd.Env, arrivalsEnv+"="+arrivalsPath)
	}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		return fmt.Errorf("livesim child did not start")
	}
	var simURL string
	var total int
	fmt.Sscanf(lines.Text(), "%s %d", &simURL, &total)

	dbURL, drop, err := freshDatabase(ctx)
	if err != nil {
		return err
	}
	defer drop()
	if err := load.Migrate(ctx, dbURL, load.MigrateUp, io.Discard); err != nil {
		return err
	}
	store, err := load.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer store.Close()

	limiter := extract.NewLimiter(rateLim)
	ccfg := extract.ClientConfig{Endpoint: simURL, AccessKey: "AKLTSIM", SecretKey: "simsecret", Limiter: limiter}
	if tr != nil {
		base := http.DefaultTransport.(*http.Transport).Clone()
		base.MaxIdleConns, base.MaxIdleConnsPerHost = 256, 256
		ccfg.Transport = tracedTransport{base: base, t: tr}
	}
	client, err := extract.NewClient(ccfg)
	if err != nil {
		return err
	}
	var source pipeline.Source = client
	if tr != nil {
		source = tracedSource{c: client, t: tr}
	}
	learned := extract.NewLearned(nil)
	var sink pipeline.Sink = pipeline.StoreSink{Store: store}
	if tr != nil {
		sink = tracedSink{StoreSink: pipeline.StoreSink{Store: store}, t: tr}
	}
	p, err := pipeline.New(pipeline.Config{Client: client, Source: source, Store: store, Sink: sink, Logger: zap.NewNop(), RunID: "bench",
		PageSize: pageSize, PageConcurrency: pipeline.PageConcurrencyFor(rateLim), RateLimit: rateLim, Learned: learned,
		MaxRecordsInFlight: inFlight, InitialLookback: time.Duration(days)*24*time.Hour + time.Hour})
	if err != nil {
		return err
	}
	var names []string
	for i := 1; i <= domains; i++ {
		names = append(names, fmt.Sprintf("live%d.example.com", i))
	}
	start := time.Now()
	synced := p.Sync(ctx, names)
	took := time.Since(start)
	for _, d := range synced.Domains {
		if d.Outcome != pipeline.OutcomeSuccess {
			return fmt.Errorf("domain %s: %s: %v", d.Domain, d.Outcome, d.Err)
		}
	}
	rss := peakRSS()

	_ = stdin.Close()
	simStats := ""
	if lines.Scan() {
		simStats = lines.Text()
	}
	_ = cmd.Wait()

	var records int64
	minimum := 0
	for _, name := range names {
		var n int64
		if err := store.Pool().QueryRow(ctx, "SELECT count(*) FROM callback_records WHERE domain = $1", name).Scan(&n); err != nil {
			return err
		}
		records += n
		minimum += int((n + int64(pageSize) - 1) / int64(pageSize))
	}
	var requests int64
	for _, d := range synced.Domains {
		requests += d.Requests
	}
	achieved := float64(requests) / took.Seconds()
	first, last := client.Span()
	// While extracting: from the first request sent to the latest one (the run's tail is the
	// last windows' merges, with no request left to send).
	during := float64(requests-1) / last.Sub(first).Seconds()
	fmt.Fprintf(out, "dataset:            %d records served, %d domains x %d days, page size %d, latency %v ± %v, order %s (learned: %s)\n",
		total, domains, days, pageSize, latency, jitter, order, learned.Order())
	fmt.Fprintf(out, "sync:               %d records archived in %.1fs\n", records, took.Seconds())
	fmt.Fprintf(out, "requests/s:         %.2f of %.0f allowed while extracting (%.1f%%); %.2f over the whole run (%.1f%%)\n",
		during, rateLim, 100*during/rateLim, achieved, 100*achieved/rateLim)
	fmt.Fprintf(out, "records/s into PG:  %.0f\n", float64(records)/took.Seconds())
	fmt.Fprintf(out, "requests spent:     %d, minimum %d (%.3fx)\n", requests, minimum, float64(requests)/float64(minimum))
	fmt.Fprintf(out, "peak RSS:           %.1f MB\n", float64(rss)/(1<<20))
	fmt.Fprintf(out, "livesim:            %s\n", simStats)
	if res != nil {
		*res = result{order: order, records: records, requests: requests, minimum: int64(minimum), rate: during, limit: rateLim,
			rssMB: float64(rss) / (1 << 20), throttled: statField(simStats, "throttled"), maxInAnySecond: statField(simStats, "max_in_any_second")}
	}
	if tr != nil {
		arrivals, err := readArrivals(arrivalsPath)
		if err != nil {
			return err
		}
		tr.report(out, arrivals, rateLim)
	}
	return nil
}

// freshDatabase creates a database on DATABASE_URL's server and returns its URL and a drop func.
func freshDatabase(ctx context.Context) (string, func(), error) {
	admin := os.Getenv("DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w (start PostgreSQL or set DATABASE_URL)", "DATABASE_URL", err)
	}
	name := fmt.Sprintf("cbbench_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(context.Background())
	}, nil
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// statField returns the value of name=value in livesim's report line ("?" when absent).
func statField(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return "?"
}
