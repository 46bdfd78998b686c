package livesim

import (
	"crypto/hmac"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/volcengine/volc-sdk-golang/base"
)

const xDateLayout = "20060102T150405Z"

// authorization is the parsed Authorization header of a V4-signed request.
type authorization struct {
	accessKey     string
	signedHeaders []string
}

var errNoAuth = errors.New("missing or malformed Authorization header")

// parseAuthorization parses "HMAC-SHA256 Credential=AK/date/region/service/request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authorization, error) {
	rest, ok := strings.CutPrefix(h, "HMAC-SHA256 ")
	if !ok {
		return authorization{}, errNoAuth
	}
	var a authorization
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			a.accessKey, _, _ = strings.Cut(v, "/")
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		}
	}
	if a.accessKey == "" {
		return authorization{}, errNoAuth
	}
	return a, nil
}

// verifySignature recomputes the request's signature with the SDK's own signer, from the
// headers the client says it signed and the request's X-Date, and compares Authorization.
func verifySignature(r *http.Request, body []byte, a authorization, accessKey, secretKey string) error {
	date, err := time.Parse(xDateLayout, r.Header.Get("X-Date"))
	if err != nil {
		return errors.New("missing or malformed X-Date header")
	}
	headers := http.Header{}
	for _, name := range a.signedHeaders {
		if name == "host" || name == "" {
			continue
		}
		if v := r.Header.Values(name); len(v) > 0 {
			headers[http.CanonicalHeaderKey(name)] = v
		}
	}
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	want := base.GetSignRequest(base.RequestParam{
		Body:      body,
		Method:    r.Method,
		Date:      date,
		Path:      path,
		Host:      r.Host,
		QueryList: r.URL.Query(),
		Headers:   headers,
	}, base.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, Region: Region, Service: Service})
	if !hmac.Equal([]byte(want.Authorization), []byte(r.Header.Get("Authorization"))) {
		return errors.New("the request signature does not match")
	}
	return nil
}
