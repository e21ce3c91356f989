// Package clock is the time source of everything that stamps or waits: the
// Clock interface and the system clock, and the range of times the tool
// records (Clamp). Code that waits takes a Clock, so tests can replace it
// (see clock/clocktest) and never sleep.
package clock

import (
	"context"
	"math"
	"time"
)

// Clock tells the time and waits.
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

// Clamp returns t, or the nearest time the tool can record: those that
// nanoseconds since 1970 hold (years 1678 to 2262), written as RFC 3339.
// Some file systems store times far outside (a year 10000); brought to the
// nearest bound, every time is recorded and read back the same. The zero
// time (none) stays zero.
func Clamp(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	lo := time.Unix(0, math.MinInt64).Add(time.Second).UTC().Truncate(time.Second)
	hi := time.Unix(0, math.MaxInt64).Add(-time.Second).UTC().Truncate(time.Second)
	switch {
	case t.Before(lo):
		return lo
	case t.After(hi):
		return hi
	}
	return t
}
