package pace

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// simClock runs goroutines on simulated time: time stands still while any
// of them runs, and jumps to the earliest wake-up when all of them sleep.
// A pool of workers on it behaves as on a real clock, without the waits.
type simClock struct {
	mu      sync.Mutex
	cond    *sync.Cond
	now     time.Time
	running int
	wakes   []time.Time
}

func newSimClock(t time.Time, running int) *simClock {
	c := &simClock{now: t, running: running}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *simClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	c.mu.Lock()
	wake := c.now.Add(d)
	c.wakes = append(c.wakes, wake)
	c.running--
	c.advance()
	for c.now.Before(wake) {
		c.cond.Wait()
	}
	c.wakes = slices.Delete(c.wakes, slices.IndexFunc(c.wakes, wake.Equal), slices.IndexFunc(c.wakes, wake.Equal)+1)
	c.running++
	c.mu.Unlock()
	return ctx.Err()
}

// exit takes a goroutine that ends out of the count.
func (c *simClock) exit() {
	c.mu.Lock()
	c.running--
	c.advance()
	c.mu.Unlock()
}

// advance jumps to the earliest wake-up once nothing runs. c.mu is held.
func (c *simClock) advance() {
	if c.running > 0 || len(c.wakes) == 0 {
		return
	}
	c.now = slices.MinFunc(c.wakes, func(a, b time.Time) int { return a.Compare(b) })
	c.cond.Broadcast()
}

// service decides whether a request is accepted, and if not, after how
// long it may be tried again.
type service interface {
	take(now time.Time) (ok bool, retryAfter time.Duration)
}

// randomRefusals refuses a share of the requests whatever their rate (a
// proxy or a service that throttles at random), from a seeded draw.
type randomRefusals struct {
	share float64
	rnd   *rand.Rand
}

func (r *randomRefusals) take(time.Time) (bool, time.Duration) {
	return r.rnd.Float64() >= r.share, 50 * time.Millisecond
}

// pool runs workers requests at once through the pacer against the quota,
// each request taking rtt (the service decides half way), until end; it
// returns the requests accepted and refused in each window of the given
// length after start.
func pool(p *Pacer, clk *simClock, q service, workers int, rtt time.Duration, start, end time.Time, window time.Duration, change func(time.Time)) (accepted, refused []int) {
	n := int(end.Sub(start) / window)
	accepted, refused = make([]int, n), make([]int, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer clk.exit()
			for {
				tk, err := p.Wait(context.Background())
				if err != nil {
					return
				}
				_ = clk.Sleep(context.Background(), rtt/2)
				mu.Lock()
				now := clk.Now()
				if change != nil {
					change(now)
				}
				ok, ra := q.take(now)
				i := int(now.Sub(start) / window)
				if i < n {
					if ok {
						accepted[i]++
					} else {
						refused[i]++
					}
				}
				mu.Unlock()
				_ = clk.Sleep(context.Background(), rtt-rtt/2)
				if ok {
					p.Done(tk, OK, 0)
				} else {
					p.Done(tk, Throttled, ra)
				}
				if !clk.Now().Before(end) {
					return
				}
			}
		}()
	}
	wg.Wait()
	return accepted, refused
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// From full speed, with a pool of uploads at once, the pacer learns the
// quota and runs at it: at least 95% of it, under 5% of requests refused.
func TestAPoolLearnsTheQuotaAndRunsAtIt(t *testing.T) {
	for _, c := range []struct {
		workers int
		rtt     time.Duration
	}{{10, 20 * time.Millisecond}, {50, 20 * time.Millisecond}, {50, 300 * time.Millisecond}, {200, time.Second}} {
		start := time.Unix(1000, 0)
		clk := newSimClock(start, c.workers)
		p := New(clk, Options{Policy: DefaultPolicy()})
		q := &bucket{perMin: 600, burst: 60, tokens: 60, last: start}
		acc, ref := pool(p, clk, q, c.workers, c.rtt, start, start.Add(300*time.Second), 10*time.Second, nil)
		a, r := sum(acc[3:]), sum(ref[3:]) // after the first 30 s
		rate := float64(a) / 270 * 60
		t.Logf("%d workers, rtt %s: %.0f/min of 600, %.1f%% refused; per 10 s: %v; refused %v", c.workers, c.rtt, rate, 100*float64(r)/float64(a+r), acc, ref)
		if rate < 0.95*600 || float64(r)/float64(a+r) >= 0.05 {
			t.Errorf("%d workers, rtt %s: %.0f/min, %.1f%% refused", c.workers, c.rtt, rate, 100*float64(r)/float64(a+r))
		}
	}
}

// A quota that changes mid-run (600, then 300, then 600 a minute), with a
// pool of uploads at once: the rate follows each change within 30 seconds.
func TestAPoolFollowsAQuotaThatChanges(t *testing.T) {
	for _, workers := range []int{10, 50} {
		start := time.Unix(1000, 0)
		clk := newSimClock(start, workers)
		p := New(clk, Options{Policy: DefaultPolicy()})
		q := &bucket{perMin: 600, burst: 60, tokens: 60, last: start}
		quota := func(now time.Time) {
			switch s := now.Sub(start); {
			case s >= 240*time.Second:
				q.perMin, q.burst = 600, 60
			case s >= 120*time.Second:
				q.perMin, q.burst = 300, 30
			}
		}
		acc, ref := pool(p, clk, q, workers, 20*time.Millisecond, start, start.Add(360*time.Second), 30*time.Second, quota)
		perMin := func(i int) float64 { return float64(acc[i]) * 2 }
		t.Logf("%d workers, per minute in each 30 s: %v; refused %v", workers, acc, ref)
		assert.InDelta(t, 300, perMin(5), 0.1*300, "%d workers: at 300 within 30 s of the drop", workers)
		assert.InDelta(t, 300, perMin(6), 0.05*300, "%d workers: at 300 after", workers)
		assert.GreaterOrEqual(t, perMin(9), 0.9*600, "%d workers: at 600 within 30 s of the rise", workers)
		assert.GreaterOrEqual(t, perMin(10), 0.95*600, "%d workers: at 600 after", workers)
		assert.Less(t, float64(sum(ref)), 0.05*float64(sum(acc)), "%d workers: refused", workers)
	}
}

// Refusals that come at random, whatever the rate (as the devserver's
// --throttle-rate makes them), do not drive the rate down to nothing: each
// pauses the pool for its Retry-After, but the rate stays at least one
// request each Retry-After (it collapsed to a request every few seconds
// before that floor).
func TestRandomRefusalsDoNotStarveTheRun(t *testing.T) {
	for _, share := range []float64{0.05, 0.15, 0.3} {
		start := time.Unix(1000, 0)
		const workers = 8
		clk := newSimClock(start, workers)
		p := New(clk, Options{Policy: DefaultPolicy()})
		svc := &randomRefusals{share: share, rnd: rand.New(rand.NewPCG(7, 11))}
		acc, ref := pool(p, clk, svc, workers, 20*time.Millisecond, start, start.Add(300*time.Second), 30*time.Second, nil)
		t.Logf("%.0f%% refused at random: accepted per 30 s %v; refused %v", 100*share, acc, ref)
		// The service asks for 50 ms between a refusal and the next
		// request: one request each 50 ms is within what it allows, less
		// what it refuses.
		floor := 0.8 * (1 - share) * 20 * 30
		for i, a := range acc {
			assert.GreaterOrEqual(t, float64(a), floor, "%.0f%%: window %d", 100*share, i)
		}
	}
}
