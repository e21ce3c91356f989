package retry

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
)

// events is a Slot that records what was done with it, and when.
type events struct {
	clk  *clocktest.Fake
	mu   sync.Mutex
	log  []string
	held bool
}

func (e *events) Release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.held = false
	e.log = append(e.log, "release")
}

func (e *events) Acquire(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.held = true
	e.log = append(e.log, "acquire")
	return nil
}

// shedding drives p, one request at a time on its fake clock, with every
// fourth refused (Retry-After 1 s) whatever the rate, until it takes the
// refusals to be independent of the rate.
func shedding(t *testing.T, p *pace.Pacer) {
	t.Helper()
	for i := 1; i <= 200 && !p.Alone(); i++ {
		tk, err := p.Wait(context.Background())
		require.NoError(t, err)
		if i%4 == 0 {
			p.Done(tk, pace.Throttled, time.Second)
		} else {
			p.Done(tk, pace.OK, 0)
		}
	}
	require.True(t, p.Alone(), "the pacer took the refusals for rate-independent")
}

// A request refused while the refusals are taken to be independent of the
// rate waits its Retry-After alone, with its place in the pool given back
// (so that the pool goes on), and takes one again before it is sent. A
// refusal for a quota (the pacer holds the whole pool) and a failure that
// uses a try keep the place: nothing else could go meanwhile.
func TestARequestThatWaitsAloneGivesItsPlaceBack(t *testing.T) {
	for name, c := range map[string]struct {
		shed    bool
		err     error
		gives   bool
		minWait time.Duration
	}{
		"rate-independent 429": {shed: true, err: status(429, time.Second), gives: true, minWait: time.Second},
		"quota 429":            {shed: false, err: status(429, time.Second), minWait: time.Second},
		"503 while shedding":   {shed: true, err: status(503, 0)},
	} {
		t.Run(name, func(t *testing.T) {
			clk := clocktest.New(time.Unix(1000, 0))
			p := pace.New(clk, pace.Options{Policy: pace.DefaultPolicy()})
			if c.shed {
				shedding(t, p)
			}
			slot := &events{clk: clk, held: true}
			ctx := WithSlot(context.Background(), slot)
			var sent []bool // whether the place was held at each try
			var at []time.Time
			err := New(p, Options{}).Do(ctx, "upload", func(context.Context) error {
				slot.mu.Lock()
				sent = append(sent, slot.held)
				slot.mu.Unlock()
				at = append(at, clk.Now())
				if len(sent) == 1 {
					return c.err
				}
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, []bool{true, true}, sent, "every try is sent holding a place")
			if c.gives {
				assert.Equal(t, []string{"release", "acquire"}, slot.log)
			} else {
				assert.Empty(t, slot.log)
			}
			assert.GreaterOrEqual(t, at[1].Sub(at[0]), c.minWait, "the Retry-After is waited out")
		})
	}
}

// waiting is a clock whose long sleeps (10 s or more) really wait: until
// their context is done, or for ever as far as a test goes (a minute).
type waiting struct{ *clocktest.Fake }

func (w waiting) Sleep(ctx context.Context, d time.Duration) error {
	if d < 10*time.Second {
		return w.Fake.Sleep(ctx, d)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return nil
	}
}

// A run's first interruption withdraws the requests waiting for their next
// try (a Retry-After, a backoff): nothing is on the wire, so nothing is
// left to finish. They end at once with a WithdrawnError, not sent again,
// whether the stop came before the wait (the signal itself, seen at once)
// or during it (the run's stop, which follows it); and a request sent
// again after a lost answer may have been carried out: it says so.
func TestARunsStopWithdrawsTheRequestsWaitingToRetry(t *testing.T) {
	for name, c := range map[string]struct {
		first     error // the first try's failure, when not the 429
		during    bool  // the stop comes during the wait
		maybeDone bool
	}{
		"stopped before the wait":              {},
		"stopped during the wait":              {during: true},
		"a lost answer sent again, then a 429": {first: status(500, 0), maybeDone: true},
	} {
		t.Run(name, func(t *testing.T) {
			p := pace.New(waiting{clocktest.New(time.Unix(1000, 0))}, pace.Options{Policy: pace.DefaultPolicy()})
			run, stop := context.WithCancel(context.Background())
			defer stop()
			signal := make(chan struct{})
			ctx := pace.WithStop(context.Background(), run, signal)
			tries, waiting := 0, make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- New(p, Options{}).Do(ctx, "upload", func(context.Context) error {
					tries++
					if c.first != nil && tries == 1 {
						return c.first
					}
					if c.during {
						close(waiting)
					} else {
						close(signal)
					}
					return status(429, 30*time.Second)
				})
			}()
			if c.during {
				<-waiting
				stop()
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the request still waits its Retry-After after the stop")
			}
			var we *WithdrawnError
			require.ErrorAs(t, err, &we)
			assert.ErrorIs(t, err, ErrWithdrawn)
			assert.Equal(t, c.maybeDone, we.MaybeDone)
			var ae *api.Error
			require.ErrorAs(t, err, &ae, "the last answer is told")
			assert.Equal(t, 429, ae.StatusCode)
			assert.Equal(t, map[bool]int{false: 1, true: 2}[c.first != nil], tries, "not sent again")
		})
	}
}

// A request withdrawn while it waited for its slot of the pacing (the
// transport's error) ends withdrawn at once: no retry is told, none is
// made, even with no retries left to spend (--retries 0 made it a failure).
func TestARequestWithdrawnBeforeItWentIsNotRetried(t *testing.T) {
	clk := clocktest.New(time.Unix(1000, 0))
	p := pace.New(clk, pace.Options{Policy: pace.Policy{Retries: 0, Base: time.Second, Max: time.Minute}})
	var retries []Retry
	tries := 0
	err := New(p, Options{OnRetry: func(r Retry) { retries = append(retries, r) }}).Do(context.Background(), "upload", func(context.Context) error {
		tries++
		return &api.TransportError{Op: "upload", Err: fmt.Errorf("Post: %w", pace.ErrWithdrawn)}
	})
	var we *WithdrawnError
	require.ErrorAs(t, err, &we)
	assert.False(t, we.MaybeDone)
	assert.Equal(t, 1, tries)
	assert.Empty(t, retries)
}
