package retry

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
