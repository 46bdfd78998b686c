package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	live "github.com/volcengine/volc-sdk-golang/service/live/v20230101"
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
	case <-time.After(20 * time.Second):
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
