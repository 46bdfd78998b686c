// Package extract reads call-back records out of the Volcengine Live API.
//
// It owns everything that talks to the API: the signed client over the official SDK, the
// classification of every answer (HTTP 200 answers included) into typed errors, retries with
// backoff, the process-wide rate limiter, the planning of query windows from a checkpoint
// (31-day span, 366-day history, settle and overlap), and the pagination of a window with
// drift detection and splitting.
//
// It must not write to the database or normalize records: it yields callback.Record values
// page by page and leaves the rest to transform and load.
package extract
