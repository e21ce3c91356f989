// Package pace decides when each request to the service may go: the rate
// learned from the service's quota, the pause of the whole pool for a
// Retry-After, the probing of an outage one request at a time, the budgets
// that end a run the service will not serve, the waits between retries of
// a failed request, and the withdrawal of the requests still waiting when
// their run stops (WithStop); Transport applies it to every request of a
// run.
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
// whatever pauses came between). The pacer runs just under it
// (learnMargin), holds it for holdFor, then probes upward so that a quota
// that grows is found — but never beyond twice what the service has
// recently accepted, so that a pool with little to send does not run the
// rate up without evidence. The probe adds probeGrowth of the largest rate
// learned in the run every second — a step of the same size for runs that
// share a quota (Kubernetes shards on one key) and learned alike, so that
// their shares even out — or, when that is more, doubles the rate every
// probeDouble (every 10 round trips at least): a run that learned little
// (it started after the others had spent the burst) or was left with
// little (another shard held most of the quota, and has finished) climbs
// back within seconds. Each 429 also holds the whole pool for its
// Retry-After (the floor), after which the slots of the pacing start anew.
const (
	learnMargin = 0.98
	maxCut      = 0.5 // one episode at most halves the rate
	minWindow   = time.Second
	holdFor     = 10 * time.Second
	probeGrowth = 0.08
	probeDouble = 5 * time.Second
	demandSpan  = 2 * time.Second // the time constant of the recent accepted rate
	minRate     = 1.0 / 60
	// The probe's step is at most rttGrowth of the rate each round trip,
	// so that what it sends past the quota before the first refusal comes
	// back stays small (a pool of long requests hears late).
	rttGrowth = 0.1
	// A request waiting for its slot of the pacing reserves it only when it
	// is this close: a pool of many workers at a low rate would otherwise
	// hold slots far ahead, and keep that rate long after it rose.
	reserveAhead = 200 * time.Millisecond
	// An outage is declared after outageAfter unavailable answers in a
	// row; then one request at a time probes, firstProbe after, doubling
	// up to maxProbe.
	outageAfter = 3
	firstProbe  = 2 * time.Second
	maxProbe    = 10 * time.Second
	probePoll   = 100 * time.Millisecond
)

// Refusals that do not follow the rate (a concurrency limit, a load
// shedder, a proxy that refuses a share of requests whatever their pace)
// are told from a quota by what slowing down does to them. After each pause
// of the pool for a Retry-After, the first requests (as many as the learned
// rate sends in half the pause, at least one) are guarded: a quota that is
// this run's alone accepts them, the pause being the service's own word for
// when a request may go again. The pacer remembers the last 2·shedAfter
// episodes (the first time, the newer half may be one episode near the
// Retry-After floor — at most 1.5 requests each Retry-After, which such a
// quota accepts whole or nearly — after the two before it). When, from
// the older half to the newer, the rate went down by half or more (or to
// that floor), yet the share of refusals
// among the answers stayed the same (within shedSame standard deviations:
// neither rarer, as under a quota once the rate is below it, nor more
// common, as under a quota shared with other runs that took what this one
// left), between shedShare and shedMax (in the newer half, and in both
// halves together), and a guarded request was refused
// among the newer, slowing down did not help: the refusals are taken to be
// independent of the rate. The pacer then stops slowing the pool: no
// refusal pauses it or cuts the rate, only the request refused waits for
// its Retry-After (giving its place in the pool back meanwhile: Alone), and
// the rate doubles every shedDouble from where it was. It judges every
// shedWindow answers after that: two windows in a row whose share of
// refusals is more than chance allows at the share found (shedRise over it,
// or half as much again, and 3 standard deviations: one window alone passes
// that by chance once in a few thousand, which a run of hours judges) mean
// a quota came on top, or other runs share one: the next refusal is an
// episode again, and the evidence needed to stop slowing down doubles.
const (
	shedAfter  = 3
	shedShare  = 0.1
	shedMax    = 0.5
	shedSame   = 2.0
	shedWindow = 24
	shedRise   = 0.15
	// shedDouble: while shedding, the rate doubles this often.
	shedDouble = 100 * time.Millisecond
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
	// guarded: one of the first requests given after a pause of the
	// pool, which a quota accepts.
	guarded bool
	// at is when it was given: the refusal of a request sent before the
	// last refusal that set the rate says nothing new of the quota.
	at time.Time
}

// episode is what the pacer remembers of one: the rate in force when it
// came (0: full speed), the answers to requests sent since the episode
// before (this refusal included), and whether the request refused was
// guarded.
type episode struct {
	rate    float64
	answers int64
	guarded bool
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
	next  time.Time // no slot of the pacing before this moment (the end of the last pause)
	slot  time.Time // the last slot of the pacing reserved
	gen   uint64    // counts the pauses: a slot reserved before one is void

	// learning
	learned   float64   // 0: full speed
	peak      float64   // the largest rate learned in the run: the scale of the probe
	rtt       float64   // seconds from a request's permission to its answer, averaged
	reacted   time.Time // when the last episode began: refusals of requests sent before belong to it
	accepted  int64     // requests accepted since
	granted   int64     // requests let go since
	fresh     int64     // answers since to requests sent since
	holdUntil time.Time
	refusedAt time.Time // the first 429 since the last answer, zero if none
	recent    float64   // the recent accepted rate, decaying over demandSpan
	recentT   time.Time // when recent was last updated

	// refusals that do not follow the rate
	episodes  []episode // the last ones, oldest first
	guard     int       // requests still to be given after a pause that are guarded
	shedding  bool      // refusals are taken to be independent of the rate
	shedSince time.Time // since then
	shedNeed  int       // episodes of evidence needed to take them so
	shedBaseN int       // answers, and refusals among them, found then and since
	shedBaseK int       // (but the window being counted)
	shedN     int       // answers of the window being counted, and refusals
	shedK     int       // among them
	shedHigh  bool      // the last window had more refusals than chance allows
	shedRose  bool      // and the one before it too

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
	return &Pacer{clock: c, o: o, start: now, reacted: now, shedNeed: shedAfter}
}

// Policy returns the retry schedule.
func (p *Pacer) Policy() Policy { return p.o.Policy }

// rateAt returns the pacing rate at now, in requests a second; 0: none.
// p.mu must be held.
func (p *Pacer) rateAt(now time.Time) float64 {
	r := p.learned
	if r > 0 && p.shedding {
		// Refusals independent of the rate: the rate doubles every
		// shedDouble (soon past what the pool sends), which shows whether
		// they stay so.
		r *= math.Exp2(now.Sub(p.shedSince).Seconds() / shedDouble.Seconds())
	} else if r > 0 && now.After(p.holdUntil) {
		slope := probeGrowth * max(p.learned, p.peak)
		if p.rtt > 0 {
			slope = min(slope, max(probeGrowth*p.learned, rttGrowth*p.learned/p.rtt))
		}
		dt := now.Sub(p.holdUntil).Seconds()
		r = max(r+slope*dt, r*math.Exp2(dt/max(probeDouble.Seconds(), 10*p.rtt)))
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
				// The next slot is one interval at the rate now after the
				// last one reserved.
				slot := p.slot.Add(time.Duration(float64(time.Second) / r))
				slot = later(slot, later(p.next, now))
				if d = slot.Sub(now); d > reserveAhead {
					d = reserveAhead // look again then: the rate may have risen
					break
				}
				p.slot = slot
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
			if p.guard > 0 {
				t.guarded = true
				p.guard--
			}
			p.mu.Unlock()
			return t, nil
		}
		p.mu.Unlock()
		if err := SleepUnlessStopped(ctx, func(ctx context.Context) error { return p.clock.Sleep(ctx, d) }); err != nil {
			return Ticket{}, err
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
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
// service's capacity, and the Retry-After it carried (0: none). It returns
// how long that request must wait before it is sent again, on top of what
// Wait imposes on every request: 0, but for a refusal that does not depend
// on the rate (see shedAfter), which the request refused waits out alone.
func (p *Pacer) Done(t Ticket, s Signal, retryAfter time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	if t.probe {
		p.probing = false
	}
	if s == None {
		return 0
	}
	if s == Unreachable {
		if !p.answered {
			return 0
		}
		s = Unavailable
	} else {
		p.answered = true
	}
	fresh := !t.at.Before(p.reacted)
	switch s {
	case OK:
		p.accepted++
		if fresh {
			p.fresh++
		}
		if d := now.Sub(t.at).Seconds(); p.rtt == 0 {
			p.rtt = d
		} else {
			p.rtt += (d - p.rtt) / 8 // over the last answers or so
		}
		p.noteAccepted(now)
		p.streak = 0
		p.refusedAt = time.Time{}
		if p.outage {
			p.st.Waited += now.Sub(p.since)
			p.outage = false
		}
		if p.shedding {
			p.noteShed(false) // a rise is acted on at the next refusal
			if p.learned > 0 && p.rateAt(now) > 4*p.recentAt(now)+1 {
				p.learned = 0 // past what the pool sends: full speed
			}
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
		if p.shedding {
			if !p.noteShed(true) {
				return pause // only this request waits
			}
			// More refusals than the rate-independent share: a quota
			// came on top. This refusal is an episode.
			p.stopShedding()
			fresh = true
		}
		// A refusal of a request sent before the pacer last reacted (one of
		// many in flight, a long upload refused once its body was read)
		// belongs to that episode: the rate is not cut again for it.
		if p.learned == 0 || fresh {
			if p.episode(now, t, retryAfter) {
				return pause
			}
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
	return 0
}

// episode notes an episode, and reports whether the refusals so far are
// independent of the rate (see shedAfter), in which case the pacer has
// stopped slowing the pool. p.mu must be held.
func (p *Pacer) episode(now time.Time, t Ticket, retryAfter time.Duration) bool {
	e := episode{rate: p.rateAt(now), answers: p.fresh + 1, guarded: t.guarded}
	if len(p.episodes) >= 2*p.shedNeed {
		p.episodes = p.episodes[1:]
	}
	p.episodes = append(p.episodes, e)
	// At the floor (one request each Retry-After, or a little more), a
	// quota of this run's accepts every request, or nearly: one episode
	// there is as good as the newer half, and the episodes before it as the
	// older — the first time; after a false alarm (shedNeed doubled), the
	// whole evidence is asked for.
	floor := retryAfter > 0 && e.rate > 0 && e.rate <= 1.5/retryAfter.Seconds()
	soon := floor && p.shedNeed == shedAfter && len(p.episodes) >= p.shedNeed
	if enough := len(p.episodes) >= 2*p.shedNeed || soon; !enough {
		return false
	}
	// The older half, and the newer: the rate went down from one to the
	// other, and the share of refusals stayed the same — neither rarer
	// (a quota, once the rate is under it) nor more common (a quota shared
	// with other runs, which took what this one left).
	split := min(p.shedNeed, len(p.episodes)-1)
	older, newer := p.episodes[:split], p.episodes[split:]
	last := newer[len(newer)-1]
	slowed := floor || older[0].rate == 0 || last.rate <= maxCut*older[0].rate
	count := func(es []episode) (answers, refused int, guarded bool) {
		for _, e := range es {
			answers += int(e.answers)
			guarded = guarded || e.guarded
		}
		return answers, len(es), guarded
	}
	n0, k0, _ := count(older)
	n1, k1, guarded := count(newer)
	share, all := float64(k1)/float64(n1), float64(k0+k1)/float64(n0+n1)
	if !slowed || !guarded && !floor || share < shedShare || share > shedMax || all > shedMax || math.Abs(shareZ(k0, n0, k1, n1)) > shedSame {
		return false
	}
	// Slowing down did not help: the pool speeds up again.
	p.shedding, p.shedSince = true, now
	p.shedBaseN, p.shedBaseK = n0+n1, k0+k1
	p.shedN, p.shedK, p.shedRose, p.shedHigh = 0, 0, false, false
	p.episodes, p.guard = p.episodes[:0], 0
	if p.until.After(now) {
		p.until, p.next, p.gen = now, now, p.gen+1
	}
	p.reacted, p.accepted, p.granted, p.fresh = now, 0, 0, 0
	return true
}

// noteShed records an answer while shedding, and reports whether the
// refusals rose past the share found independent of the rate: once every
// shedWindow answers, their share of refusals is compared with that of the
// evidence found when shedding began and of every answer since; more than
// shedRise over it, or half as much again, is more than chance allows; two
// such windows in a row are a rise. p.mu must be held.
func (p *Pacer) noteShed(refused bool) bool {
	p.shedN++
	if refused {
		p.shedK++
	}
	if p.shedN < shedWindow {
		return p.shedRose
	}
	base := float64(p.shedBaseK) / float64(p.shedBaseN)
	share := float64(p.shedK) / float64(p.shedN)
	high := share > shedMax || share > max(base+shedRise, 1.5*base) && shareZ(p.shedBaseK, p.shedBaseN, p.shedK, p.shedN) > 3
	p.shedRose, p.shedHigh = high && p.shedHigh, high
	p.shedBaseN, p.shedBaseK = p.shedBaseN+p.shedN, p.shedBaseK+p.shedK
	p.shedN, p.shedK = 0, 0
	return p.shedRose
}

// shareZ is how many standard deviations the share of refusals k1 of n1
// lies above k0 of n0 (the two-proportion z statistic).
func shareZ(k0, n0, k1, n1 int) float64 {
	p := float64(k0+k1) / float64(n0+n1)
	sd := math.Sqrt(p * (1 - p) * (1/float64(n0) + 1/float64(n1)))
	if sd == 0 {
		return 0
	}
	return (float64(k1)/float64(n1) - float64(k0)/float64(n0)) / sd
}

// stopShedding goes back to taking refusals for a quota, and doubles the
// evidence needed to stop slowing down again. p.mu must be held.
func (p *Pacer) stopShedding() {
	p.shedding = false
	p.shedNeed *= 2
	p.episodes = p.episodes[:0]
}

// learn sets the rate at an episode: the requests the service accepted
// since the last episode, over the time since (at least minWindow). The
// first episode's window starts with the run, and the service's burst in
// it makes its measure high: the next one corrects it. At the first, the
// answers of a pool come in any order — a refusal, answered at once, can
// come before the acceptances of requests sent with it — so half the rate
// the requests went at is the least it takes (the next episode corrects
// that too). One episode at most halves the rate. p.mu must be held.
func (p *Pacer) learn(now time.Time, retryAfter time.Duration) {
	before := p.rateAt(now)
	window := max(now.Sub(p.reacted), minWindow).Seconds()
	measured := learnMargin * float64(p.accepted) / window
	if p.learned > 0 {
		measured = max(measured, maxCut*before)
	} else {
		measured = max(measured, maxCut*float64(p.granted)/window)
	}
	// Refusals that come whatever the rate would cut it episode after
	// episode down to nothing until they are told from a quota (see
	// shedAfter). The service's own Retry-After is a floor: it says a
	// request may go after that long, so one request each Retry-After is
	// within what it allows (a quota's token comes back within it).
	if retryAfter > 0 {
		measured = max(measured, 1/retryAfter.Seconds())
	}
	p.learned = measured
	if c := p.o.RateLimit; c > 0 {
		p.learned = min(p.learned, c)
	}
	p.learned = max(p.learned, minRate)
	p.peak = max(p.peak, p.learned)
	p.reacted, p.accepted, p.granted, p.fresh = now, 0, 0, 0
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
		// The first requests after it are guarded (see shedAfter).
		p.guard = max(1, int(p.learned*t.Sub(p.clock.Now()).Seconds()/2))
	}
}

// Answered reports whether the service has answered anything in this run.
func (p *Pacer) Answered() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered
}

// Alone reports whether a refused request waits for its Retry-After alone:
// the refusals are taken to be independent of the rate (see shedAfter), and
// the pacer holds no other request for them.
func (p *Pacer) Alone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shedding
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
