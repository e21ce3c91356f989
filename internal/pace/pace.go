// Package pace decides when each request to the service may go: the pause of
// the whole pool when the service says it is overloaded, the rate limit, and
// the waits between retries of a failed request. Every wait goes through one
// injected clock, so tests never sleep.
package pace

import (
	"context"
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
	// RateLimit caps requests per second across the pool; 0 means none.
	RateLimit float64
}

// Pacer is shared by every request of a run. It is safe for concurrent use.
type Pacer struct {
	clock  clock.Clock
	policy Policy

	mu    sync.Mutex
	until time.Time // no request goes before this moment
	// The rate limit: a token bucket of burst tokens refilled at rate a
	// second, kept as the time at which it is next full enough.
	rate   float64
	burst  float64
	tokens float64
	filled time.Time // when tokens was computed
}

// New returns a pacer on c.
func New(c clock.Clock, o Options) *Pacer {
	if c == nil {
		c = clock.Real{}
	}
	p := &Pacer{clock: c, policy: o.Policy}
	if o.RateLimit > 0 {
		p.rate = o.RateLimit
		p.burst = max(1, float64(int(o.RateLimit)))
		p.tokens = p.burst
		p.filled = c.Now()
	}
	return p
}

// Policy returns the retry schedule.
func (p *Pacer) Policy() Policy { return p.policy }

// Wait returns when a request may be sent: once no pause is in force and the
// rate limit allows one more request; or when ctx is done, with its error.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		d := p.until.Sub(p.clock.Now())
		p.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := p.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
	if d := p.reserve(); d > 0 {
		if err := p.clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// reserve takes a token of the rate limit, and returns how long the caller
// must wait for it to be there.
func (p *Pacer) reserve() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate <= 0 {
		return 0
	}
	now := p.clock.Now()
	if el := now.Sub(p.filled).Seconds(); el > 0 {
		p.tokens = min(p.burst, p.tokens+el*p.rate)
		p.filled = now
	}
	p.tokens--
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(-p.tokens / p.rate * float64(time.Second))
}

// Throttled reports that the service refused a request for overload (429)
// on its attempt-th try: no request of the pool goes before the service's
// Retry-After (or a backoff, when it gave none) has passed.
func (p *Pacer) Throttled(attempt int, retryAfter time.Duration) {
	t := p.clock.Now().Add(p.policy.Delay(attempt, retryAfter))
	p.mu.Lock()
	if t.After(p.until) {
		p.until = t
	}
	p.mu.Unlock()
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
	return p.clock.Sleep(ctx, p.policy.Delay(n, retryAfter))
}
