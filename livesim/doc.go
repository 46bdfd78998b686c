// Package livesim is a local stand-in for the Volcengine Live OpenAPI: the two actions
// cbarchive uses, DescribeLiveCallbackData and ListDomainDetail (version 2023-01-01), served
// over HTTP with the real JSON shapes, the real error table, Volcengine V4 signature
// verification (recomputed with the official SDK's own signer), the documented limits
// (31-day span, 366-day history, page number and size ranges, 30 requests per second per
// access key) and injectable faults.
//
// It is for demos, tests and trying a deployment without an account. Its data is generated
// deterministically from a seed (see Config) and can be changed at runtime (Add,
// UpdateWhere, SetFaults); Records returns the truth the archive must end up holding.
//
// # Serving time
//
// Every stored record has a serving instant: the parsed CallbackTime when it parses as
// RFC3339 (fractional seconds and any offset allowed), compared as an instant. A record whose
// CallbackTime does not parse (for example "not-a-time") is served as if it were at the time
// of its neighbours: Add gives it the serving instant of the nearest preceding record of the
// same Add call whose time parses (else the nearest following one, else the clock's now).
// AddAt sets the serving instant explicitly. Query windows, ordering and Records all use the
// serving instant.
//
// # What the documentation leaves open
//
// The API documents no order of CallbackInfoList, no result cap, not how its limits count
// and not whether ListDomainDetail lists every domain with history. By default the simulator
// answers in time order (ties in insertion order), uncapped, with exact 31 × 24 h and
// 366 × 24 h limits, and lists every domain. Config (and cmd/livesim's flags) make it behave
// in each other allowed way, alone or together: Order (ties shuffled per request, newest
// first, fully shuffled per request; paging cuts each request's own sequence, so unstable
// orders skip and repeat records across pages), ResultCap (TotalCount and serving stop at
// the cap), MaxSpanDays, MaxHistoryDays and LimitCounting (shorter limits, counted inclusive
// of both ends or in UTC+8 calendar days), UnlistedDomains (records served, domain not
// listed). BurstSize and AddBurst make dense data: many records in one second.
//
// # Limits, rate and faults
//
// DescribeLiveCallbackData answers HTTP 400 InvalidParam (counted in Stats) for a missing or
// non-RFC3339 StartTime/EndTime, EndTime before StartTime, a span over MaxSpanDays (31), a
// StartTime older than MaxHistoryDays (366) before Now, counted as LimitCounting says,
// PageNum outside [1, 10000] and PageSize outside [1, 1000].
// Authentication comes first (401 InvalidAccessKey, 403 SignatureDoesNotMatch), then the
// rate limit: more than RateLimit requests of one access key in a sliding second (both
// actions) get 429 FlowLimitExceeded (CodeN 100018). Only admitted requests occupy the
// window, so a client that backs off recovers; every request, throttled or not, is in the
// log and in MaxInAnySecond. Stats.Throttled counts only the limiter's 429s, not injected
// FaultThrottle ones (Stats.Faults counts those). Faults are drawn, after validation, for
// DescribeLiveCallbackData only; a FaultDrift draw on page 1 changes nothing.
//
// # What it must not do
//
// It holds everything in memory and never touches a database or the network beyond its own
// listener. It never logs. It is not a faithful model of the service's performance.
package livesim
