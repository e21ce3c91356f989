// Package retry decides when a failed request is tried again and how long to
// wait first: exponential backoff with full jitter, the service's Retry-After
// honoured, and a gate that pauses every worker of a pool at once when the
// service says it is overloaded. Time is injected, so tests never sleep.
package retry

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
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

// Default is the policy used when none is configured: 5 retries over up to a
// minute or so, enough to ride out a service restart.
func Default() Policy {
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

// Clock is the time source and sleeper; Real uses the system clock.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, and returns ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the system clock.
type Real struct{}

// Now returns the current time.
func (Real) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx is done.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Gate holds every worker of a pool back until a moment set by any of them:
// when one worker is told to slow down (429 with Retry-After), none of the
// others sends a request before that moment either.
type Gate struct {
	Clock Clock
	mu    sync.Mutex
	until time.Time
}

// PauseUntil makes Wait block until t (it never shortens a longer pause).
func (g *Gate) PauseUntil(t time.Time) {
	g.mu.Lock()
	if t.After(g.until) {
		g.until = t
	}
	g.mu.Unlock()
}

// Wait returns when no pause is in force, or when ctx is done.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		until := g.until
		g.mu.Unlock()
		d := until.Sub(g.Clock.Now())
		if d <= 0 {
			return ctx.Err()
		}
		if err := g.Clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}
