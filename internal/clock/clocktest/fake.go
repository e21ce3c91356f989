// Package clocktest provides a clock.Clock for tests: time moves only when
// someone sleeps, by exactly the time asked, and every sleep is recorded.
// Nothing really waits.
package clocktest

import (
	"context"
	"sync"
	"time"
)

// Fake is a clock.Clock for tests.
type Fake struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

// New returns a fake clock set at t.
func New(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the clock's time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances the clock by d (when positive), records it, and returns
// ctx's error, if any.
func (c *Fake) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return ctx.Err()
}

// Advance moves the clock by d without recording a sleep.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Slept returns every sleep so far, in order.
func (c *Fake) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}
