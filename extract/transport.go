package extract

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"time"
)

// ticketKey carries a request's limiter Ticket from Client.call to the transport.
type ticketKey struct{}

// sentTracker tells the limiter when a request was actually written (after signing, after a
// connection was taken or dialled), so that the limiter's one-second guard counts it where
// the server will see it and later requests keep their distance.
type sentTracker struct {
	base http.RoundTripper
}

func (t *sentTracker) RoundTrip(req *http.Request) (*http.Response, error) {
	ticket, _ := req.Context().Value(ticketKey{}).(*Ticket)
	if ticket == nil {
		return t.base.RoundTrip(req)
	}
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { ticket.Sent(time.Now()) },
		WroteRequest: func(httptrace.WroteRequestInfo) { ticket.Sent(time.Now()) },
	}
	return t.base.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
}

func withTicket(ctx context.Context, t *Ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}
