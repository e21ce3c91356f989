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
// --wait alike — and tells it what each answer says. It sends again, itself,
// what the service refused without acting on it: a 429 (throttling never
// reaches the caller, never uses up its retries, and is bounded only by the
// throttle budget; the request waits in Pacer.Wait with the whole pool, or,
// for a refusal the pacer finds independent of the rate, alone for the wait
// Pacer.Done returns), a 503 or a refused connection (during an outage without
// limit but the outage budget; otherwise up to the policy's retries). A
// request whose body cannot be produced again (no GetBody) is sent once.
type Transport struct {
	Pacer *Pacer
	Next  http.RoundTripper
	// RetryAfter reads an answer's Retry-After; when nil, only a delay in
	// seconds is read.
	RetryAfter func(http.Header) time.Duration
}

// RoundTrip sends req, waiting and sending again as the pacer says.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	unavailable := 0
	for n := 1; ; n++ {
		tk, err := t.Pacer.Wait(req.Context())
		if err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
		r := req
		if n > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				t.Pacer.Done(tk, None, 0)
				return nil, err
			}
			r = req.Clone(req.Context())
			r.Body = body
		}
		resp, err := t.Next.RoundTrip(r)
		sig, retryAfter, resend := t.classify(resp, err)
		if err != nil && req.Context().Err() != nil {
			sig = None // given up: no answer came, none was missed
		}
		if sig == Unreachable && !t.Pacer.Answered() {
			// Nothing listens there, and nothing ever did in this run:
			// the setup is wrong, and waiting will not change it.
			resend = false
		}
		hold := t.Pacer.Done(tk, sig, retryAfter)
		if !resend || !replayable || req.Context().Err() != nil {
			return resp, err
		}
		if (sig == Unavailable || sig == Unreachable) && !t.Pacer.Outage() {
			// A 503 or a refused connection while the service is not down
			// as a whole: a few more tries, apart.
			unavailable++
			if unavailable > t.Pacer.Policy().Retries {
				return resp, err
			}
			if err := t.Pacer.Backoff(req.Context(), unavailable, retryAfter); err != nil {
				discard(resp)
				return nil, err
			}
		}
		discard(resp)
		if hold > 0 {
			// A refusal that does not depend on the rate: this request
			// alone waits for its Retry-After.
			if err := t.Pacer.clock.Sleep(req.Context(), hold); err != nil {
				return nil, err
			}
		}
	}
}

func discard(resp *http.Response) {
	if resp != nil {
		_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
		resp.Body.Close()
	}
}

// classify reads what an answer says of the service's capacity, and whether
// the request may be sent again as it is because the service did not act
// on it.
func (t *Transport) classify(resp *http.Response, err error) (sig Signal, retryAfter time.Duration, resend bool) {
	if err != nil {
		switch {
		case isDialError(err):
			return Unreachable, 0, true // never reached the service
		case isDropped(err):
			return Unavailable, 0, false // may have reached it: the caller asks
		}
		return OK, 0, false
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return Throttled, t.retryAfter(resp.Header), true
	case http.StatusServiceUnavailable:
		return Unavailable, t.retryAfter(resp.Header), true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return Unavailable, t.retryAfter(resp.Header), false
	}
	return OK, 0, false
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
