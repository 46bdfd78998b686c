package metrics

import (
	"net/url"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string // "" means valid
	}{
		{name: "host and port", in: "http://pushgateway:9091"},
		{name: "https", in: "https://push.example.com"},
		{name: "upper-case scheme", in: "HTTP://pushgateway:9091"},
		{name: "credentials", in: "https://user:p%40ss@push.example.com:443"},
		{name: "user without password", in: "http://user@pushgateway:9091"},
		{name: "base path behind a proxy", in: "https://example.com/pushgateway/"},
		{name: "IPv6", in: "http://[::1]:9091"},
		{name: "empty", in: "", wantErr: "is empty"},
		{name: "blank", in: "  ", wantErr: "is empty"},
		{name: "no scheme", in: "pushgateway:9091", wantErr: `"pushgateway:9091" has no scheme`},
		{name: "other scheme", in: "ftp://pushgateway", wantErr: `has scheme "ftp"`},
		{name: "no host", in: "http://", wantErr: "has no host"},
		{name: "port only", in: "http://:9091", wantErr: "has no host"},
		{name: "port zero", in: "http://pushgateway:0", wantErr: "port 0 out of range"},
		{name: "port too big", in: "http://pushgateway:65536", wantErr: "port 65536 out of range"},
		{name: "port not a number", in: "http://pushgateway:abc", wantErr: "is not a URL"},
		{name: "query", in: "http://pushgateway:9091?x=1", wantErr: "query or fragment"},
		{name: "fragment", in: "http://pushgateway:9091#x", wantErr: "query or fragment"},
		{name: "push path included", in: "http://pushgateway:9091/metrics/job/cbarchive", wantErr: "which cbarchive adds itself"},
		{name: "metrics path", in: "http://pushgateway:9091/metrics", wantErr: "which cbarchive adds itself"},
		{name: "password redacted", in: "ftp://u:topsecret@h", wantErr: `"ftp://u:xxxxx@h"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateURL(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateURL(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateURL(%q) = nil, want an error containing %q", tt.in, tt.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tt.wantErr)
			}
			if !strings.Contains(msg, "e.g. http://pushgateway:9091") {
				t.Errorf("error %q does not give the expected form", msg)
			}
		})
	}
}

func TestParseGateway_BaseURLHasNoCredentials(t *testing.T) {
	t.Parallel()
	g, err := parseGateway("https://user:pw@example.com:8443/pushgateway/")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://example.com:8443/pushgateway"; g.base != want {
		t.Errorf("base = %q, want %q", g.base, want)
	}
	if pw, _ := g.user.Password(); g.user.Username() != "user" || pw != "pw" {
		t.Errorf("user = %v, want user:pw", g.user)
	}
	if want := "https://user:xxxxx@example.com:8443/pushgateway/"; g.redacted != want {
		t.Errorf("redacted = %q, want %q", g.redacted, want)
	}
}

// FuzzValidateURL: no value, however malformed, panics, and a password that url.Parse finds in
// the user info never shows in the error.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{
		"http://pushgateway:9091", "https://u:secret@h:1/p", "u:secret@h", "http://u:sec ret@h",
		"http://u:secret@h:99999", "http://u:s@c:ret@h/x@y", "ftp://u:secret@h", "http://[::1",
		"http://u:secret@h/?q#f", "://u:secret@h", "HtTp://u:%zzsecret@h",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateURL(s)
		if err == nil {
			return
		}
		u, perr := url.Parse(s)
		if perr != nil || u.User == nil {
			return
		}
		pw, ok := u.User.Password()
		// A short password or one that also appears outside the user info may show legitimately.
		if !ok || len(pw) < 4 || strings.Count(s, pw) != 1 || strings.Index(s, pw) > strings.LastIndex(s, "@") {
			return
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("ValidateURL(%q) = %q shows the password %q", s, err, pw)
		}
	})
}
