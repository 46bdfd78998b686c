// Package extract reads call-back records out of the Volcengine Live API.
//
// It owns everything that talks to the API: the signed client over the official SDK, the
// classification of every answer (HTTP 200 answers included) into typed errors, retries with
// backoff, the process-wide rate limiter, the planning of query ranges from a checkpoint
// (settle, overlap, history), and the Reader: it reads a Window (the half-open [Start, End),
// queried with a one-second margin) and returns only what it can prove complete, whatever the
// order of the API's answers, a result cap, or how the API counts its span and history limits
// (see Reader.Read and Learned).
//
// It must not write to the database. It uses transform only to parse a record's CallbackTime
// and identity the way the archive does; it returns callback.Record values and leaves the rest
// to transform and load.
package extract
