package pipeline

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/cbarchive/cbarchive/livesim"
)

// A domain with records that ListDomainDetail does not list is found by account-wide counts,
// logged, recorded, and archived exactly.
func TestAnUnlistedDomainIsFoundRecordedAndArchived(t *testing.T) {
	t.Parallel()
	end := time.Now().Add(-5 * time.Minute)
	h := newHarness(t, livesim.Config{Seed: 25, Domains: []string{"a.example.com", "b.example.com"}, UnlistedDomains: []string{"gone.example.com"},
		RecordsPerDay: 30, DaysBack: 40, Order: livesim.OrderShuffle, Now: func() time.Time { return end }})
	ctx := context.Background()
	p := h.pipeline(opts{pageSize: 100, lookback: 41 * 24 * time.Hour})
	core, logs := observer.New(zap.WarnLevel)
	p.log = zap.New(core)
	found, err := p.Discover(ctx, h.sim.Domains())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found, []string{"gone.example.com"}) {
		t.Fatalf("found %v, want [gone.example.com]", found)
	}
	if logs.FilterMessageSnippet("not listed by ListDomainDetail").FilterField(zap.String("domain", "gone.example.com")).Len() != 1 {
		t.Errorf("no warning names the unlisted domain; logs: %v", logs.All())
	}
	if n := h.count("SELECT count(*) FROM discovered_domains WHERE domain = 'gone.example.com'"); n != 1 {
		t.Errorf("discovered_domains holds %d rows for the domain, want 1", n)
	}
	mustSucceed(t, p.Sync(ctx, append(h.sim.Domains(), found...)))
	h.assertExactUpToWatermarks()
	if n := h.count("SELECT count(*) FROM callback_records WHERE domain = 'gone.example.com'"); n < 1000 {
		t.Errorf("%d records of the unlisted domain archived", n)
	}
	// With every domain known, nothing is found.
	found, err = h.pipeline(opts{pageSize: 100}).Discover(ctx, []string{"a.example.com", "b.example.com", "gone.example.com"})
	if err != nil || len(found) != 0 {
		t.Errorf("with every domain listed: found %v (%v)", found, err)
	}
}
