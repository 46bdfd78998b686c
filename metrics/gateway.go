package metrics

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/cbarchive/cbarchive/internal/redact"
)

// wantForm is the accepted form of a Pushgateway URL, for error messages.
const wantForm = "give http(s)://[user:password@]host[:port][/path], e.g. http://pushgateway:9091"

// gateway is a Pushgateway URL taken apart: the base URL without credentials, which is all
// the push library ever sees (so none of its errors can carry the password), and the
// credentials, sent as basic auth.
type gateway struct {
	base     string // scheme://host[:port][/path], no user info, no trailing slash
	user     *url.Userinfo
	redacted string // the value as given, password replaced: the only form put in errors
}

// ValidateURL checks a --pushgateway value: an http or https URL with a host, an optional port
// (1..65535), optional basic-auth credentials and an optional base path, and no query or
// fragment. The error names the value, with its password redacted, and the accepted form.
func ValidateURL(s string) error {
	_, err := parseGateway(s)
	return err
}

func parseGateway(s string) (gateway, error) {
	shown := redact.URL(s)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("pushgateway URL %q %s: %s", shown, fmt.Sprintf(format, args...), wantForm)
	}
	if strings.TrimSpace(s) == "" {
		return gateway{}, fmt.Errorf("pushgateway URL is empty: %s", wantForm)
	}
	if _, _, ok := redact.SplitScheme(s); !ok {
		return gateway{}, bad("has no scheme")
	}
	u, err := url.Parse(s)
	if err != nil {
		// The *url.Error's text repeats the whole value, password included: show only its cause,
		// scrubbed of what redact took for the password in case the cause quotes it.
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err
		}
		return gateway{}, bad("is not a URL (%s)", redact.Text(cause.Error(), redact.Password(s)))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return gateway{}, bad("has scheme %q", u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return gateway{}, bad("has no host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return gateway{}, bad("has a query or fragment, which the push path cannot follow")
	case strings.Contains(u.Path+"/", "/metrics/"):
		return gateway{}, bad("has a /metrics/ path, which cbarchive adds itself (/metrics/job/cbarchive/command/<command>)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return gateway{}, bad("has port %s out of range 1..65535", p)
		}
	}
	g := gateway{user: u.User, redacted: shown}
	u.User = nil
	g.base = strings.TrimSuffix(u.String(), "/")
	return g, nil
}
