package livesim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cbarchive/cbarchive/callback"
)

// Sim is a running (or runnable) simulated Live OpenAPI. All methods are safe for
// concurrent use.
type Sim struct {
	cfg     Config
	keys    map[string]string // access key → secret key
	store   *store
	limiter *slidingLimiter

	profMu   sync.Mutex
	profiles map[string]*domainProfile

	faultMu  sync.Mutex
	faults   Faults
	faultRnd *mrand.Rand

	jitterMu  sync.Mutex
	jitterRnd *mrand.Rand

	behMu     sync.Mutex
	order     Order
	resultCap int
	orderRnd  *mrand.Rand // seeds each request's own order PRNG
	burstRnd  *mrand.Rand // draws AddBurst's records

	idPrefix string
	idSeq    atomic.Uint64

	logMu sync.Mutex
	log   []Request
	stats Stats

	srvMu  sync.Mutex
	server *http.Server
}

// Request is one entry of the request log.
type Request struct {
	// At is when the request arrived, by the real clock (not Config.Now).
	At        time.Time
	Action    string
	AccessKey string // as claimed by the Authorization header, "" when none
	// HTTPStatus is the answer's status; 0 when the connection was reset.
	HTTPStatus int
	// Code is ResponseMetadata.Error.Code, "" for a success.
	Code               string
	StartTime, EndTime time.Time // zero when absent or unparseable
	PageNum, PageSize  int       // after defaults; as requested when out of range
	Domains            []string
	Fault              FaultClass // "" when no fault was injected
}

// Stats counts what the server saw.
type Stats struct {
	Requests           int // every logged request
	Throttled          int // rejected by the rate limit (not counting FaultThrottle)
	PageNumViolations  int // PageNum < 1 or > 10000
	PageSizeViolations int // PageSize < 1 or > 1000
	HistoryViolations  int // StartTime older than now − 366 days
	SpanViolations     int // EndTime − StartTime > 31 days
	Faults             int // injected faults of any class
}

// New builds a simulator and its data. It does not listen; see Start and Handler.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("livesim config: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s := &Sim{
		cfg:       cfg,
		keys:      map[string]string{cfg.AccessKey: cfg.SecretKey},
		store:     newStore(),
		limiter:   newSlidingLimiter(cfg.RateLimit),
		profiles:  map[string]*domainProfile{},
		jitterRnd: mrand.New(mrand.NewPCG(uint64(cfg.Seed), 7)),
		order:     cfg.Order,
		resultCap: cfg.ResultCap,
		orderRnd:  mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x0de7)),
		burstRnd:  mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0xb0b5)),
		idPrefix:  hex.EncodeToString(b[:]),
	}
	for ak, sk := range cfg.ExtraKeys {
		s.keys[ak] = sk
	}
	s.setFaults(cfg.Faults)
	if !cfg.EmptyData {
		s.store.add(generate(cfg, cfg.Now()))
	}
	return s, nil
}

// Handler returns the HTTP handler serving the API on any path.
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start listens on 127.0.0.1 on a free port and serves; it returns "http://127.0.0.1:PORT".
func (s *Sim) Start() (baseURL string, err error) { return s.Listen("127.0.0.1:0") }

// Listen listens on addr (host:port) and serves in the background; it returns the base URL.
func (s *Sim) Listen(addr string) (baseURL string, err error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.server != nil {
		return "", errors.New("livesim: already serving")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("livesim listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.server = srv
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), nil
}

// Close stops serving (closing open connections). It is safe to call more than once.
func (s *Sim) Close() {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.server != nil {
		_ = s.server.Close()
	}
}

// Domains returns the account's listed domains (those ListDomainDetail answers), in
// configuration order.
func (s *Sim) Domains() []string { return slices.Clone(s.cfg.Domains) }

// UnlistedDomains returns the domains that have records but that ListDomainDetail does not
// list, in configuration order.
func (s *Sim) UnlistedDomains() []string { return slices.Clone(s.cfg.UnlistedDomains) }

// SetOrder changes the answer order from the next request on. It returns an error naming o
// when o is not one of AllOrders.
func (s *Sim) SetOrder(o Order) error {
	if _, err := ParseOrder(string(o)); err != nil {
		return fmt.Errorf("livesim: %w", err)
	}
	s.behMu.Lock()
	defer s.behMu.Unlock()
	s.order = o
	return nil
}

// SetResultCap changes the result cap (0: none) from the next request on. It returns an
// error when n is negative.
func (s *Sim) SetResultCap(n int) error {
	if n < 0 {
		return fmt.Errorf("livesim: result cap %d is negative (0 means no cap)", n)
	}
	s.behMu.Lock()
	defer s.behMu.Unlock()
	s.resultCap = n
	return nil
}

// arrangement returns the order and cap of one request, with that request's own PRNG.
func (s *Sim) arrangement() (Order, int, *mrand.Rand) {
	s.behMu.Lock()
	defer s.behMu.Unlock()
	return s.order, s.resultCap, mrand.New(mrand.NewPCG(s.orderRnd.Uint64(), s.orderRnd.Uint64()))
}

// AddBurst stores n new records of domain (listed or not) all at the second of at: dense
// data, as many records in one second as a busy account makes. The records are drawn from
// domain's profile (distinct request bodies) and returned.
func (s *Sim) AddBurst(domain string, at time.Time, n int) []callback.Record {
	p := s.profile(domain)
	s.behMu.Lock()
	recs := p.burstRecords(s.burstRnd, at, n)
	s.behMu.Unlock()
	s.Add(recs...)
	return slices.Clone(recs)
}

// Records returns the truth: the stored records of domain ("" = all domains, listed or not)
// whose serving instant t satisfies from <= t <= to, in the stable serving order (time
// ascending, ties in insertion order), whatever Config.Order says.
func (s *Sim) Records(domain string, from, to time.Time) []callback.Record {
	return s.store.records(domain, from, to)
}

// Add stores records (late arrivals, boundary records, odd records). A record whose
// CallbackTime does not parse is served at its neighbours' time (see the package doc).
func (s *Sim) Add(recs ...callback.Record) {
	if len(recs) == 0 {
		return
	}
	s.store.add(cloneRecords(recs), servingInstants(recs, s.cfg.Now()))
}

// cloneRecords copies records without Raw: the stored truth is the 15 fields.
func cloneRecords(recs []callback.Record) []callback.Record {
	out := slices.Clone(recs)
	for i := range out {
		out[i].Raw = nil
	}
	return out
}

// AddAt stores records served at the instant at, whatever their CallbackTime says.
func (s *Sim) AddAt(at time.Time, recs ...callback.Record) {
	ats := make([]int64, len(recs))
	for i := range ats {
		ats[i] = at.UnixNano()
	}
	s.store.add(cloneRecords(recs), ats)
}

// UpdateWhere applies change to every stored record for which match is true (the response
// side changing upstream, say) and returns how many it changed.
func (s *Sim) UpdateWhere(match func(*callback.Record) bool, change func(*callback.Record)) int {
	return s.store.updateWhere(match, change)
}

// SetFaults replaces the fault configuration and reseeds the fault PRNG with f.Seed.
func (s *Sim) SetFaults(f Faults) {
	s.setFaults(f.withDefaults())
}

func (s *Sim) setFaults(f Faults) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.faults = f
	s.faultRnd = mrand.New(mrand.NewPCG(uint64(f.Seed), 0x5eed))
}

// Requests returns a copy of the request log, in the order answers were decided.
func (s *Sim) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	out := slices.Clone(s.log)
	for i := range out {
		out[i].Domains = slices.Clone(out[i].Domains)
	}
	return out
}

// MaxInAnySecond is the largest number of logged requests (any action, throttled or not)
// from accessKey within any sliding one-second window.
func (s *Sim) MaxInAnySecond(accessKey string) int {
	s.logMu.Lock()
	var times []time.Time
	for _, r := range s.log {
		if r.AccessKey == accessKey {
			times = append(times, r.At)
		}
	}
	s.logMu.Unlock()
	slices.SortFunc(times, time.Time.Compare)
	return maxInAnySecond(times)
}

// Stats returns the counters.
func (s *Sim) Stats() Stats {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.stats
}

func (s *Sim) record(r Request, count func(*Stats)) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.log = append(s.log, r)
	s.stats.Requests++
	if r.Fault != "" {
		s.stats.Faults++
	}
	if count != nil {
		count(&s.stats)
	}
}

func (s *Sim) profile(domain string) *domainProfile {
	s.profMu.Lock()
	defer s.profMu.Unlock()
	p := s.profiles[domain]
	if p == nil {
		p = newProfile(s.cfg.Seed, domain)
		s.profiles[domain] = p
	}
	return p
}

func (s *Sim) requestID() string {
	return time.Now().UTC().Format("20060102150405") + s.idPrefix + fmt.Sprintf("%08X", s.idSeq.Add(1))
}

// latency draws Latency ± LatencyJitter.
func (s *Sim) latency() time.Duration {
	d := s.cfg.Latency
	if j := s.cfg.LatencyJitter; j > 0 {
		s.jitterMu.Lock()
		d += time.Duration(s.jitterRnd.Int64N(int64(2*j)+1)) - j
		s.jitterMu.Unlock()
	}
	return max(d, 0)
}

// drawFault decides whether this DescribeLiveCallbackData request gets a fault.
func (s *Sim) drawFault() (FaultClass, time.Duration) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.faults
	if len(f.Classes) == 0 || f.Rate <= 0 {
		return "", 0
	}
	if s.faultRnd.Float64() >= f.Rate {
		return "", 0
	}
	return f.Classes[s.faultRnd.IntN(len(f.Classes))], f.SlowDelay
}

// Len is the number of stored records.
func (s *Sim) Len() int {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	return len(s.store.all)
}
