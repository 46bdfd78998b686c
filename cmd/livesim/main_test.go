package main

import (
	"bytes"
	"context"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	live "github.com/volcengine/volc-sdk-golang/service/live/v20230101"

	"github.com/cbarchive/cbarchive/livesim"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envOf(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestBadFlagsExitTwoNamingFlagAndValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   func(string) string
		wants []string
	}{
		{"not a number", []string{"--seed", "abc"}, envOf(), []string{"seed", "abc"}},
		{"fault rate out of range", []string{"--fault-rate", "1.5", "--faults", "internal"}, envOf(), []string{"--fault-rate", "1.5"}},
		{"unknown fault class", []string{"--faults", "internal,boom"}, envOf(), []string{"--faults", "boom"}},
		{"records per day", []string{"--records-per-day", "-3"}, envOf(), []string{"--records-per-day", "-3"}},
		{"days back", []string{"--days-back", "0"}, envOf(), []string{"--days-back", "0"}},
		{"bad latency", []string{"--latency", "fast"}, envOf(), []string{"latency", "fast"}},
		{"bad env variable", nil, envOf("LIVESIM_RATE_LIMIT", "lots"), []string{"LIVESIM_RATE_LIMIT", "lots"}},
		{"empty domain", []string{"--domains", "a.example.com,,b"}, envOf(), []string{"--domains", "a.example.com,,b"}},
		{"rate without classes", []string{"--fault-rate", "0.1"}, envOf(), []string{"--fault-rate", "0.1"}},
		{"stray argument", []string{"serve"}, envOf(), []string{"serve"}},
		{"unknown order", []string{"--order", "random"}, envOf(), []string{"--order", "random", "shuffle-ties"}},
		{"unknown order in env", nil, envOf("LIVESIM_ORDER", "oldest"), []string{"--order", "oldest"}},
		{"negative result cap", []string{"--result-cap", "-1"}, envOf(), []string{"--result-cap", "-1"}},
		{"span longer than documented", []string{"--max-span-days", "32"}, envOf(), []string{"--max-span-days", "32", "1..31"}},
		{"history longer than documented", nil, envOf("LIVESIM_MAX_HISTORY_DAYS", "367"), []string{"--max-history-days", "367", "1..366"}},
		{"unknown limit counting", []string{"--limit-counting", "lunar"}, envOf(), []string{"--limit-counting", "lunar", "calendar"}},
		{"empty unlisted domain", []string{"--unlisted-domains", "x.example.com,"}, envOf(), []string{"--unlisted-domains", "x.example.com,"}},
		{"unlisted domain also listed", []string{"--domains", "x.example.com", "--unlisted-domains", "x.example.com"}, envOf(), []string{"x.example.com"}},
		{"negative burst", []string{"--burst-size", "-2"}, envOf(), []string{"--burst-size", "-2"}},
		{"bursts per day", []string{"--burst-size", "10", "--bursts-per-day", "0"}, envOf(), []string{"--bursts-per-day", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr syncBuffer
			if code := run(context.Background(), tt.args, tt.env, &stderr, nil); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
			}
			for _, w := range tt.wants {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not name %q", stderr.String(), w)
				}
			}
		})
	}
}

func TestServesSignedRequestsAndStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	ready := make(chan string, 1)
	done := make(chan int, 1)
	env := envOf("VOLC_ACCESSKEY", "AKTEST", "VOLC_SECRETKEY", "topsecret-value")
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--domains", "a.example.com,b.example.com",
			"--records-per-day", "50", "--days-back", "1", "--odd"}, env, &stderr, ready)
	}()
	var base string
	select {
	case base = <-ready:
	case code := <-done:
		t.Fatalf("exited %d: %s", code, stderr.String())
	case <-time.After(2 * time.Minute): // bounds a hang, not the start's speed
		t.Fatal("not ready")
	}
	u, _ := url.Parse(base)
	c := live.NewInstance()
	c.SetHost(u.Host)
	c.SetScheme("http")
	c.SetAccessKey("AKTEST")
	c.SetSecretKey("topsecret-value")
	now := time.Now()
	body := `{"StartTime":"` + now.Add(-2*time.Hour).Format(time.RFC3339) + `","EndTime":"` + now.Format(time.RFC3339) + `","PageSize":1000}`
	out, status, err := c.Client.CtxJson(context.Background(), "DescribeLiveCallbackData", url.Values{}, body)
	if err != nil || status != 200 || !strings.Contains(string(out), "not-a-time") {
		t.Fatalf("status %d err %v body %.300s", status, err, out)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	logs := stderr.String()
	if strings.Count(strings.TrimSpace(logs), "\n") != 0 || !strings.Contains(logs, base) {
		t.Errorf("want one startup line naming %s, got %q", base, logs)
	}
	if strings.Contains(logs, "topsecret-value") {
		t.Error("the secret key was logged")
	}
}

func TestBehaviourFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	env := envOf("LIVESIM_ORDER", "shuffle", "LIVESIM_RESULT_CAP", "10000", "LIVESIM_MAX_SPAN_DAYS", "30",
		"LIVESIM_MAX_HISTORY_DAYS", "365", "LIVESIM_LIMIT_COUNTING", "calendar", "LIVESIM_UNLISTED_DOMAINS", "gone.example.com",
		"LIVESIM_BURST_SIZE", "300", "LIVESIM_BURSTS_PER_DAY", "4")
	t.Run("environment", func(t *testing.T) {
		o, err := parseOptions(nil, env, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.cfg
		if c.Order != livesim.OrderShuffle || c.ResultCap != 10000 || c.MaxSpanDays != 30 || c.MaxHistoryDays != 365 ||
			c.LimitCounting != livesim.CountCalendar || len(c.UnlistedDomains) != 1 || c.UnlistedDomains[0] != "gone.example.com" ||
			c.BurstSize != 300 || c.BurstsPerDay != 4 {
			t.Fatalf("config from the environment: %+v", c)
		}
	})
	t.Run("flags win", func(t *testing.T) {
		o, err := parseOptions([]string{"--order", "newest-first", "--result-cap", "500", "--max-span-days", "7",
			"--max-history-days", "90", "--limit-counting", "inclusive", "--unlisted-domains", "a.example.com,b.example.com",
			"--burst-size", "0"}, env, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.cfg
		if c.Order != livesim.OrderNewestFirst || c.ResultCap != 500 || c.MaxSpanDays != 7 || c.MaxHistoryDays != 90 ||
			c.LimitCounting != livesim.CountInclusive || len(c.UnlistedDomains) != 2 || c.BurstSize != 0 {
			t.Fatalf("config from flags over the environment: %+v", c)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		o, err := parseOptions(nil, envOf(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := o.cfg
		if c.Order != livesim.OrderStable || c.ResultCap != 0 || c.MaxSpanDays != 31 || c.MaxHistoryDays != 366 ||
			c.LimitCounting != livesim.CountExact || c.UnlistedDomains != nil || c.BurstSize != 0 {
			t.Fatalf("default config: %+v", c)
		}
	})
	t.Run("help documents every behaviour", func(t *testing.T) {
		var out bytes.Buffer
		if code := run(context.Background(), []string{"--help"}, envOf(), &out, nil); code != 0 {
			t.Fatalf("--help exit %d", code)
		}
		for _, w := range []string{"-order", "LIVESIM_ORDER", "shuffle-ties", "newest-first", "-result-cap", "LIVESIM_RESULT_CAP",
			"-max-span-days", "LIVESIM_MAX_SPAN_DAYS", "-max-history-days", "LIVESIM_MAX_HISTORY_DAYS", "-limit-counting",
			"LIVESIM_LIMIT_COUNTING", "inclusive", "calendar", "-unlisted-domains", "LIVESIM_UNLISTED_DOMAINS", "-burst-size",
			"LIVESIM_BURST_SIZE", "LIVESIM_BURSTS_PER_DAY"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("--help does not mention %q", w)
			}
		}
	})
}
