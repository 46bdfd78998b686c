package extract

import (
	"strings"
	"testing"
)

func TestClassifyFollowsTheErrorTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		code   string
		want   Class
	}{
		{"HTTP 200 CommonErr is an error and is retried", 200, "CommonErr", ClassRetry},
		{"any error on a 200 is retried", 200, "SomethingNew", ClassRetry},
		{"InvalidParam fails fast", 400, "InvalidParam", ClassFatal},
		{"InvalidParam.BindError fails fast", 400, "InvalidParam.BindError", ClassFatal},
		{"RequestForbidden fails fast", 403, "RequestForbidden", ClassFatal},
		{"ResourceNotFound gets a few retries", 404, "ResourceNotFound", ClassRetryFew},
		{"InternalError is retried", 500, "InternalError", ClassRetry},
		{"InternalServiceError is retried", 502, "InternalServiceError", ClassRetry},
		{"InternalServiceError.BadResponse is retried", 502, "InternalServiceError.BadResponse", ClassRetry},
		{"InternalServiceTimeout is retried", 504, "InternalServiceTimeout", ClassRetry},
		{"FlowLimitExceeded throttles", 429, "FlowLimitExceeded", ClassThrottle},
		{"429 without a code throttles", 429, "", ClassThrottle},
		{"transport errors are retried", 0, "TransportError", ClassRetry},
		{"SignatureDoesNotMatch fails fast", 403, "SignatureDoesNotMatch", ClassFatal},
		{"InvalidAccessKey fails fast", 401, "InvalidAccessKey", ClassFatal},
		{"an unknown 4xx fails fast", 418, "Teapot", ClassFatal},
		{"an unknown 5xx is retried", 503, "", ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := classify(tt.status, tt.code); got != tt.want {
				t.Errorf("classify(%d, %q) = %v, want %v", tt.status, tt.code, got, tt.want)
			}
		})
	}
}

func TestAPIErrorNamesStatusCodeRequestAndWhatToCheck(t *testing.T) {
	t.Parallel()
	e := &APIError{Action: ActionDescribe, HTTPStatus: 403, Code: "SignatureDoesNotMatch", RequestID: "req-1",
		Message: "signature mismatch", Class: ClassFatal, Attempts: 1}
	msg := e.Error()
	for _, want := range []string{"DescribeLiveCallbackData", "403", "SignatureDoesNotMatch", "req-1", "VOLC_SECRETKEY"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestFilterKeyIsCanonical(t *testing.T) {
	t.Parallel()
	a := Filter{EventTypes: []string{"push_end", "push_start"}, Statuses: []string{"fail"}}
	b := Filter{EventTypes: []string{"push_start", "push_end"}, Statuses: []string{"fail"}}
	if a.Key() != b.Key() {
		t.Errorf("keys differ by order: %q vs %q", a.Key(), b.Key())
	}
	if (Filter{}).Key() != "" {
		t.Errorf("empty filter key = %q, want empty", (Filter{}).Key())
	}
	if a.Key() == (Filter{EventTypes: []string{"push_end"}}).Key() {
		t.Error("different filters share a key")
	}
}
