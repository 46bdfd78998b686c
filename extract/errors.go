package extract

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Class says what the caller should do with a failed request.
type Class int

const (
	// ClassRetry: a transient failure (5xx, CommonErr, transport, timeout, a broken answer):
	// retry with backoff.
	ClassRetry Class = iota
	// ClassThrottle: the API's rate limit answered (429 FlowLimitExceeded): slow down and retry.
	ClassThrottle
	// ClassRetryFew: the API suggests a retry but it rarely helps (404 ResourceNotFound):
	// retry a few times, then report.
	ClassRetryFew
	// ClassFatal: retrying cannot help (bad parameters, bad credentials, forbidden).
	ClassFatal
)

func (c Class) String() string {
	switch c {
	case ClassRetry:
		return "retry"
	case ClassThrottle:
		return "throttle"
	case ClassRetryFew:
		return "retry_few"
	default:
		return "fatal"
	}
}

// APIError is a failed API request, as the operator needs to see it.
type APIError struct {
	Action     string // e.g. DescribeLiveCallbackData
	HTTPStatus int    // 0 when no answer arrived
	Code       string // ResponseMetadata.Error.Code, or a local code such as "Timeout"
	CodeN      int
	Message    string
	RequestID  string
	Class      Class
	Attempts   int   // attempts made when the error was final
	Err        error // the transport or decoding error, if any
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Action)
	if e.HTTPStatus != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if h := e.Hint(); h != "" {
		b.WriteString("; ")
		b.WriteString(h)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// Hint tells the operator what to check for this error.
func (e *APIError) Hint() string {
	switch {
	case isAuthCode(e.Code) || e.HTTPStatus == 401:
		return "check VOLC_ACCESSKEY and VOLC_SECRETKEY (and CBARCHIVE_REGION) belong to the account"
	case e.Code == "RequestForbidden" || e.HTTPStatus == 403:
		return "check that the access key may call the Live API and owns the domains queried"
	case strings.HasPrefix(e.Code, "InvalidParam") || e.HTTPStatus == 400:
		return "the API rejected the query's parameters: check the filters and the time range; if they look right, report this with the request id"
	case e.Class == ClassThrottle:
		return "the account's rate limit was exceeded: lower --rate-limit or stop other clients of the same account"
	case e.Class == ClassRetryFew:
		return "the API says the resource does not exist: check the domain names"
	default:
		return "the API kept failing: check CBARCHIVE_ENDPOINT and the API's health, then re-run; committed progress is kept"
	}
}

func isAuthCode(code string) bool {
	switch code {
	case "SignatureDoesNotMatch", "InvalidAccessKey", "InvalidSecretKey", "MissingAuthenticationToken",
		"InvalidAuthorization", "InvalidTimestamp", "AccessDenied", "InvalidCredential":
		return true
	}
	return strings.HasPrefix(code, "Signature") || strings.HasPrefix(code, "InvalidAccessKey")
}

// classify decides what a failed answer means. httpStatus 0 means no answer (transport error).
func classify(httpStatus int, code string) Class {
	switch {
	case code == "FlowLimitExceeded" || httpStatus == 429:
		return ClassThrottle
	case code == "ResourceNotFound" || httpStatus == 404:
		return ClassRetryFew
	case strings.HasPrefix(code, "InvalidParam"), code == "RequestForbidden", isAuthCode(code):
		return ClassFatal
	case httpStatus == 0, httpStatus >= 500, httpStatus == 200:
		// transport errors, 5xx (InternalError, InternalServiceError(.BadResponse),
		// InternalServiceTimeout), and any error carried by an HTTP-200 answer (CommonErr).
		return ClassRetry
	case httpStatus == 408:
		return ClassRetry
	default:
		// other 4xx: bad request, unauthorized, forbidden and the like.
		return ClassFatal
	}
}

// IsCredentialError reports whether err is the API refusing the credentials or the key's rights
// (a signature or key error, 401, 403 RequestForbidden): a retry cannot fix it, the operator must
// fix VOLC_ACCESSKEY, VOLC_SECRETKEY, CBARCHIVE_REGION or the key's permissions.
func IsCredentialError(err error) bool {
	var e *APIError
	if !errors.As(err, &e) {
		return false
	}
	return isAuthCode(e.Code) || e.Code == "RequestForbidden" || e.HTTPStatus == 401 || e.HTTPStatus == 403
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
