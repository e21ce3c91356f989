package retry

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

func TestGateHoldsEveryWorkerUntilThePauseEnds(t *testing.T) {
	clk := NewFakeClock(time.Unix(1000, 0))
	g := &Gate{Clock: clk}
	require.NoError(t, g.Wait(context.Background()))
	assert.Empty(t, clk.Slept(), "no pause, no wait")

	g.PauseUntil(clk.Now().Add(5 * time.Second))
	g.PauseUntil(clk.Now().Add(2 * time.Second)) // a shorter pause never shortens a longer one
	require.NoError(t, g.Wait(context.Background()))
	assert.Equal(t, []time.Duration{5 * time.Second}, clk.Slept())
	require.NoError(t, g.Wait(context.Background()))
	assert.Len(t, clk.Slept(), 1, "the pause is over")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.PauseUntil(clk.Now().Add(time.Minute))
	assert.ErrorIs(t, g.Wait(ctx), context.Canceled)
}

func TestRealSleepHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Real{}.Sleep(ctx, time.Hour), context.Canceled)
	assert.NoError(t, Real{}.Sleep(context.Background(), 0))
}
