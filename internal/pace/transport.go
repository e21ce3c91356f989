package pace

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Transport is an http.RoundTripper that paces every request of a run
// through one Pacer — uploads, lookups, listings, deletes and the polls of
// --wait alike — and tells it what each answer says of the service's
// capacity. It sends each request once: trying again is the retrier's
// (internal/retry), whose next try this transport then holds as long as
// the pacer says (a Retry-After, an outage).
type Transport struct {
	Pacer *Pacer
	Next  http.RoundTripper
	// RetryAfter reads an answer's Retry-After; when nil, only a delay in
	// seconds is read.
	RetryAfter func(http.Header) time.Duration
}

// RoundTrip waits for the pacer's leave, sends req, and reports the answer.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	tk, err := t.Pacer.Wait(req.Context())
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.Next.RoundTrip(req)
	sig, retryAfter := t.classify(resp, err)
	if err != nil && req.Context().Err() != nil {
		sig = None // given up: no answer came, none was missed
	}
	t.Pacer.Done(tk, sig, retryAfter)
	return resp, err
}

// classify reads what an answer says of the service's capacity.
func (t *Transport) classify(resp *http.Response, err error) (sig Signal, retryAfter time.Duration) {
	if err != nil {
		switch {
		case isDialError(err):
			return Unreachable, 0 // never reached the service
		case isDropped(err):
			return Unavailable, 0
		}
		return OK, 0
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return Throttled, t.retryAfter(resp.Header)
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return Unavailable, t.retryAfter(resp.Header)
	}
	return OK, 0
}

func (t *Transport) retryAfter(h http.Header) time.Duration {
	if t.RetryAfter != nil {
		return t.RetryAfter(h)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After")), 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(min(secs, 300) * float64(time.Second))
}

// isDialError reports a connection that could not be made: refused, no
// route, name not resolved, connect timeout. Nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED)
}

// isDropped reports a connection that broke or went silent in the middle of
// an exchange: reset, closed early, or a stall (a timeout).
func isDropped(err error) bool {
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return true
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
