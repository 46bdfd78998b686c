package load

import (
	"context"
	"fmt"
	"time"
)

// DiscoveredDomain is a row of discovered_domains: a domain with records that ListDomainDetail
// does not list.
type DiscoveredDomain struct {
	Domain                  string
	FirstFoundAt, LastFound time.Time
	RunID                   string
}

// RecordDiscovered records that runID found domain by account-wide counts.
func (s *Store) RecordDiscovered(ctx context.Context, domain, runID string) error {
	if _, err := s.pool.Exec(ctx, `
		INSERT INTO discovered_domains (domain, run_id) VALUES ($1, $2)
		ON CONFLICT (domain) DO UPDATE SET last_found_at = now(), run_id = EXCLUDED.run_id`,
		pgText(domain), runID); err != nil {
		return fmt.Errorf("record discovered domain %q: %w", domain, translate(err))
	}
	return nil
}

// DiscoveredDomains returns every domain found by account-wide counts, by name.
func (s *Store) DiscoveredDomains(ctx context.Context) ([]DiscoveredDomain, error) {
	rows, err := s.pool.Query(ctx, `SELECT domain, first_found_at, last_found_at, run_id FROM discovered_domains ORDER BY domain`)
	if err != nil {
		return nil, fmt.Errorf("read discovered_domains: %w", translate(err))
	}
	defer rows.Close()
	var out []DiscoveredDomain
	for rows.Next() {
		var d DiscoveredDomain
		if err := rows.Scan(&d.Domain, &d.FirstFoundAt, &d.LastFound, &d.RunID); err != nil {
			return nil, fmt.Errorf("read discovered_domains: %w", translate(err))
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read discovered_domains: %w", translate(err))
	}
	return out, nil
}
