package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"go.uber.org/zap"

	"github.com/cbarchive/cbarchive/extract"
	"github.com/cbarchive/cbarchive/load"
	"github.com/cbarchive/cbarchive/transform"
)

// verifyPageSize is the page size of verify --content's reads: the largest, so that most
// windows are proven complete in one request.
const verifyPageSize = 1000

// maxExamples is how many examples of each kind of difference verify --content prints.
const maxExamples = 5

// verifyContent compares, per domain and UTC day, the records a provably complete read of the
// API returns with the archive's rows, as multisets of content hashes per identity.
func verifyContent(e *env, s *Settings, a *archive, domains []string, start, end time.Time) error {
	filter := s.filter()
	qf := extract.Filter{App: filter.App, Stream: filter.Stream, EventTypes: filter.EventTypes}
	reader := extract.NewReader(extract.ReaderConfig{Source: a.client, Learned: extract.NewLearned(a.log),
		PageSize: verifyPageSize, Logger: a.log})
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tDAY\tAPI\tARCHIVE\tMISSING\tEXTRA\tCHANGED\tRESULT")
	var total contentDiff
	var examples []string
	checked, differing, unproven, rejects := 0, 0, 0, 0
	for _, d := range domains {
		for day := start.UTC().Truncate(24 * time.Hour); !day.After(end); day = day.Add(24 * time.Hour) {
			qs, qe, ok := verifyDay(day, start, end, time.Now())
			if !ok {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\toutside the API's history\n", d, day.Format(time.DateOnly))
				continue
			}
			// Half-open, whole seconds: qs rounded up (it may be the history's horizon), qe's
			// second included.
			from, to := qs.Truncate(time.Second), qe.Add(time.Second)
			if from.Before(qs) {
				from = from.Add(time.Second)
			}
			rd, err := readProvably(e.ctx, reader, extract.Query{Domain: d, Filter: qf}, from, to)
			if err != nil {
				return a.abort(e, fmt.Errorf("verify --content %s %s: %w", d, day.Format(time.DateOnly), err))
			}
			archived, err := a.store.ContentRows(e.ctx, load.ContentQuery{Domain: d, From: from, To: to,
				App: qf.App, Stream: qf.Stream, EventTypes: qf.EventTypes})
			if err != nil {
				return a.abort(e, fmt.Errorf("verify --content %s %s: %w", d, day.Format(time.DateOnly), err))
			}
			// The seconds the read could not prove were not read: their archived rows are not
			// compared either (they are reported below as not provable, not as extra).
			archived = slices.DeleteFunc(archived, func(r load.ContentRow) bool {
				return slices.ContainsFunc(rd.unproven, func(g extract.Gap) bool { return g.Window.Keeps(r.CallbackTime) })
			})
			diff := compareContent(d, rd.rows, archived)
			checked++
			rejects += rd.rejects
			result := "ok"
			if diff.any() {
				differing++
				result = "DIFFERENT"
			}
			if len(rd.unproven) > 0 {
				secs := 0
				for _, g := range rd.unproven {
					secs += int(g.Window.End.Sub(g.Window.Start) / time.Second)
				}
				unproven += secs
				result += fmt.Sprintf("; %d second(s) not read provably complete, first %s: %s",
					secs, rd.unproven[0].Window, rd.unproven[0].Reason)
			}
			total = total.add(diff)
			for _, x := range diff.examples {
				if countKind(examples, x.kind) < maxExamples {
					examples = append(examples, x.kind+" "+x.text)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", d, day.Format(time.DateOnly), len(rd.rows), len(archived),
				diff.missing, diff.extra, diff.changed, result)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(examples) > 0 {
		fmt.Fprintln(e.stdout, "examples:")
		for _, x := range examples {
			fmt.Fprintln(e.stdout, "  "+x)
		}
	}
	fields := []zap.Field{zap.String("command", a.cmd), zap.Bool("content", true), zap.Int("domains", len(domains)),
		zap.Int("days_checked", checked), zap.Int("days_different", differing), zap.Int("records_missing", total.missing),
		zap.Int("records_extra", total.extra), zap.Int("records_changed", total.changed),
		zap.Int("seconds_unproven", unproven), zap.Int("records_rejected", rejects), zap.Duration("duration", time.Since(a.started))}
	if rejects > 0 {
		fmt.Fprintf(e.stdout, "verify: %d record(s) the archive cannot hold (see callback_rejects) were not compared\n", rejects)
	}
	if differing > 0 || unproven > 0 {
		fmt.Fprintf(e.stdout, "verify: %d domain(s), %d day(s) compared, %d differ: %d missing, %d extra, %d changed; %d second(s) could not be read provably complete. Run cbarchive backfill --reconcile over the range to repair it\n",
			len(domains), checked, differing, total.missing, total.extra, total.changed, unproven)
		a.log.Error("run finished", append(fields, zap.String("outcome", load.OutcomeFailed), zap.Int("exit_code", exitFailed))...)
		return &failedError{n: differing + unproven}
	}
	fmt.Fprintf(e.stdout, "verify: %d domain(s), %d day(s) compared, the archive's records equal a complete read of the API\n", len(domains), checked)
	a.log.Info("run finished", append(fields, zap.String("outcome", load.OutcomeSuccess), zap.Int("exit_code", exitOK))...)
	return nil
}

func countKind(examples []string, kind string) int {
	n := 0
	for _, x := range examples {
		if len(x) > len(kind) && x[:len(kind)+1] == kind+" " {
			n++
		}
	}
	return n
}

// provenRead is what readProvably read of a range.
type provenRead struct {
	rows     []load.ContentRow // every record of the range, Ordinal -1
	rejects  int               // records the archive cannot hold (unparseable time and the like)
	unproven []extract.Gap     // parts that could not be read provably complete, and why
}

// readProvably reads the half-open range [from, to) of whole seconds through the archive's
// own reader (extract.Reader: the same windows, the same proof of completeness whatever order
// and caps the API answers with, the same narrowing of refused queries as sync and backfill).
// What it cannot prove (a second holding a page or more of records, a range past the API's
// history) comes back in unproven.
func readProvably(ctx context.Context, reader *extract.Reader, q extract.Query, from, to time.Time) (provenRead, error) {
	var out provenRead
	var stats extract.Stats
	for cur := from; cur.Before(to); {
		wr, err := reader.Read(ctx, q, extract.NewWindow(cur, to), &stats)
		if err != nil {
			return out, err
		}
		if !wr.Window.End.After(cur) {
			return out, fmt.Errorf("read %s..%s: the reader made no progress at %s", from.UTC().Format(time.RFC3339),
				to.UTC().Format(time.RFC3339), cur.UTC().Format(time.RFC3339))
		}
		for i := range wr.Records {
			row, err := transform.Normalize(wr.Records[i])
			if err != nil {
				out.rejects++
				continue
			}
			out.rows = append(out.rows, load.ContentRow{CallbackTime: row.CallbackTime, App: row.App, Stream: row.Stream,
				EventType: row.EventType, Status: row.Status, ResponseCode: row.ResponseCode,
				IdentityHash: row.IdentityHash, Ordinal: -1, ContentHash: row.ContentHash})
		}
		out.rejects += len(wr.Rejects)
		out.unproven = append(out.unproven, wr.Gaps...)
		cur = wr.Window.End
	}
	return out, nil
}

// contentDiff counts the differences of one comparison, with examples.
type contentDiff struct {
	missing, extra, changed int
	examples                []example
}

type example struct{ kind, text string }

func (d contentDiff) any() bool { return d.missing+d.extra+d.changed > 0 }

func (d contentDiff) add(o contentDiff) contentDiff {
	return contentDiff{missing: d.missing + o.missing, extra: d.extra + o.extra, changed: d.changed + o.changed}
}

// compareContent compares, identity by identity, the multisets of content hashes of a
// complete read and of the archive. Of an identity's records that the other side lacks,
// pairs (one in the archive, one read) are changed records — the same identity with another
// response side — and the rest are extra (archive only) or missing (read only).
func compareContent(domain string, read, archived []load.ContentRow) contentDiff {
	type side struct{ read, archived []load.ContentRow }
	byID := map[string]*side{}
	var ids []string
	get := func(id []byte) *side {
		k := string(id)
		sd := byID[k]
		if sd == nil {
			sd = &side{}
			byID[k] = sd
			ids = append(ids, k)
		}
		return sd
	}
	for _, r := range read {
		sd := get(r.IdentityHash)
		sd.read = append(sd.read, r)
	}
	for _, r := range archived {
		sd := get(r.IdentityHash)
		sd.archived = append(sd.archived, r)
	}
	slices.Sort(ids)
	var d contentDiff
	for _, id := range ids {
		sd := byID[id]
		onlyRead, onlyArchived := unmatched(sd.read, sd.archived), unmatched(sd.archived, sd.read)
		pairs := min(len(onlyRead), len(onlyArchived))
		d.changed += pairs
		d.missing += len(onlyRead) - pairs
		d.extra += len(onlyArchived) - pairs
		for i := range pairs {
			d.examples = append(d.examples, example{"CHANGED", fmt.Sprintf("%s ordinal %d: archive %s, API %s",
				describeRow(domain, onlyArchived[i]), onlyArchived[i].Ordinal, responseSide(onlyArchived[i]), responseSide(onlyRead[i]))})
		}
		for _, r := range onlyRead[pairs:] {
			d.examples = append(d.examples, example{"MISSING", describeRow(domain, r) + " " + responseSide(r) + ": in the API, not in the archive"})
		}
		for _, r := range onlyArchived[pairs:] {
			d.examples = append(d.examples, example{"EXTRA", fmt.Sprintf("%s ordinal %d %s: in the archive, not in a complete read of the API",
				describeRow(domain, r), r.Ordinal, responseSide(r))})
		}
	}
	return d
}

// unmatched returns the rows of a whose content hash b does not hold as many times (a − b as
// multisets of content hashes), in a's order.
func unmatched(a, b []load.ContentRow) []load.ContentRow {
	have := map[string]int{}
	for _, r := range b {
		have[string(r.ContentHash)]++
	}
	var out []load.ContentRow
	for _, r := range a {
		if k := string(r.ContentHash); have[k] > 0 {
			have[k]--
			continue
		}
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(x, y load.ContentRow) int { return bytes.Compare(x.ContentHash, y.ContentHash) })
	return out
}

func describeRow(domain string, r load.ContentRow) string {
	return fmt.Sprintf("%s %s %s/%s %s", domain, r.CallbackTime.UTC().Format(time.RFC3339Nano), r.App, r.Stream, r.EventType)
}

func responseSide(r load.ContentRow) string {
	code := "-"
	if r.ResponseCode != nil {
		code = strconv.Itoa(int(*r.ResponseCode))
	}
	return "status=" + r.Status + " code=" + code
}
