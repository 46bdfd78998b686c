package livesim

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Defaults of Config and Faults.
const (
	DefaultAccessKey     = "AKLTSIM"
	DefaultSecretKey     = "simsecret"
	DefaultRecordsPerDay = 500
	DefaultDaysBack      = 7
	DefaultRateLimit     = 30
	DefaultSlowDelay     = 3 * time.Second
	// DefaultMaxSpanDays and DefaultMaxHistoryDays are the documented limits.
	DefaultMaxSpanDays    = 31
	DefaultMaxHistoryDays = 366

	// Region and Service are what requests must be signed for.
	Region  = "cn-north-1"
	Service = "live"
	// Version is the only API version served.
	Version = "2023-01-01"
)

// API limits enforced on DescribeLiveCallbackData.
const (
	MaxSpan        = 31 * 24 * time.Hour
	MaxHistory     = 366 * 24 * time.Hour
	MaxPageNum     = 10000
	MaxPageSize    = 1000
	DefaultPageNum = 1
	// DefaultPageSize is the page size when the request has none.
	DefaultPageSize = 100
	// MaxDomainPage is the upper bound of ListDomainDetail's PageNum and PageSize.
	MaxDomainPage = 1000
)

// Config configures a Sim. The zero value is usable: every field says its default.
type Config struct {
	// Seed makes the generated data deterministic. Default 0.
	Seed int64
	// Domains are the account's domains (nil and empty alike mean the default). Default: NumDomains domains "live1.example.com",
	// "live2.example.com", ...; when NumDomains is 0 as well, 3 domains "d1.example.com",
	// "d2.example.com", "d3.example.com".
	Domains []string
	// NumDomains is used when Domains is nil.
	NumDomains int
	// RecordsPerDay is the number of generated records per domain and day (before the ~0.5%
	// duplicated copies are added). Default (and when 0) 500.
	RecordsPerDay int
	// DaysBack: data is generated from Now − DaysBack days to Now. Default (and when 0) 7.
	DaysBack int
	// Now is the data clock: generation, the 366-day history limit. Default time.Now.
	// Rate limiting and the request log always use the real clock.
	Now func() time.Time
	// AccessKey and SecretKey are the credentials the server accepts.
	// Default "AKLTSIM" / "simsecret".
	AccessKey, SecretKey string
	// ExtraKeys are more accepted access keys (access key → secret key), each its own
	// account with its own rate-limit budget.
	ExtraKeys map[string]string
	// RateLimit is the number of requests per sliding 1-second window per access key (all
	// actions). Default 30; negative means unlimited.
	RateLimit int
	// Latency is added to every answer.
	Latency time.Duration
	// LatencyJitter is a uniform ± jitter around Latency.
	LatencyJitter time.Duration
	// Faults injected into DescribeLiveCallbackData answers. Default none.
	Faults Faults
	// EmptyData starts with no generated records.
	EmptyData bool

	// UnlistedDomains are domains that have generated records, served by
	// DescribeLiveCallbackData (named in DomainList, or account-wide with an empty DomainList),
	// but that ListDomainDetail does not list (a deleted domain keeping its history). They
	// must not repeat Domains. Default none.
	UnlistedDomains []string
	// Order is the order of CallbackInfoList (see Order). Paging applies to each request's own
	// ordered sequence, so an unstable order skips and repeats records across pages. Default
	// (and when "") OrderStable. The random orders draw from a PRNG seeded by Seed, advanced
	// per request.
	Order Order
	// ResultCap caps how many results a query counts and serves, as a search engine's result
	// window does: TotalCount reports min(matches, ResultCap) and no record past position
	// ResultCap of the ordered sequence is served (pages past it are empty). Default (and
	// when 0) no cap.
	ResultCap int
	// MaxSpanDays is the longest query span in days, 1..31; a longer query answers 400
	// InvalidParam. Default (and when 0) 31.
	MaxSpanDays int
	// MaxHistoryDays is how far back StartTime may reach, in days, 1..366; an older one
	// answers 400 InvalidParam. Default (and when 0) 366.
	MaxHistoryDays int
	// LimitCounting is how MaxSpanDays and MaxHistoryDays are counted. Default (and when "")
	// CountExact.
	LimitCounting LimitCounting
	// BurstSize adds dense data: BurstsPerDay seconds per domain and day (UTC+8), drawn from
	// the seed, each with BurstSize more records at that one instant. Default (and when 0)
	// none. See also Sim.AddBurst.
	BurstSize int
	// BurstsPerDay is the number of burst seconds per domain and day when BurstSize > 0.
	// Default (and when 0) 1.
	BurstsPerDay int
}

// FaultClass names one kind of injected fault.
type FaultClass string

// The fault classes.
const (
	FaultThrottle    FaultClass = "throttle"        // HTTP 429 FlowLimitExceeded, CodeN 100018
	FaultInternal    FaultClass = "internal"        // 500 InternalError
	FaultBadGateway  FaultClass = "bad_gateway"     // 502 InternalServiceError
	FaultBadResponse FaultClass = "bad_response"    // 502 InternalServiceError.BadResponse
	FaultTimeout504  FaultClass = "gateway_timeout" // 504 InternalServiceTimeout
	FaultCommonErr   FaultClass = "common_err"      // HTTP 200, Error {"Code":"CommonErr"}, no CodeN, no Result
	FaultNotFound    FaultClass = "not_found"       // 404 ResourceNotFound
	FaultReset       FaultClass = "reset"           // connection closed without an answer
	FaultSlow        FaultClass = "slow"            // normal answer after Faults.SlowDelay
	FaultTruncated   FaultClass = "truncated"       // HTTP 200, a valid answer cut in half
	FaultMalformed   FaultClass = "malformed"       // HTTP 200, body not JSON
	FaultNoResult    FaultClass = "no_result"       // HTTP 200, ResponseMetadata without Error and Result
	// FaultDrift: on a request with PageNum >= 2, 1..3 new records matching the query are
	// inserted into the window before the requested page's records in serving order (earlier
	// in time; later for OrderNewestFirst), so offsets shift, then the answer is normal
	// (TotalCount grows).
	FaultDrift FaultClass = "drift"
)

// AllFaultClasses lists every fault class.
var AllFaultClasses = []FaultClass{
	FaultThrottle, FaultInternal, FaultBadGateway, FaultBadResponse, FaultTimeout504,
	FaultCommonErr, FaultNotFound, FaultReset, FaultSlow, FaultTruncated, FaultMalformed,
	FaultNoResult, FaultDrift,
}

// ParseFaultClass returns the class named s, or an error naming s.
func ParseFaultClass(s string) (FaultClass, error) {
	for _, c := range AllFaultClasses {
		if string(c) == s {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown fault class %q (want one of %v)", s, AllFaultClasses)
}

// Faults configures fault injection on DescribeLiveCallbackData answers.
type Faults struct {
	// Rate is the fraction (0..1) of answers that get a fault. Default 0.
	Rate float64
	// Classes are chosen among uniformly; empty means no faults.
	Classes []FaultClass
	// SlowDelay is how long a FaultSlow answer waits. Default 3s.
	SlowDelay time.Duration
	// Seed seeds the fault PRNG: the faults are deterministic given the request order.
	Seed int64
}

func (f Faults) validate() error {
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("faults rate %s out of range [0,1]", strconv.FormatFloat(f.Rate, 'g', -1, 64))
	}
	for _, c := range f.Classes {
		if _, err := ParseFaultClass(string(c)); err != nil {
			return err
		}
	}
	if f.SlowDelay < 0 {
		return fmt.Errorf("faults slow delay %s is negative", f.SlowDelay)
	}
	return nil
}

func (f Faults) withDefaults() Faults {
	f.SlowDelay = cmp.Or(f.SlowDelay, DefaultSlowDelay)
	f.Classes = append([]FaultClass(nil), f.Classes...)
	return f
}

func (c Config) withDefaults() Config {
	if len(c.Domains) == 0 {
		if c.NumDomains > 0 {
			for i := 1; i <= c.NumDomains; i++ {
				c.Domains = append(c.Domains, fmt.Sprintf("live%d.example.com", i))
			}
		} else {
			c.Domains = []string{"d1.example.com", "d2.example.com", "d3.example.com"}
		}
	} else {
		c.Domains = append([]string(nil), c.Domains...)
	}
	c.RecordsPerDay = cmp.Or(c.RecordsPerDay, DefaultRecordsPerDay)
	c.DaysBack = cmp.Or(c.DaysBack, DefaultDaysBack)
	if c.Now == nil {
		c.Now = time.Now
	}
	c.AccessKey = cmp.Or(c.AccessKey, DefaultAccessKey)
	c.SecretKey = cmp.Or(c.SecretKey, DefaultSecretKey)
	c.RateLimit = cmp.Or(c.RateLimit, DefaultRateLimit)
	c.Faults = c.Faults.withDefaults()
	c.UnlistedDomains = append([]string(nil), c.UnlistedDomains...)
	c.Order = cmp.Or(c.Order, OrderStable)
	c.MaxSpanDays = cmp.Or(c.MaxSpanDays, DefaultMaxSpanDays)
	c.MaxHistoryDays = cmp.Or(c.MaxHistoryDays, DefaultMaxHistoryDays)
	c.LimitCounting = cmp.Or(c.LimitCounting, CountExact)
	if c.BurstSize > 0 {
		c.BurstsPerDay = cmp.Or(c.BurstsPerDay, 1)
	}
	return c
}

// allDomains is every domain with data: the listed ones, then the unlisted ones.
func (c Config) allDomains() []string {
	return append(slices.Clone(c.Domains), c.UnlistedDomains...)
}

func (c Config) validate() error {
	seen := map[string]bool{}
	for _, d := range c.allDomains() {
		if d == "" {
			return fmt.Errorf("domains: empty domain name")
		}
		if seen[d] {
			return fmt.Errorf("domains: %q named twice (listed and unlisted domains must all differ)", d)
		}
		seen[d] = true
	}
	if _, err := ParseOrder(string(c.Order)); err != nil {
		return err
	}
	if _, err := ParseLimitCounting(string(c.LimitCounting)); err != nil {
		return err
	}
	if c.ResultCap < 0 {
		return fmt.Errorf("result cap %d is negative (0 means no cap)", c.ResultCap)
	}
	if c.MaxSpanDays < 1 || c.MaxSpanDays > DefaultMaxSpanDays {
		return fmt.Errorf("max span days %d out of range [1,%d]", c.MaxSpanDays, DefaultMaxSpanDays)
	}
	if c.MaxHistoryDays < 1 || c.MaxHistoryDays > DefaultMaxHistoryDays {
		return fmt.Errorf("max history days %d out of range [1,%d]", c.MaxHistoryDays, DefaultMaxHistoryDays)
	}
	if c.BurstSize < 0 || c.BurstsPerDay < 0 || c.BurstsPerDay > 86400 {
		return fmt.Errorf("burst size %d and bursts per day %d must be >= 0 (bursts per day at most 86400)", c.BurstSize, c.BurstsPerDay)
	}
	if c.NumDomains < 0 {
		return fmt.Errorf("num domains %d is negative", c.NumDomains)
	}
	if c.RecordsPerDay < 0 {
		return fmt.Errorf("records per day %d is negative", c.RecordsPerDay)
	}
	if c.DaysBack < 0 || c.DaysBack > 3650 {
		return fmt.Errorf("days back %d out of range [0,3650]", c.DaysBack)
	}
	if c.Latency < 0 || c.LatencyJitter < 0 {
		return fmt.Errorf("latency %s and jitter %s must not be negative", c.Latency, c.LatencyJitter)
	}
	if _, ok := c.ExtraKeys[c.AccessKey]; ok {
		return fmt.Errorf("extra keys: access key %q repeats AccessKey", c.AccessKey)
	}
	if err := c.Faults.validate(); err != nil {
		return err
	}
	return nil
}
