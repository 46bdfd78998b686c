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
// # What it must not do
//
// It holds everything in memory and never touches a database or the network beyond its own
// listener. It never logs. It is not a faithful model of the service's performance.
package livesim
