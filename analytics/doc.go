// Package analytics holds the checks of the analysts' layer: the views and rollup of migrations
// 00020–00021, the guide docs/analysts.md and the Grafana dashboard deploy/grafana.
//
// Its tests run every SQL block of the guide and every panel query of the dashboard against
// seeded data with known answers, check with EXPLAIN that a one-day query prunes to one partition
// and uses an index, and check the cbarchive_reader role's privileges. The query benchmark on a
// generated archive of millions of rows is a separate command, cmd/querybench.
//
// The package reads files and a database; it never writes outside its own test databases.
package analytics
