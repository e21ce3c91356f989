package pace

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
)

func TestDelayFullJitterBounds(t *testing.T) {
	p := Policy{Retries: 5, Base: time.Second, Max: 10 * time.Second}
	// With the random draw at its top, the delay is the ceiling: 1, 2, 4, 8, 10, 10 s.
	p.Rand = func() float64 { return 0.999999 }
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		d := p.Delay(i+1, 0)
		assert.InDelta(t, float64(w*time.Second), float64(d), float64(time.Millisecond), "retry %d", i+1)
	}
	// At the bottom, full jitter waits not at all.
	p.Rand = func() float64 { return 0 }
	assert.Equal(t, time.Duration(0), p.Delay(3, 0))
	// The service's Retry-After wins, capped at Max.
	assert.Equal(t, 3*time.Second, p.Delay(1, 3*time.Second))
	assert.Equal(t, 10*time.Second, p.Delay(1, time.Hour))
	// A real draw stays within [0, ceiling].
	p.Rand = nil
	for i := 0; i < 1000; i++ {
		d := p.Delay(3, 0)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, 4*time.Second)
	}
}

func TestThrottledHoldsEveryRequestUntilThePauseEnds(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: Policy{Retries: 3, Base: time.Second, Max: time.Minute}})
	require.NoError(t, p.Wait(context.Background()))
	assert.Empty(t, clk.Slept(), "no pause, no wait")

	p.Throttled(1, 5*time.Second)
	p.Throttled(1, 2*time.Second) // a shorter pause never shortens a longer one
	require.NoError(t, p.Wait(context.Background()))
	assert.Equal(t, []time.Duration{5 * time.Second}, clk.Slept())
	require.NoError(t, p.Wait(context.Background()))
	assert.Len(t, clk.Slept(), 1, "the pause is over")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Throttled(1, time.Minute)
	assert.ErrorIs(t, p.Wait(ctx), context.Canceled)
}

func TestRateLimitSpacesRequestsOnTheInjectedClock(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy(), RateLimit: 4}) // burst of 4, then one every 250 ms
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Wait(context.Background()))
	}
	assert.Empty(t, clk.Slept(), "the burst goes at once")
	for i := 0; i < 3; i++ {
		require.NoError(t, p.Wait(context.Background()))
	}
	assert.Equal(t, []time.Duration{250 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}, clk.Slept())

	// Idle for a while: the bucket refills, up to the burst only.
	clk.Advance(time.Hour)
	for i := 0; i < 5; i++ {
		require.NoError(t, p.Wait(context.Background()))
	}
	assert.Len(t, clk.Slept(), 4, "four from the refilled burst, the fifth waits")
	assert.Equal(t, 250*time.Millisecond, clk.Slept()[3])
}

func TestBackoffSleepsTheDelay(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: Policy{Retries: 3, Base: time.Second, Max: time.Minute, Rand: func() float64 { return 0.5 }}})
	require.NoError(t, p.Backoff(context.Background(), 3, 0))
	require.NoError(t, p.Backoff(context.Background(), 1, 7*time.Second))
	assert.Equal(t, []time.Duration{2 * time.Second, 7 * time.Second}, clk.Slept())
}

func TestRealSleepHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, clock.Real{}.Sleep(ctx, time.Hour), context.Canceled)
	assert.NoError(t, clock.Real{}.Sleep(context.Background(), 0))
}
