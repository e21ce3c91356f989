package pace

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
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

func wait(t *testing.T, p *Pacer) Ticket {
	t.Helper()
	tk, err := p.Wait(context.Background())
	require.NoError(t, err)
	return tk
}

// A 429 holds every request of the pool, not just the one refused, until
// the service's Retry-After has passed.
func TestAThrottleHoldsTheWholePool(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	a, b := wait(t, p), wait(t, p)
	assert.Empty(t, clk.Slept(), "full speed: nobody waits")
	p.Done(a, Throttled, 7*time.Second)
	p.Done(b, OK, 0) // b was already on its way
	start := clk.Now()
	wait(t, p) // anybody's next request
	assert.False(t, clk.Now().Before(start.Add(7*time.Second)), "held for the Retry-After")
	assert.Equal(t, int64(1), p.Status().Throttled)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Done(wait(t, p), Throttled, time.Minute)
	_, err := p.Wait(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

// bucket is a token-bucket quota, as a service enforces one, on the fake
// clock: perMin a minute, burst at most.
type bucket struct {
	perMin, burst float64
	tokens        float64
	last          time.Time
}

func (b *bucket) take(now time.Time) (ok bool, retryAfter time.Duration) {
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.perMin/60)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	secs := math.Ceil((1 - b.tokens) / (b.perMin / 60))
	return false, time.Duration(secs) * time.Second
}

// drive sends requests one after the other (each taking rtt) through the
// pacer against the quota, until the clock reaches end; it returns the
// requests accepted and refused after from.
func drive(t *testing.T, p *Pacer, clk *clocktest.Fake, q *bucket, rtt time.Duration, from, end time.Time, change func(time.Time)) (accepted, refused int) {
	t.Helper()
	for clk.Now().Before(end) {
		if change != nil {
			change(clk.Now())
		}
		tk := wait(t, p)
		clk.Advance(rtt)
		ok, ra := q.take(clk.Now())
		counted := !clk.Now().Before(from)
		if ok {
			p.Done(tk, OK, 0)
			if counted {
				accepted++
			}
		} else {
			p.Done(tk, Throttled, ra)
			if counted {
				refused++
			}
		}
	}
	return accepted, refused
}

// From full speed, the pacer learns the quota and runs at it: at least 95%
// of it, with under 5% of the requests refused.
func TestThePacerLearnsTheQuotaAndRunsAtIt(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := clocktest.New(start)
	p := New(clk, Options{Policy: DefaultPolicy()})
	q := &bucket{perMin: 600, burst: 60, tokens: 60, last: start}
	accepted, refused := drive(t, p, clk, q, 2*time.Millisecond, start.Add(30*time.Second), start.Add(330*time.Second), nil)
	rate := float64(accepted) / 300 * 60
	t.Logf("steady state: %d accepted (%.0f/min of a 600/min quota), %d refused (%.1f%%), learned %.1f/s",
		accepted, rate, refused, 100*float64(refused)/float64(accepted+refused), p.Status().Rate)
	assert.GreaterOrEqual(t, rate, 0.95*600)
	assert.Less(t, float64(refused)/float64(accepted+refused), 0.05)
}

// A quota that changes mid-run (600, then 300, then 600 a minute): the rate
// follows each change within 30 seconds.
func TestThePacerFollowsAQuotaThatChanges(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := clocktest.New(start)
	p := New(clk, Options{Policy: DefaultPolicy()})
	q := &bucket{perMin: 600, burst: 60, tokens: 60, last: start}
	quota := func(now time.Time) {
		switch s := now.Sub(start); {
		case s >= 240*time.Second:
			q.perMin = 600
		case s >= 120*time.Second:
			q.perMin, q.burst = 300, 30
		}
	}
	window := func(from, to int) float64 {
		a, _ := drive(t, p, clk, q, 2*time.Millisecond, start.Add(time.Duration(from)*time.Second),
			start.Add(time.Duration(to)*time.Second), quota)
		return float64(a) / float64(to-from) * 60
	}
	before := window(0, 120)
	drop := window(120, 150)
	afterDrop := window(150, 240)
	rise := window(240, 270)
	afterRise := window(270, 360)
	t.Logf("per minute: %.0f at 600, %.0f in the 30 s after the drop to 300, then %.0f; %.0f in the 30 s after the rise to 600, then %.0f",
		before, drop, afterDrop, rise, afterRise)
	assert.InDelta(t, 300, afterDrop, 0.05*300, "follows the drop")
	assert.GreaterOrEqual(t, afterRise, 0.95*600, "follows the rise")
	assert.GreaterOrEqual(t, rise, 0.5*600, "and within 30 s")
}

// --rate-limit is a ceiling, whatever the pacer learns.
func TestRateLimitIsACeiling(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := clocktest.New(start)
	p := New(clk, Options{Policy: DefaultPolicy(), RateLimit: 4})
	n := 0
	for clk.Now().Before(start.Add(10 * time.Second)) {
		p.Done(wait(t, p), OK, 0)
		n++
	}
	assert.InDelta(t, 40, n, 1, "4 a second from the start, no burst")
}

// An outage: after a few unavailable answers in a row the pool stops; one
// request at a time probes, with growing waits; the first answer ends the
// outage; the budget ends the run.
func TestAnOutageIsProbedOneRequestAtATime(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &heldClock{Fake: clocktest.New(start)}
	p := New(clk, Options{Policy: DefaultPolicy(), OutageBudget: time.Minute})
	for i := 0; i < outageAfter; i++ {
		p.Done(wait(t, p), Unavailable, 0)
	}
	require.True(t, p.Outage())
	var probes []time.Duration
	for i := 0; i < 5; i++ {
		tk := wait(t, p)
		require.True(t, tk.probe)
		probes = append(probes, clk.Now().Sub(start))
		p.Done(tk, Unavailable, 0)
	}
	assert.Equal(t, []time.Duration{2, 6, 14, 24, 34}, seconds(probes), "probes after 2, 4, 8, 10, 10 s")
	// While a probe is out, nobody else goes: a request waits (here the
	// clock ends its wait at once, with errHeld), and gets no ticket.
	tk := wait(t, p)
	require.True(t, tk.probe)
	clk.hold.Store(true)
	_, err := p.Wait(context.Background())
	clk.hold.Store(false)
	require.ErrorIs(t, err, errHeld, "held while the probe is out")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled, "a request given up while it waits")
	p.Done(tk, OK, 0) // the service is back
	assert.False(t, p.Outage())
	other := wait(t, p)
	assert.False(t, other.probe, "everybody goes again")
	p.Done(other, OK, 0)

	for i := 0; i < outageAfter; i++ {
		p.Done(wait(t, p), Unavailable, 0)
	}
	for err = nil; err == nil; {
		var tk Ticket
		tk, err = p.Wait(context.Background())
		if err == nil {
			p.Done(tk, Unavailable, 0)
		}
	}
	var be *BudgetError
	require.ErrorAs(t, err, &be)
	assert.ErrorIs(t, err, ErrBudget)
	assert.Contains(t, err.Error(), "unavailable for")
	assert.Contains(t, err.Error(), "--outage-budget")
}

// heldClock is a fake clock whose sleeps, while hold is set, end at once
// with errHeld: a test sees that a request would have waited, and that it
// was given nothing.
type heldClock struct {
	*clocktest.Fake
	hold atomic.Bool
}

var errHeld = errors.New("held")

func (c *heldClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.hold.Load() && d > 0 {
		return errHeld
	}
	return c.Fake.Sleep(ctx, d)
}

// A 503 that carries a Retry-After holds every request of the pool until
// then, at full speed too (nothing is paced yet: only the pause holds).
func TestARetryAfterOfAn503HoldsThePool(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.Done(wait(t, p), OK, 0)
	p.Done(wait(t, p), Unavailable, 5*time.Second)
	start := clk.Now()
	p.Done(wait(t, p), OK, 0)
	assert.Equal(t, 5*time.Second, clk.Now().Sub(start), "the next request waited for the Retry-After")
	assert.Zero(t, p.Status().Rate, "and nothing was learned: still full speed")
}

// One episode at most halves the rate: a refusal after a long quiet spell
// (one request accepted in 5 s: a pool with little to send) does not take
// that for the service's rate.
func TestOneEpisodeAtMostHalvesTheRate(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: Policy{Retries: 5, Base: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}})
	for range 200 { // 10 a second for 20 s
		p.Done(wait(t, p), OK, 0)
		clk.Advance(100 * time.Millisecond)
	}
	p.Done(wait(t, p), Throttled, time.Second)
	learned := p.Status().Rate
	require.InDelta(t, 0.98*200/20, learned, 0.2, "the first measure: what was accepted, over the time")
	clk.Advance(5 * time.Second)
	p.Done(wait(t, p), OK, 0)
	p.Done(wait(t, p), Throttled, 0) // no Retry-After: no floor from it
	assert.InDelta(t, learned/2, p.Status().Rate, 0.01, "halved, not 0.98 × 1/5 s")

	// The first episode of a pool that heard no acceptance yet (a refusal
	// answered before them): half the rate its requests went at.
	p = New(clk, Options{Policy: DefaultPolicy()})
	var tks []Ticket
	for range 40 {
		tks = append(tks, wait(t, p))
	}
	p.Done(tks[0], OK, 0)
	p.Done(tks[1], Throttled, 0)
	assert.InDelta(t, 20, p.Status().Rate, 0.01, "half of 40 requests in the minimum window of 1 s")
}

func seconds(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / time.Second
	}
	return out
}

func TestAThrottleThatNeverEndsEndsTheRun(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy(), ThrottleBudget: time.Hour})
	var err error
	for i := 0; err == nil && i < 100000; i++ {
		var tk Ticket
		tk, err = p.Wait(context.Background())
		if err == nil {
			p.Done(tk, Throttled, time.Minute)
		}
	}
	var be *BudgetError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "throttled", be.What)
	assert.ErrorIs(t, err, ErrBudget)
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

// A request given up before it goes (its context done as it became the
// outage's probe) hands the probe on: the next request probes a moment
// later instead of waiting out the outage budget.
func TestAProbeGivenUpIsHandedOn(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy(), OutageBudget: 5 * time.Minute})
	for i := 0; i < outageAfter; i++ {
		p.Done(wait(t, p), Unavailable, 0)
	}
	require.True(t, p.Outage())
	clk.Advance(2 * time.Second) // the first probe is due
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Wait(ctx)
	require.ErrorIs(t, err, context.Canceled)
	start := clk.Now()
	tk, err := p.Wait(context.Background())
	require.NoError(t, err)
	assert.True(t, tk.probe, "the next request is the probe")
	assert.Less(t, clk.Now().Sub(start), time.Second)
}

// A request that got no answer because its caller gave up says nothing of
// the service: it neither ends an outage nor counts as unavailable.
func TestNoneSaysNothingOfTheService(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.Done(wait(t, p), None, 0)
	assert.False(t, p.Answered(), "a refused connection after it is still a mistake of setup")
	p.Done(wait(t, p), OK, 0)
	for i := 0; i < outageAfter; i++ {
		p.Done(wait(t, p), Unavailable, 0)
	}
	require.True(t, p.Outage())
	clk.Advance(2 * time.Second)
	tk := wait(t, p)
	require.True(t, tk.probe)
	p.Done(tk, None, 0)
	assert.True(t, p.Outage(), "no answer is not an answer")
	assert.Equal(t, int64(outageAfter), p.Status().Unavailable)
	tk = wait(t, p)
	assert.True(t, tk.probe, "the probe is free again")
}

// Refusals of requests sent before the last episode (long uploads the
// service refused once it had read their bodies) belong to that episode:
// they do not cut the learned rate again and again.
func TestLateRefusalsOfAnEpisodeDoNotCutTheRateAgain(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	var slow []Ticket
	for i := 0; i < 5; i++ {
		slow = append(slow, wait(t, p)) // five long uploads start
	}
	for i := 0; i < 100; i++ {
		p.Done(wait(t, p), OK, 0)
		clk.Advance(100 * time.Millisecond)
	}
	p.Done(wait(t, p), Throttled, time.Second) // the episode
	learned := p.Status().Rate
	require.Greater(t, learned, 0.0)
	clk.Advance(2 * time.Second) // its pause is over
	for _, tk := range slow {
		p.Done(tk, Throttled, time.Second)
		clk.Advance(1100 * time.Millisecond)
	}
	assert.InDelta(t, learned, p.Status().Rate, learned*0.2, "five late refusals of one episode")
	assert.Equal(t, int64(6), p.Status().Throttled, "each is still counted")
}

// A service that comes back from an outage answering 429 (its quota, as
// every client comes back at once) is back: the outage is over, and only
// the throttle budget bounds the wait.
func TestA429EndsAnOutage(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.Done(wait(t, p), OK, 0)
	for i := 0; i < outageAfter; i++ {
		p.Done(wait(t, p), Unavailable, 0)
	}
	require.True(t, p.Outage())
	for i := 0; i < 100; i++ {
		tk, err := p.Wait(context.Background())
		require.NoError(t, err, "after %s of 429 answers", clk.Now().Sub(time.Unix(1000, 0)))
		p.Done(tk, Throttled, 10*time.Second)
	}
	assert.False(t, p.Outage())
	assert.Greater(t, clk.Now().Sub(time.Unix(1000, 0)), 5*time.Minute, "longer than the outage budget")
}

// Once refusals are taken to be independent of the rate, the rate doubles
// every shedDouble; past what the pool sends, the pacer goes to full speed
// rather than report a rate of millions a minute (which the progress line
// showed).
func TestSheddingGoesToFullSpeedPastWhatThePoolSends(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.mu.Lock()
	p.learned, p.shedding, p.shedSince, p.shedBaseN, p.shedBaseK = 2, true, clk.Now(), 40, 10
	p.mu.Unlock()
	for range 20 { // 2 a second for 10 s: the rate doubled ten times meanwhile
		p.Done(wait(t, p), OK, 0)
		clk.Advance(500 * time.Millisecond)
	}
	assert.Zero(t, p.Status().Rate, "full speed")
}

// Once refusals are taken to be independent of the rate, the pool is back
// to the pace of its workers within a second, from the one request a second
// it was slowed to (the rate used to double each second: ten seconds at a
// fraction of what the service served).
func TestSheddingSpeedsUpWithinASecond(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.mu.Lock()
	p.learned, p.shedding, p.shedSince, p.shedBaseN, p.shedBaseK = 1, true, clk.Now(), 40, 10
	p.mu.Unlock()
	clk.Advance(time.Second)
	assert.GreaterOrEqual(t, p.Status().Rate, 1000.0)
}

// While refusals are taken to be independent of the rate, one window of
// answers with more refusals than the share found is chance (a long run
// judges thousands of windows); two in a row are a quota come on top, and
// the next refusal holds the pool again. More refusals than shedMax count
// as more, whatever the share found.
func TestTwoWindowsInARowOfMoreRefusalsAreAQuota(t *testing.T) {
	for name, c := range map[string]struct {
		baseN, baseK int
		high         int // refusals in a high window
	}{
		"a quarter found, 7 in 12 refused":      {baseN: 400, baseK: 100, high: shedWindow * 7 / 12},
		"half found, more than shedMax refused": {baseN: 400, baseK: 190, high: shedWindow*3/4 + 1},
	} {
		t.Run(name, func(t *testing.T) {
			clk := clocktest.New(time.Unix(1000, 0))
			p := New(clk, Options{Policy: DefaultPolicy()})
			p.mu.Lock()
			p.shedding, p.shedSince, p.shedBaseN, p.shedBaseK = true, clk.Now(), c.baseN, c.baseK
			p.mu.Unlock()
			window := func(refused int) {
				for i := range shedWindow {
					if i < refused {
						p.Done(wait(t, p), Throttled, time.Second)
					} else {
						p.Done(wait(t, p), OK, 0)
					}
				}
			}
			share := c.baseK * shedWindow / c.baseN
			window(c.high)
			window(share)
			assert.True(t, p.Alone(), "one window of more refusals, then one as usual: chance")
			window(c.high)
			window(c.high)
			p.Done(wait(t, p), Throttled, time.Second)
			assert.False(t, p.Alone(), "two in a row: a quota, from the next refusal")
		})
	}
}

// Every fourth request refused (Retry-After 1 s), one request at a time: the
// refusals are told from a quota at the first refusal near the Retry-After's
// floor (at most 1.5 requests a second, which a quota of this run's accepts
// whole or nearly), after two episodes before it — within 6 s. (Three
// episodes at the floor were asked for: 17 s; then one at the floor itself,
// after three: 9 s.)
func TestRefusalsAtTheFloorAreToldFromAQuotaSoon(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	for i := 1; i <= 100 && !p.Alone(); i++ {
		tk := wait(t, p)
		clk.Advance(time.Millisecond)
		if i%4 == 0 {
			p.Done(tk, Throttled, time.Second)
		} else {
			p.Done(tk, OK, 0)
		}
	}
	require.True(t, p.Alone())
	t.Logf("told apart after %s", clk.Now().Sub(time.Unix(1000, 0)))
	assert.LessOrEqual(t, clk.Now().Sub(time.Unix(1000, 0)), 6*time.Second)
}

// Refusals are taken to be independent of the rate only when they are a
// minority of the answers — in the newer half of the evidence and in the
// whole of it: a run that shares a quota with others that took most of it
// is refused more often than not, and would only be refused more at full
// speed.
func TestMostlyRefusedIsNotTakenForRateIndependent(t *testing.T) {
	for name, c := range map[string]struct {
		older []int64 // answers of each older episode (one refused each)
		shed  bool
	}{
		"a third refused, then half": {older: []int64{3, 3, 3}, shed: true},
		"three in four, then half":   {older: []int64{1, 1, 2}, shed: false},
	} {
		t.Run(name, func(t *testing.T) {
			clk := clocktest.New(time.Unix(1000, 0))
			p := New(clk, Options{Policy: DefaultPolicy()})
			p.mu.Lock()
			defer p.mu.Unlock()
			p.learned, p.holdUntil, p.fresh = 1, clk.Now().Add(time.Hour), 1
			p.episodes = []episode{{rate: 0, answers: c.older[0]}, {rate: 2, answers: c.older[1]}, {rate: 1, answers: c.older[2]}, {rate: 1, answers: 2}, {rate: 1, answers: 2}}
			assert.Equal(t, c.shed, p.episode(clk.Now(), Ticket{guarded: true}, time.Second))
			assert.Equal(t, c.shed, p.shedding)
		})
	}
}

// After a false alarm (refusals taken to be independent of the rate, then
// more common at full speed: a quota), one refusal at the floor is no
// longer enough: the whole evidence, doubled, is asked for, so that a quota
// whose Retry-After is shorter than its refill does not flood it again
// after every few episodes.
func TestAfterAFalseAlarmTheFloorIsNotEnough(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopShedding() // a false alarm: shedNeed doubled
	p.learned, p.holdUntil, p.fresh = 1, clk.Now().Add(time.Hour), 3
	p.episodes = []episode{{rate: 0, answers: 4}, {rate: 8, answers: 4}, {rate: 4, answers: 4}, {rate: 2, answers: 4},
		{rate: 1.5, answers: 4}, {rate: 1.2, answers: 4}, {rate: 1, answers: 4}}
	assert.False(t, p.episode(clk.Now(), Ticket{guarded: true}, time.Second), "two floor episodes after a false alarm, of twelve asked for")
	assert.False(t, p.shedding)
}

// A request waiting for its slot of the pacing (here the pool held for a
// Retry-After of a minute) is withdrawn when its run stops: at once when
// the stop came first, or when it comes during the wait (real time here: a
// minute would fail the test). Without the stop it waits, as before.
func TestARunsStopWithdrawsTheRequestsWaitingForTheirSlot(t *testing.T) {
	p := New(clock.Real{}, Options{Policy: DefaultPolicy()})
	p.Done(wait(t, p), Throttled, time.Minute)

	run, stop := context.WithCancel(context.Background())
	signal := make(chan struct{})
	ctx := WithStop(context.Background(), run, signal)
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(ctx)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("went during the pause: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	stop()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, ErrWithdrawn)
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after the stop")
	}

	close(signal)
	_, err := p.Wait(WithStop(context.Background(), context.Background(), signal))
	assert.ErrorIs(t, err, ErrWithdrawn, "the signal, seen before the wait")
}
