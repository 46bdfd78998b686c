// Package metrics pushes the metrics of one cbarchive run to a Prometheus Pushgateway when the
// run ends, so that a CronJob that lives for minutes can still be watched and alerted on.
//
// # Grouping and what a push replaces
//
// Every push is an HTTP PUT to /metrics/job/cbarchive/command/<command>: the group
// {job="cbarchive", command="sync"|"backfill"|"verify"} then holds exactly the last run of that
// command. A domain that is not in the run disappears from the group, and so does
// cbarchive_run_last_success_timestamp_seconds when the run did not catch up (see ALERTS.md for
// alert rules that survive that). Prometheus must scrape the Pushgateway with honor_labels: true
// so that job and command stay as pushed.
//
// # Why the _total metrics are gauges
//
// A pushed value is scraped again and again until the next push replaces it, and each run
// starts from zero. A counter would therefore fall back at every run and rate() or increase()
// over it would mix runs with scrapes. So every metric is a gauge holding the last run's value:
// read cbarchive_records_total{domain="d",outcome="new"} as "the last sync inserted that many
// rows", not as a running total, and do not sum_over_time() it (each run is counted once per
// scrape). Totals over time live in PostgreSQL (sync_runs, callback_records).
//
// # Metrics
//
// All are gauges; besides the labels below each carries job="cbarchive" and command.
//
//   - cbarchive_run_duration_seconds: how long the run took.
//   - cbarchive_run_last_success_timestamp_seconds: Unix time at which the run ended; pushed only
//     when no domain failed or was cancelled, i.e. when the run exits 0. Alert on its age.
//   - cbarchive_records_total{domain, outcome}: the run's records by what the archive did with
//     them: outcome "new" (inserted), "updated" (response side changed), "unchanged" (already
//     archived, nothing written) or "rejected" (sent to callback_rejects).
//   - cbarchive_requests_total{domain}: API requests the run sent.
//   - cbarchive_retries_total{domain, class}: retried requests by error class ("retry",
//     "throttle", "retry_few", as package extract names them), or class "all" when the run did
//     not split them.
//   - cbarchive_domain_failures{domain}: 1 when the domain failed, else 0.
//   - cbarchive_domain_lag_seconds{domain}: now minus the domain's watermark after the run;
//     absent when unknown (e.g. a backfill, which never moves a watermark).
//   - cbarchive_domains{outcome}: domains by outcome; success, failed, cancelled and skipped
//     are always present, 0 included.
//
// # What this package must not do
//
// It keeps no global state and never touches prometheus.DefaultRegisterer: each push builds its
// metrics in the push's own fresh registry. It does not log, read the environment or decide a
// run's exit code: a failed push is an error for the caller to log, and the archive's work is
// committed either way. Its errors never contain the password of a Pushgateway URL.
package metrics
