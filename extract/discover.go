package extract

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
)

// Discover finds domains that have records in w but are not in known (for example a domain
// deleted from the account, whose history ListDomainDetail no longer lists but the API still
// serves). It compares the account-wide TotalCount of a window (no DomainList) with the
// TotalCount for DomainList = known: where the account holds more, it halves the window until
// the account-wide answer is one provably complete page, and reads the Domain of its records.
// Counts are compared only when they can be trusted (see Learned: a count that may be capped
// is not). It costs two requests per window where nothing is missing.
func (r *Reader) Discover(ctx context.Context, q Query, w Window, known []string, stats *Stats) ([]string, error) {
	isKnown := make(map[string]bool, len(known))
	for _, d := range known {
		isKnown[d] = true
	}
	known = slices.Clone(known)
	var found []string
	p := r.cfg.PageSize
	var visit func(w Window) error
	visit = func(w Window) error {
		if w.QuerySpan() > r.cfg.Learned.MaxSpan() {
			for _, part := range SplitWindow(w, 2) {
				if err := visit(part); err != nil {
					return err
				}
			}
			return nil
		}
		for range 2 * maxDriftRereads {
			aq := q
			aq.Domain, aq.Domains = "", nil
			all, err := r.describe(ctx, aq, w, 1, p, stats)
			if err != nil {
				return fmt.Errorf("discover domains in %s: account-wide query: %w", w, err)
			}
			trusted := r.cfg.Learned.trust(all.TotalCount, p)
			if trusted && all.TotalCount <= p && len(all.Records) == all.TotalCount {
				// The whole account's records of the window are on this page.
				for i := range all.Records {
					if d := all.Records[i].Domain; d != "" && !isKnown[d] {
						isKnown[d] = true
						known = append(known, d)
						found = append(found, d)
					}
				}
				return nil
			}
			if len(known) > 0 && trusted {
				kq := q
				kq.Domain, kq.Domains = "", known
				kn, err := r.describe(ctx, kq, w, 1, 1, stats)
				if err != nil {
					return fmt.Errorf("discover domains in %s: query of the known domains: %w", w, err)
				}
				if kn.TotalCount == all.TotalCount {
					return nil // nothing outside the known domains
				}
				if kn.TotalCount > all.TotalCount {
					continue // records moved between the two counts: count again
				}
			}
			if w.End.Sub(w.Start) <= time.Second {
				// One second holds more than a page account-wide, and a domain we do not know
				// cannot be asked for by name: say so.
				r.log.Warn("domain discovery cannot read one second of the account completely; an unlisted domain with records only in it may be missed",
					zap.Time("second", w.Start))
				return nil
			}
			for _, part := range SplitWindow(w, 2) {
				if err := visit(part); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("discover domains in %s: counts kept moving", w)
	}
	if err := visit(w); err != nil {
		return found, err
	}
	return found, nil
}
