// Package pace decides when each request to the service may go: the rate
// learned from the service's quota, the pause of the whole pool for a
// Retry-After, the probing of an outage one request at a time, the budgets
// that end a run the service will not serve, and the waits between retries
// of a failed request; Transport applies it to every request of a run.
// Every wait goes through one injected clock, so tests never sleep.
package pace

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/clock"
)

// Policy is a retry schedule.
type Policy struct {
	// Retries is how many times a request is tried again after its first
	// attempt.
	Retries int
	// Base is the first backoff ceiling; it doubles with each retry.
	Base time.Duration
	// Max caps every wait, Retry-After included.
	Max time.Duration
	// Rand returns a number in [0, 1); math/rand/v2 when nil.
	Rand func() float64
}

// DefaultPolicy is the policy used when none is configured: 5 retries over
// up to a minute or so, enough to ride out a service restart.
func DefaultPolicy() Policy {
	return Policy{Retries: 5, Base: 500 * time.Millisecond, Max: 60 * time.Second}
}

// Delay returns how long to wait before retry number n (1 for the first
// retry). A positive retryAfter from the service takes precedence over the
// backoff, capped at Max; otherwise the wait is drawn uniformly from
// [0, min(Max, Base·2^(n-1))] ("full jitter"), which spreads the retries of
// many workers apart.
func (p Policy) Delay(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, p.Max)
	}
	ceil := p.Base
	for i := 1; i < n && ceil < p.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.Max)
	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(ceil))
}

// Options configure a Pacer.
type Options struct {
	Policy Policy
	// RateLimit caps requests per second across the run; 0 means none.
	// The pacer never goes above it, whatever it learns.
	RateLimit float64
	// ThrottleBudget ends the run when the service has refused every
	// request for overload (429) for this long; 0 means 12 hours.
	ThrottleBudget time.Duration
	// OutageBudget ends the run when the service has been unavailable for
	// this long; 0 means 5 minutes.
	OutageBudget time.Duration
}

// Signal is what an answer says about the service's capacity.
type Signal uint8

// The signals.
const (
	// OK: the service answered, whatever it said (but the two below).
	OK Signal = iota
	// Throttled: 429, the quota is spent.
	Throttled
	// Unavailable: 502, 503, 504, a dropped connection, a stall — the
	// service, or the way to it, is down.
	Unavailable
	// Unreachable: no connection could be made (refused, no route, name
	// unknown). Once the service has answered in this run, it is an
	// outage like Unavailable; before, it is a mistake of setup (nothing
	// listens at the base URL), not to be waited out.
	Unreachable
	// None: no answer came, and none is missing (the caller gave up, the
	// request could not be made): it says nothing of the service.
	None
)

// Tuning of the learning. The run starts at full speed. A refusal (429)
// of a request sent after the pacer last reacted starts an episode; those
// of requests already sent then belong to the last one (a pool has many in
// flight). At each episode the pacer learns a rate: the requests the
// service accepted since the last episode, over the time since, is the rate
// it sustains (a token bucket is empty at both ends of that interval,
// whatever pauses came between). The pacer runs just under it (learnMargin), holds it for
// holdFor, then probes upward (probeGrowth a second, compounding) so that a
// quota that grows is found — but never beyond twice what the service has
// recently accepted, so that a pool with little to send does not run the
// rate up without evidence. Each 429 also holds the whole pool for its
// Retry-After (the floor), after which the slots of the pacing start anew.
const (
	learnMargin = 0.98
	maxCut      = 0.5 // one episode at most halves the rate
	minWindow   = time.Second
	holdFor     = 15 * time.Second
	probeGrowth = 0.08
	demandSpan  = 2 * time.Second // the time constant of the recent accepted rate
	minRate     = 1.0 / 60
	// An outage is declared after outageAfter unavailable answers in a
	// row; then one request at a time probes, firstProbe after, doubling
	// up to maxProbe.
	outageAfter = 3
	firstProbe  = 2 * time.Second
	maxProbe    = 10 * time.Second
	probePoll   = 100 * time.Millisecond
)

// ErrBudget is wrapped by the error Wait returns when the service has
// refused or been unavailable for longer than the run allows.
var ErrBudget = errors.New("time budget exhausted")

// BudgetError says which budget ran out.
type BudgetError struct {
	// What is "throttled" or "unavailable".
	What string
	// For is how long it lasted; Flag names the flag that sets the budget.
	For  time.Duration
	Flag string
}

func (e *BudgetError) Error() string {
	if e.What == "throttled" {
		return fmt.Sprintf("the service refused every request for overload (429) for %s (%s); the rerun resumes", e.For.Round(time.Second), e.Flag)
	}
	return fmt.Sprintf("the service was unavailable for %s (%s); the rerun resumes", e.For.Round(time.Second), e.Flag)
}

func (e *BudgetError) Unwrap() error { return ErrBudget }

// Ticket is a permission to send one request; hand it back to Done.
type Ticket struct {
	probe bool
	// at is when it was given: the refusal of a request sent before the
	// last refusal that set the rate says nothing new of the quota.
	at time.Time
}

// Status is what the pacer is doing, for displays and reports.
type Status struct {
	// Rate is the learned rate in requests a second (0: not throttled so
	// far, full speed); Ceiling is --rate-limit (0: none).
	Rate, Ceiling float64
	// PausedUntil is the end of the pool's pause, zero when none.
	PausedUntil time.Time
	// Outage is set while the service is unavailable, since OutageSince.
	Outage      bool
	OutageSince time.Time
	// Requests counts permissions given; Throttled and Unavailable count
	// the answers of each kind; Waited is the time the run was held: the
	// pauses for a Retry-After, and the outages (pacing at the learned rate
	// is not counted: the run goes on, at that rate).
	Requests, Throttled, Unavailable int64
	Waited                           time.Duration
}

// Pacer is shared by every request of a run. It is safe for concurrent use.
type Pacer struct {
	clock clock.Clock
	o     Options
	start time.Time

	mu    sync.Mutex
	until time.Time // no request goes before this moment
	next  time.Time // the next free slot of the pacing
	gen   uint64    // counts the pauses: a slot reserved before one is void

	// learning
	learned   float64   // 0: full speed
	reacted   time.Time // when the last episode began: refusals of requests sent before belong to it
	accepted  int64     // requests accepted since
	granted   int64     // requests let go since
	holdUntil time.Time
	refusedAt time.Time // the first 429 since the last answer, zero if none
	recent    float64   // the recent accepted rate, decaying over demandSpan
	recentT   time.Time // when recent was last updated

	// outage
	answered  bool // the service has answered (anything) in this run
	streak    int  // unavailable answers in a row
	outage    bool
	since     time.Time
	probing   bool
	probeWait time.Duration
	nextProbe time.Time

	st Status
}

// New returns a pacer on c.
func New(c clock.Clock, o Options) *Pacer {
	if c == nil {
		c = clock.Real{}
	}
	if o.ThrottleBudget <= 0 {
		o.ThrottleBudget = 12 * time.Hour
	}
	if o.OutageBudget <= 0 {
		o.OutageBudget = 5 * time.Minute
	}
	now := c.Now()
	return &Pacer{clock: c, o: o, start: now, reacted: now}
}

// Policy returns the retry schedule.
func (p *Pacer) Policy() Policy { return p.o.Policy }

// rateAt returns the pacing rate at now, in requests a second; 0: none.
// p.mu must be held.
func (p *Pacer) rateAt(now time.Time) float64 {
	r := p.learned
	if r > 0 && now.After(p.holdUntil) {
		r *= math.Pow(1+probeGrowth, now.Sub(p.holdUntil).Seconds())
		r = min(r, max(p.learned, 2*p.recentAt(now)))
	}
	if c := p.o.RateLimit; c > 0 && (r == 0 || r > c) {
		r = c
	}
	return r
}

// Wait returns when a request may be sent: no pause in force, the pacing
// rate allows one more request, and, during an outage, it is the one probe
// allowed. It returns ctx's error when ctx is done first, and a
// *BudgetError when a budget ran out.
func (p *Pacer) Wait(ctx context.Context) (Ticket, error) {
	reserved, gen := false, uint64(0)
	for {
		p.mu.Lock()
		now := p.clock.Now()
		if reserved && gen != p.gen {
			reserved = false // a pause came: the pacing starts anew after it
		}
		if err := p.overBudget(now); err != nil {
			p.mu.Unlock()
			return Ticket{}, err
		}
		var d time.Duration
		var t Ticket
		switch {
		case now.Before(p.until):
			d = p.until.Sub(now)
		case p.outage && p.probing:
			d = probePoll
		case p.outage && now.Before(p.nextProbe):
			d = p.nextProbe.Sub(now)
		case p.outage:
			p.probing = true
			t.probe = true
		case !reserved:
			if r := p.rateAt(now); r > 0 {
				slot := p.next
				if slot.Before(now) {
					slot = now
				}
				p.next = slot.Add(time.Duration(float64(time.Second) / r))
				d = slot.Sub(now)
				reserved, gen = true, p.gen
			}
		}
		if d <= 0 {
			if err := ctx.Err(); err != nil {
				// Given up before it went: the probe (if it was one)
				// goes to the next request.
				if t.probe {
					p.probing = false
				}
				p.mu.Unlock()
				return Ticket{}, err
			}
			p.st.Requests++
			p.granted++
			t.at = now
			p.mu.Unlock()
			return t, nil
		}
		p.mu.Unlock()
		if err := p.clock.Sleep(ctx, d); err != nil {
			return Ticket{}, err
		}
	}
}

// overBudget returns the error of a budget run out. p.mu must be held.
func (p *Pacer) overBudget(now time.Time) error {
	if p.outage && now.Sub(p.since) > p.o.OutageBudget {
		return &BudgetError{What: "unavailable", For: now.Sub(p.since), Flag: "--outage-budget"}
	}
	if !p.refusedAt.IsZero() && now.Sub(p.refusedAt) > p.o.ThrottleBudget {
		return &BudgetError{What: "throttled", For: now.Sub(p.refusedAt), Flag: "--throttle-budget"}
	}
	return nil
}

// Done reports the answer to a request sent with t: what it says about the
// service's capacity, and the Retry-After it carried (0: none).
func (p *Pacer) Done(t Ticket, s Signal, retryAfter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if t.probe {
		p.probing = false
	}
	if s == None {
		return
	}
	if s == Unreachable {
		if !p.answered {
			return
		}
		s = Unavailable
	} else {
		p.answered = true
	}
	switch s {
	case OK:
		p.accepted++
		p.noteAccepted(now)
		p.streak = 0
		p.refusedAt = time.Time{}
		if p.outage {
			p.st.Waited += now.Sub(p.since)
			p.outage = false
		}
	case Throttled:
		// An answer: whatever outage there was is over; the service is
		// back, and counting its quota.
		p.st.Throttled++
		p.streak = 0
		if p.outage {
			p.st.Waited += now.Sub(p.since)
			p.outage = false
		}
		if p.refusedAt.IsZero() {
			p.refusedAt = now
		}
		pause := retryAfter
		if pause <= 0 {
			pause = p.o.Policy.Delay(1, 0) + 500*time.Millisecond
		}
		// A refusal of a request sent before the pacer last reacted (one of
		// many in flight, a long upload refused once its body was read)
		// belongs to that episode: the rate is not cut again for it.
		if p.learned == 0 || !t.at.Before(p.reacted) {
			p.learn(now, retryAfter)
		}
		p.pauseUntil(now.Add(pause))
	case Unavailable:
		p.st.Unavailable++
		p.streak++
		if retryAfter > 0 {
			p.pauseUntil(now.Add(retryAfter))
		}
		switch {
		case p.outage && t.probe:
			p.probeWait = min(2*p.probeWait, maxProbe)
			p.nextProbe = now.Add(p.probeWait)
		case !p.outage && p.streak >= outageAfter:
			p.outage, p.since = true, now
			p.probeWait = firstProbe
			p.nextProbe = now.Add(firstProbe)
		}
	}
}

// learn sets the rate at an episode: the requests the service accepted
// since the last episode, over the time since (at least minWindow). The
// first episode's window starts with the run, and the service's burst in
// it makes its measure high: the next one corrects it; when no acceptance
// has been answered yet (a pool whose answers all come at once), half the
// rate the requests went at stands in. One episode at most halves the
// rate. p.mu must be held.
func (p *Pacer) learn(now time.Time, retryAfter time.Duration) {
	before := p.rateAt(now)
	window := max(now.Sub(p.reacted), minWindow).Seconds()
	measured := learnMargin * float64(p.accepted) / window
	switch {
	case p.learned > 0:
		measured = max(measured, maxCut*before)
	case p.accepted == 0:
		measured = maxCut * float64(p.granted) / window
	}
	// Refusals that come whatever the rate (a proxy, or a service that
	// throttles at random) would cut it episode after episode down to
	// nothing. The service's own Retry-After is a floor: it says a request
	// may go after that long, so one request each Retry-After is within
	// what it allows (a quota's token comes back within it).
	if retryAfter > 0 {
		measured = max(measured, 1/retryAfter.Seconds())
	}
	p.learned = measured
	if c := p.o.RateLimit; c > 0 {
		p.learned = min(p.learned, c)
	}
	p.learned = max(p.learned, minRate)
	p.reacted, p.accepted, p.granted = now, 0, 0
	p.holdUntil = now.Add(holdFor)
	if before > 0 && p.learned > 1.05*before {
		// The quota grew (the measure spans the time before it did, so it
		// is low): probe upward at once rather than hold.
		p.holdUntil = now
	}
}

// noteAccepted counts an accepted request into the recent accepted rate.
// p.mu must be held.
func (p *Pacer) noteAccepted(now time.Time) {
	p.recent = p.recentAt(now) + 1/demandSpan.Seconds()
	p.recentT = now
}

// recentAt is the recent accepted rate, in requests a second, at now.
// p.mu must be held.
func (p *Pacer) recentAt(now time.Time) float64 {
	if p.recentT.IsZero() {
		return 0
	}
	return p.recent * math.Exp(-now.Sub(p.recentT).Seconds()/demandSpan.Seconds())
}

func (p *Pacer) pauseUntil(t time.Time) {
	if t.After(p.until) {
		p.next, p.gen = t, p.gen+1 // the pacing starts anew when the pause ends
		from := p.until
		if now := p.clock.Now(); from.Before(now) {
			from = now
		}
		if !p.outage {
			p.st.Waited += t.Sub(from) // the outage's time is counted whole when it ends
		}
		p.until = t
	}
}

// Answered reports whether the service has answered anything in this run.
func (p *Pacer) Answered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

// Outage reports whether the service is taken to be down.
func (p *Pacer) Outage() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outage
}

// Status returns what the pacer is doing.
func (p *Pacer) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	st := p.st
	st.Rate = 0
	if p.learned > 0 {
		st.Rate = p.rateAt(now)
	}
	st.Ceiling = p.o.RateLimit
	if now.Before(p.until) {
		st.PausedUntil = p.until
	}
	st.Outage, st.OutageSince = p.outage, p.since
	if p.outage {
		st.Waited += now.Sub(p.since)
	}
	return st
}

// PausedUntil returns the end of the pool's pause; it is in the past when
// none is in force.
func (p *Pacer) PausedUntil() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.until
}

// Backoff waits before retry n of a request that failed with a transient
// error, honouring the service's Retry-After when it gave one.
func (p *Pacer) Backoff(ctx context.Context, n int, retryAfter time.Duration) error {
	return p.clock.Sleep(ctx, p.o.Policy.Delay(n, retryAfter))
}

// Clock returns the clock the pacer waits on: whoever waits beside it
// (the retries) waits on the same.
func (p *Pacer) Clock() clock.Clock { return p.clock }
