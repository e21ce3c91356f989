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
	after time.Duration // the Retry-After; 50 ms when 0
}

func (r *randomRefusals) take(time.Time) (bool, time.Duration) {
	after := r.after
	if after == 0 {
		after = 50 * time.Millisecond
	}
	return r.rnd.Float64() >= r.share, after
}

// pool runs workers requests at once through the pacer against the quota,
// each request taking rtt (the service decides half way), until end; it
// returns the requests accepted and refused in each window of the given
// length after start.
func pool(p *Pacer, clk *simClock, q service, workers int, rtt time.Duration, start, end time.Time, window time.Duration, change func(time.Time)) (accepted, refused []int) {
	n := int(end.Sub(start) / window)
	accepted, refused = make([]int, n), make([]int, n)
	var mu sync.Mutex
	clk.run(workers, func(int) {
		for clk.Now().Before(end) {
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
			if i := int(now.Sub(start) / window); i < n {
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
			} else if hold := p.Done(tk, Throttled, ra); hold > 0 {
				_ = clk.Sleep(context.Background(), hold) // as Transport does
			}
		}
	})
	return accepted, refused
}

// run runs fn(0) … fn(n-1) on goroutines counted by the clock, and waits
// for them.
func (c *simClock) run(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.exit()
			fn(i)
		}()
	}
	wg.Wait()
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

// uploadFiles runs shards runs side by side, each a pool of workers with a
// pacer of its own and files to upload, against one service: each file is
// sent until accepted (a request takes rtt, jittered ±50% by a seeded draw;
// a refusal is answered at once, as a service answers a 429 before reading
// the body, when refusedAtOnce). It returns when every run has uploaded its
// files, with the time the last one finished and the requests accepted and
// refused.
func uploadFiles(q service, seed uint64, shards, workers, files int, rtt time.Duration, refusedAtOnce bool) (took time.Duration, accepted, refused int) {
	return uploadShards(q, seed, shards, workers, files, rtt, refusedAtOnce, 0)
}

// uploadShards is uploadFiles with the runs starting one after the other,
// stagger apart and a little more at random, as the pods of a job do.
func uploadShards(q service, seed uint64, shards, workers, files int, rtt time.Duration, refusedAtOnce bool, stagger time.Duration) (took time.Duration, accepted, refused int) {
	start := time.Unix(1000, 0)
	clk := newSimClock(start, shards*workers)
	var mu sync.Mutex
	pacers := make([]*Pacer, shards)
	left := make([]int, shards)
	for s := range shards {
		pacers[s], left[s] = New(clk, Options{Policy: DefaultPolicy()}), files
	}
	// A file refused by a pacer that holds no other request for it waits its
	// Retry-After outside the pool (as internal/upload's pool does): its
	// worker takes another file meanwhile.
	parked := make([][]time.Time, shards)
	next := func(s int) bool { // takes a file of shard s, if one is left
		for {
			mu.Lock()
			now := clk.Now()
			if i := slices.IndexFunc(parked[s], func(t time.Time) bool { return !t.After(now) }); i >= 0 {
				parked[s] = slices.Delete(parked[s], i, i+1)
				mu.Unlock()
				return true
			}
			if left[s] > 0 {
				left[s]--
				mu.Unlock()
				return true
			}
			if len(parked[s]) == 0 {
				mu.Unlock()
				return false
			}
			first := slices.MinFunc(parked[s], func(a, b time.Time) int { return a.Compare(b) })
			mu.Unlock()
			_ = clk.Sleep(context.Background(), first.Sub(now))
		}
	}
	clk.run(shards*workers, func(i int) {
		s, p := i/workers, pacers[i/workers]
		rnd := rand.New(rand.NewPCG(seed, uint64(i)))
		if stagger > 0 { // (each worker of a run begins in the stagger after its run's turn)
			_ = clk.Sleep(context.Background(), time.Duration((float64(s)+rnd.Float64())*float64(stagger)))
		}
		for next(s) {
			for {
				tk, err := p.Wait(context.Background())
				if err != nil {
					return
				}
				d := rtt/2 + time.Duration(rnd.Float64()*float64(rtt))
				_ = clk.Sleep(context.Background(), d/2)
				mu.Lock()
				ok, ra := q.take(clk.Now())
				if ok {
					accepted++
					took = max(took, clk.Now().Sub(start)+d-d/2)
				} else {
					refused++
				}
				mu.Unlock()
				if ok || !refusedAtOnce {
					_ = clk.Sleep(context.Background(), d-d/2)
				}
				if ok {
					p.Done(tk, OK, 0)
					break
				}
				if hold := p.Done(tk, Throttled, ra); hold > 0 {
					mu.Lock()
					parked[s] = append(parked[s], clk.Now().Add(hold))
					mu.Unlock()
					break
				}
			}
		}
	})
	return took, accepted, refused
}

// A pool of 50 uploads against a quota with a small burst, whose refusals
// come back before the acceptances of the requests sent with them (a 429 is
// answered before the body is read): the first refusal arrives when one
// acceptance or none has been heard of. The whole run, its start included,
// goes at the quota, run after run (the first measure used to take the one
// acceptance heard of for the rate: one request a second, then a slow climb,
// 0.38 of the quota in one run of twelve).
func TestAPoolOfFiftyGoesAtTheQuotaFromItsStart(t *testing.T) {
	var rates []float64
	for seed := range uint64(12) {
		start := time.Unix(1000, 0)
		q := &bucket{perMin: 600, burst: 20, tokens: 20, last: start}
		took, acc, ref := uploadFiles(q, seed, 1, 50, 500, 40*time.Millisecond, true)
		rate := float64(acc) / took.Minutes() / 600
		rates = append(rates, rate)
		t.Logf("seed %d: 500 files in %s: %.2f of the quota, %d refused", seed, took.Round(100*time.Millisecond), rate, ref)
	}
	assert.GreaterOrEqual(t, slices.Min(rates), 0.95, "every run, start included: %.2f", rates)
}

// Three runs share one key's quota (shards of a Kubernetes Indexed Job), each
// with a third of the files, started a little apart as pods are: the job as
// a whole goes at 0.9 of the quota or more, with under 10% refused. Each run
// probes upward by a step scaled on the largest rate learned, so that their
// shares even out, or doubles its rate every 5 s when that is more, so that a
// run cut far below its share gets back up within seconds when another
// finishes. (With a probe proportional to each run's own rate, the shares
// stayed as uneven as the start left them: 0.82 in the worst of 20 runs
// started together. With the step alone, a run that started 100 ms after
// the others had spent the burst learned one request a second, stepped up by
// a tenth of that, and ran alone for 40 s at a few: 0.74 in the worst of 30.)
func TestThreeShardsShareAQuota(t *testing.T) {
	var rates []float64
	var accepted, refused int
	for seed := range uint64(20) {
		start := time.Unix(1000, 0)
		q := &bucket{perMin: 600, burst: 60, tokens: 60, last: start}
		took, acc, ref := uploadShards(q, seed, 3, 10, 333, 40*time.Millisecond, true, 100*time.Millisecond)
		rate := float64(acc) / took.Minutes() / 600
		rates = append(rates, rate)
		accepted, refused = accepted+acc, refused+ref
	}
	t.Logf("the job's rate, of the quota, in 20 runs: %.2f", rates)
	t.Logf("refused over the 20 runs: %.1f%%", 100*float64(refused)/float64(accepted+refused))
	assert.Less(t, float64(refused)/float64(accepted+refused), 0.08, "refused over the 20 runs")
	slices.Sort(rates)
	assert.GreaterOrEqual(t, rates[1], 0.92, "all but the worst of 20 runs: %.2f", rates)
	assert.GreaterOrEqual(t, rates[0], 0.88, "the worst of 20 runs: %.2f", rates)
}

// A service that refuses every fourth request or so (Retry-After 1 s)
// whatever the rate — a concurrency limit, a load shedder: slowing down does
// not make the refusals rarer, so the pacer stops slowing the pool, and only
// the request refused waits for its Retry-After, outside the pool. A pool of
// 10, each request 20 ms: a pool whose refused requests held their worker
// for the Retry-After went at most 10 / (0.02 s + 1/3 × 1.02 s) = 28
// accepted a second; before the pacer told these refusals from a quota,
// every refusal paused the pool and cut the rate, down to one request a
// second.
func TestRefusalsThatDoNotFollowTheRateStopSlowingThePool(t *testing.T) {
	var rates []float64
	for seed := range uint64(6) {
		q := &randomRefusals{share: 0.25, rnd: rand.New(rand.NewPCG(seed, 11)), after: time.Second}
		took, acc, ref := uploadFiles(q, seed, 1, 10, 1000, 20*time.Millisecond, false)
		rate := float64(acc) / took.Seconds()
		t.Logf("seed %d: 1000 files in %s: %.1f/s, %d refused", seed, took.Round(100*time.Millisecond), rate, ref)
		rates = append(rates, rate)
	}
	// Telling the refusals from a quota takes 5 to 8 episodes, at the rate
	// they left (a run of bad luck, more); the pool then goes as fast as
	// its workers allow, past the 28 a second of a pool held by refusals.
	assert.GreaterOrEqual(t, slices.Min(rates), 15.0, "accepted a second, every run: %.1f", rates)
	var sum float64
	for _, r := range rates {
		sum += r
	}
	assert.GreaterOrEqual(t, sum/float64(len(rates)), 40.0, "accepted a second, on average: %.1f", rates)
}

// A pool of 50 paced at one request a second: when the rate rises, the
// requests waiting go at the new rate at once. (Each used to reserve its
// slot when it began to wait, the last 50 s ahead, and kept it: the pool
// stayed at the old rate for as long.)
func TestWaitingRequestsFollowARateThatRises(t *testing.T) {
	start := time.Unix(1000, 0)
	const workers = 50
	clk := newSimClock(start, workers+1)
	p := New(clk, Options{Policy: DefaultPolicy()})
	p.mu.Lock()
	p.learned, p.holdUntil = 1, start.Add(time.Hour)
	p.mu.Unlock()
	var mu sync.Mutex
	var grants []time.Duration
	clk.run(workers+1, func(i int) {
		if i == workers {
			_ = clk.Sleep(context.Background(), 2*time.Second)
			p.mu.Lock()
			p.learned = 50 // as a probe, or a new measure, would raise it
			p.mu.Unlock()
			return
		}
		for clk.Now().Before(start.Add(4 * time.Second)) {
			tk, err := p.Wait(context.Background())
			if err != nil {
				return
			}
			mu.Lock()
			grants = append(grants, clk.Now().Sub(start))
			mu.Unlock()
			_ = clk.Sleep(context.Background(), 10*time.Millisecond)
			p.Done(tk, OK, 0)
		}
	})
	in := func(from, to time.Duration) int {
		n := 0
		for _, g := range grants {
			if g >= from && g < to {
				n++
			}
		}
		return n
	}
	t.Logf("requests let go: %d in the first 2 s at 1/s, %d in the second after the rise to 50/s", in(0, 2*time.Second), in(2*time.Second, 3*time.Second))
	assert.LessOrEqual(t, in(0, 2*time.Second), 3, "at 1/s")
	assert.GreaterOrEqual(t, in(2*time.Second, 3*time.Second), 40, "at 50/s within a second of the rise")
}

// switching is one service until a moment, another after it.
type switching struct {
	before, after service
	at            time.Time
}

func (s *switching) take(now time.Time) (bool, time.Duration) {
	if now.Before(s.at) {
		return s.before.take(now)
	}
	return s.after.take(now)
}

// Refusals independent of the rate for two minutes (the pacer stops
// slowing the pool), then a quota instead: the share of refusals rises, the
// pacer takes them for a quota again, and runs at it.
func TestAQuotaAfterRefusalsIndependentOfTheRateIsLearned(t *testing.T) {
	start := time.Unix(1000, 0)
	const workers = 10
	clk := newSimClock(start, workers)
	p := New(clk, Options{Policy: DefaultPolicy()})
	at := start.Add(120 * time.Second)
	svc := &switching{
		before: &randomRefusals{share: 0.25, rnd: rand.New(rand.NewPCG(3, 11)), after: time.Second},
		after:  &bucket{perMin: 600, burst: 60, tokens: 60, last: at},
		at:     at,
	}
	acc, ref := pool(p, clk, svc, workers, 20*time.Millisecond, start, start.Add(240*time.Second), 30*time.Second, nil)
	t.Logf("accepted per 30 s %v; refused %v", acc, ref)
	assert.Greater(t, slices.Max(acc[1:4]), 2*acc[6], "while the refusals did not follow the rate, the pool went faster than the quota later allows")
	a, r := sum(acc[6:]), sum(ref[6:]) // from 60 s after the quota began
	assert.InDelta(t, 600, float64(a), 0.1*600, "at the quota: 600 a minute")
	assert.Less(t, float64(r)/float64(a+r), 0.05, "refused")
}

// everyNth refuses every nth request it is asked, whatever the rate (a load
// shedder that counts): unlike a random share, the pattern lines up with
// what the pacer does after a pause.
type everyNth struct {
	n, count int
	after    time.Duration
}

func (e *everyNth) take(time.Time) (bool, time.Duration) {
	e.count++
	return e.count%e.n != 0, e.after
}

// Every fourth (or third) request refused, exactly (Retry-After 1 s), the
// issue's case: the pacer tells it from a quota as it does a random share.
// The first request after a pause is then never refused, so that cannot be
// the only evidence it takes: a rate at the Retry-After's floor whose
// refusals stay as common is evidence too (a quota accepts one request each
// Retry-After).
func TestEveryNthRequestRefusedDoesNotSlowThePool(t *testing.T) {
	for _, c := range []struct{ n, workers, files int }{{4, 10, 1000}, {4, 50, 5000}, {3, 10, 1000}, {4, 3, 1000}} {
		q := &everyNth{n: c.n, after: time.Second}
		took, acc, ref := uploadFiles(q, 1, 1, c.workers, c.files, 20*time.Millisecond, false)
		rate := float64(acc) / took.Seconds()
		// A pool whose refusals held their worker for the Retry-After
		// went at most workers / (0.02 s + 1/(n-1) × 1.02 s) a second;
		// waiting outside the pool, the run goes past that, the time it
		// takes to tell the refusals from a quota included.
		held := float64(c.workers) / (0.02 + 1.02/float64(c.n-1))
		t.Logf("every %dth refused, pool of %d: %d files in %s: %.1f/s (held workers: at most %.1f), %d refused", c.n, c.workers, c.files,
			took.Round(100*time.Millisecond), rate, held, ref)
		assert.GreaterOrEqual(t, rate, 1.5*held, "every %dth refused, pool of %d", c.n, c.workers)
	}
}
