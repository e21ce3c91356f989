// Package retry owns the one retry policy of a run: which failures of a
// request to the service are worth another try, how long to wait before it
// (backoff with full jitter, or the service's Retry-After, on the pacer's
// clock), how many tries a request gets (--retries), and the decorator,
// Service, that applies it once to every request of a run — uploads,
// replacements, lookups, listing pages, gets, deletes, the polls of --wait
// and the preflight's questions. A refusal for the quota (429) and the
// failures of an outage use no try: the pacer holds every request until
// the service serves again, and its budgets end a run that waits too long.
// A request that may have been carried out without an answer (an upload
// sent whole) is sent again only when that is harmless, and an upload only
// after asking the service whether it has it. A request that waits alone
// (refusals that do not follow the rate) gives its place in its pool back
// meanwhile (Slot); one waiting for its next try when its run stops is
// withdrawn (WithdrawnError). Each retry is reported to a callback.
package retry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
)

// Retry describes one retry, for the callback.
type Retry struct {
	// Op names the request ("upload", "list files", ...).
	Op string
	// Try is the number of the try about to be made (2 for the first
	// retry); tries that used none of --retries (throttled, an outage)
	// count too.
	Try int
	// Err is what the last try ended with.
	Err error
	// Wait is how long the retrier waits before the next try (the
	// pacer may hold it longer).
	Wait time.Duration
}

// Options configure a Retrier.
type Options struct {
	// OnRetry, when set, is told of each retry. It must be safe for
	// concurrent use.
	OnRetry func(Retry)
	// RetryRefused retries a connection refused before the service has
	// answered anything in this run (the preflight, which rides out a
	// restart for as long as its context allows); otherwise that is a
	// mistake of setup and ends at once.
	RetryRefused bool
	// Until, when set, replaces the policy's number of retries by a
	// moment on the pacer's clock: no try starts after it (the
	// preflight, which rides out transient trouble for a while).
	Until time.Time
}

// Retrier applies the policy of a pacer. It is safe for concurrent use.
type Retrier struct {
	pacer *pace.Pacer
	o     Options
}

// New returns a retrier that waits on pacer's clock with its policy.
func New(pacer *pace.Pacer, o Options) *Retrier {
	return &Retrier{pacer: pacer, o: o}
}

// With returns a retrier of the same pacer with other options.
func (r *Retrier) With(o Options) *Retrier { return &Retrier{pacer: r.pacer, o: o} }

// Now is the time on the clock the retrier waits on.
func (r *Retrier) Now() time.Time { return r.pacer.Clock().Now() }

// Error is a request that failed after every try it was allowed.
type Error struct {
	Op       string
	Err      error
	Attempts int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (after %d attempt%s)", e.Err.Error(), e.Attempts, plural(e.Attempts))
}

func (e *Error) Unwrap() error { return e.Err }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Attempts returns how many times the request that ended with err was
// sent: the count of an *Error, else 1.
func Attempts(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Attempts
	}
	return 1
}

// kind is what a failure says of the request that met it.
type kind uint8

const (
	// permanent: a definite answer, or a failure that another try cannot
	// change; it is returned.
	permanent kind = iota
	// transient: the service did not carry the request out; it may
	// serve it later.
	transient
	// unknown: the request may have been carried out without an answer.
	unknown
)

// class is the reading of one failure.
type class struct {
	kind kind
	// throttled: a 429, which uses none of the tries.
	throttled bool
	// refused: no connection could be made.
	refused bool
	// garbled: a success status whose body is not the answer.
	garbled    bool
	retryAfter time.Duration
}

// classify reads a failed request's error.
func classify(err error) class {
	var ae *api.Error
	var te *api.TransportError
	var lost *api.LostError
	var ans *api.AnswerError
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, pace.ErrBudget):
		return class{}
	case errors.As(err, new(*api.RedirectError)), errors.As(err, new(*api.ListingError)),
		api.IsCertificateError(err), isPlainHTTP(err):
		return class{}
	case errors.Is(err, api.ErrFileChanged):
		// Cut before its end: nothing was stored; read afresh, it may
		// hold still.
		return class{kind: transient}
	case errors.As(err, &lost):
		c := class{kind: unknown}
		if errors.As(err, &ae) {
			c.retryAfter = ae.RetryAfter
		}
		return c
	case errors.As(err, &ans):
		// A success whose body is not the answer: the same request gets
		// the same (a web page where the API should be); but an upload
		// may have been stored.
		return class{kind: unknown, garbled: true}
	case errors.As(err, &ae):
		switch ae.StatusCode {
		case http.StatusTooManyRequests:
			return class{kind: transient, throttled: true, retryAfter: ae.RetryAfter}
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusServiceUnavailable:
			return class{kind: transient, retryAfter: ae.RetryAfter}
		case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
			return class{kind: unknown, retryAfter: ae.RetryAfter}
		}
		return class{}
	case errors.As(err, &dns):
		if dns.IsNotFound && !dns.IsTemporary {
			return class{} // the name does not exist: setup
		}
		return class{kind: transient, refused: !dns.IsTemporary && !dns.IsTimeout}
	case errors.As(err, &te):
		if api.IsDialError(err) {
			return class{kind: transient, refused: true}
		}
		if te.Sent {
			return class{kind: unknown}
		}
		return class{kind: transient}
	}
	// Anything else — the caller's deadline, a file that cannot be
	// opened — another try cannot change.
	return class{}
}

// isPlainHTTP reports a TLS handshake answered by a plain http server.
func isPlainHTTP(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// Transient reports whether err is a failure that another try might not
// meet (the caller decides whether to try again).
func Transient(err error) bool {
	c := classify(err)
	return c.kind == transient || c.kind == unknown && !c.garbled
}

// op describes a request to Do.
type op struct {
	name string
	// idempotent: carrying it out twice is the same as once, so it is
	// sent again after an unknown outcome.
	idempotent bool
	// settle, when set, is asked after an unknown outcome of a request
	// that is not idempotent, before it is sent again: done ends the
	// tries with success (the request was carried out), an error ends
	// them with that error.
	settle func(ctx context.Context, lost error) (done bool, err error)
}

// Do runs fn until it succeeds or fails for good: a permanent failure, an
// unknown outcome of a request that is not idempotent (and that settle did
// not settle), the retries spent (an *Error), or ctx done (the last
// failure is returned). It is how every request of a run is sent.
func (r *Retrier) Do(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	_, err := r.do(ctx, op{name: name, idempotent: true}, fn)
	return err
}

// do is Do for o; it also returns how many times the request was sent.
func (r *Retrier) do(ctx context.Context, o op, fn func(ctx context.Context) error) (int, error) {
	policy := r.pacer.Policy()
	counted := 0 // tries that used one of --retries
	var last error
	maybeDone := false // a try may have been carried out unanswered
	for try := 1; ; try++ {
		err := fn(ctx)
		if err == nil {
			return try, nil
		}
		if errors.Is(err, pace.ErrWithdrawn) {
			// Withdrawn while it waited for its slot of the pacing.
			return try, &WithdrawnError{Op: o.name, Last: last, MaybeDone: maybeDone}
		}
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && last != nil {
				// The caller's time ran out while the service was
				// failing: that failure is what to tell.
				return try, &Error{Op: o.name, Err: last, Attempts: try - 1}
			}
			return try, err
		}
		last = err
		c := classify(err)
		if c.refused && !r.pacer.Answered() && !r.o.RetryRefused {
			// Nothing listens there, and nothing ever did in this run:
			// the setup is wrong; waiting will not change it.
			c.kind = permanent
		}
		switch {
		case c.kind == permanent, c.garbled && o.idempotent:
			return try, err
		case c.kind == unknown && o.idempotent:
			maybeDone = true // sent again as is: harmless, but it may be done
		case c.kind == unknown && !o.idempotent:
			if o.settle == nil {
				return try, err
			}
			done, serr := o.settle(ctx, err)
			if done || serr != nil {
				return try, serr
			}
		}
		// A refusal for the quota, or a failure while the service is
		// down as a whole, is the service's, not the request's: it uses
		// none of the tries. The refused request waits for its
		// Retry-After; during an outage the pacer holds the next try
		// until the service serves again.
		var wait time.Duration
		switch {
		case c.throttled:
			wait = policy.Delay(1, c.retryAfter)
		case !r.pacer.Outage():
			counted++
			if counted > policy.Retries && r.o.Until.IsZero() {
				return try, &Error{Op: o.name, Err: err, Attempts: try}
			}
			wait = policy.Delay(counted, c.retryAfter)
		}
		if !r.o.Until.IsZero() && r.Now().Add(wait).After(r.o.Until) {
			return try, &Error{Op: o.name, Err: err, Attempts: try}
		}
		if r.o.OnRetry != nil {
			r.o.OnRetry(Retry{Op: o.name, Try: try + 1, Err: err, Wait: wait})
		}
		if serr := r.sleep(ctx, wait, c.throttled && r.pacer.Alone()); serr != nil {
			switch {
			case errors.Is(serr, ErrWithdrawn):
				return try, &WithdrawnError{Op: o.name, Last: err, MaybeDone: maybeDone}
			case errors.Is(serr, context.DeadlineExceeded):
				return try, &Error{Op: o.name, Err: err, Attempts: try}
			}
			return try, err
		}
	}
}

// sleep waits d before the next try. A request that waits alone (refused
// by a service whose refusals do not follow the rate: the pool goes on)
// gives its place in its pool back meanwhile, when it holds one (Slot).
//
// Once the run stops (pace.WithStop), it waits no more: ErrWithdrawn.
func (r *Retrier) sleep(ctx context.Context, d time.Duration, alone bool) error {
	return pace.SleepUnlessStopped(ctx, func(ctx context.Context) error { return r.wait(ctx, d, alone) })
}

// wait is sleep's wait, with the place in the pool given back meanwhile
// when the request waits alone.
func (r *Retrier) wait(ctx context.Context, d time.Duration, alone bool) error {
	s := SlotOf(ctx)
	if !alone || s == nil || d <= 0 {
		return r.pacer.Clock().Sleep(ctx, d)
	}
	s.Release()
	err := r.pacer.Clock().Sleep(ctx, d)
	if aerr := s.Acquire(ctx); err == nil {
		err = aerr
	}
	return err
}
