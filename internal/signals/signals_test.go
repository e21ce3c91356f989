package signals

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTimers hands the state machine timers that fire only when the test
// fires them, and tells the test each one it started.
type fakeTimers struct{ started chan *fakeTimer }

type fakeTimer struct {
	d time.Duration
	c chan time.Time
}

func newFakeTimers() *fakeTimers { return &fakeTimers{started: make(chan *fakeTimer, 4)} }

func (f *fakeTimers) after(d time.Duration) (<-chan time.Time, func() bool) {
	t := &fakeTimer{d: d, c: make(chan time.Time, 1)}
	f.started <- t
	return t.c, func() bool { return true }
}

// next returns the timer the state machine started next.
func (f *fakeTimers) next(t *testing.T, what string) *fakeTimer {
	t.Helper()
	select {
	case tm := <-f.started:
		return tm
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no timer started: "+what)
		return nil
	}
}

func (tm *fakeTimer) fire() { tm.c <- time.Time{} }

const grace, forceAfter = 30 * time.Second, 5 * time.Second

// start runs the state machine on fake signals and timers; forced receives
// the message of a forced exit.
func start(t *testing.T) (ch chan os.Signal, timers *fakeTimers, sig Signals, forced chan string, stop func()) {
	ch = make(chan os.Signal, 3)
	timers = newFakeTimers()
	forced = make(chan string, 1)
	sig, stop = relay(ch, nil, grace, forceAfter, func(msg string) { forced <- msg }, timers.after)
	return ch, timers, sig, forced, stop
}

// The stages of an interruption, fed by hand: the first signal closes Stop,
// the second (or the grace period) cancels Ctx, and a run that is still
// going forceAfter later, or a third signal, ends the process (here:
// forceExit is called).
func TestInterruptionsAlwaysEndTheRun(t *testing.T) {
	for _, tc := range []struct {
		name         string
		graceRunsOut bool
		third        bool
		abandon      string
		want         string
	}{
		{"stuck after the second interrupt", false, false,
			"Second interrupt: abandoning the uploads in flight.",
			"Still running 5s after abandoning the uploads: exiting now; run the same command again to resume."},
		{"third interrupt", false, true,
			"Second interrupt: abandoning the uploads in flight.",
			"Third interrupt: exiting now; run the same command again to resume."},
		{"stuck after the grace period", true, false,
			"Still running 30s after the interrupt: abandoning the uploads in flight.",
			"Still running 5s after abandoning the uploads: exiting now; run the same command again to resume."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, timers, sig, forced, stop := start(t)
			defer stop()
			assert.Equal(t, grace, sig.Grace)
			ch <- os.Interrupt
			waitClosed(t, sig.Stop, "the first interrupt closes Stop")
			g := timers.next(t, "the grace period")
			assert.Equal(t, grace, g.d)
			assert.NoError(t, sig.Ctx.Err(), "and leaves the uploads in flight")
			if tc.graceRunsOut {
				g.fire()
			} else {
				ch <- os.Interrupt
			}
			waitClosed(t, sig.Ctx.Done(), "the second interrupt, or the grace period, cancels the context")
			assert.Equal(t, tc.abandon, <-sig.Abandon)
			f := timers.next(t, "the time left before a forced exit")
			assert.Equal(t, forceAfter, f.d)
			select {
			case msg := <-forced:
				t.Fatalf("forced before its time: %s", msg)
			default:
			}
			if tc.third {
				ch <- os.Interrupt
			} else {
				f.fire()
			}
			select {
			case msg := <-forced:
				assert.Equal(t, tc.want, msg)
			case <-time.After(10 * time.Second):
				t.Fatal("the process was not ended")
			}
		})
	}
}

// A run that ends in time is not ended by force: once stop has returned,
// the force timer's firing does nothing.
func TestARunThatEndsIsNotForced(t *testing.T) {
	ch, timers, sig, forced, stop := start(t)
	ch <- os.Interrupt
	timers.next(t, "the grace period")
	ch <- os.Interrupt
	waitClosed(t, sig.Ctx.Done(), "cancelled")
	f := timers.next(t, "the time left before a forced exit")
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	waitClosed(t, stopped, "stop returns once the state machine has ended")
	f.fire()
	ch <- os.Interrupt
	select {
	case msg := <-forced:
		t.Fatalf("forced after the run ended: %s", msg)
	default:
	}
}

// Progress requests reach the run; those that come while one is pending
// are one request, and never block the relay.
func TestProgressRequestsAreRelayedAndCoalesced(t *testing.T) {
	infoSig := make(chan os.Signal) // unbuffered: each send waits for the relay
	sig, stop := relay(nil, infoSig, grace, forceAfter, func(string) {}, newFakeTimers().after)
	for range 3 {
		select {
		case infoSig <- os.Interrupt:
		case <-time.After(10 * time.Second):
			t.Fatal("the relay blocked on a request nobody read")
		}
	}
	stop()
	assert.Len(t, sig.Info, 1, "one pending request")
	select {
	case <-sig.Stop:
		t.Fatal("a progress request is no interruption")
	default:
	}
}

// StopContext ends at the first interruption, or with its parent.
func TestStopContextEndsAtTheFirstInterrupt(t *testing.T) {
	ch, _, sig, _, stop := start(t)
	defer stop()
	ctx, cancel := sig.StopContext()
	defer cancel()
	assert.NoError(t, ctx.Err())
	ch <- os.Interrupt
	waitClosed(t, ctx.Done(), "the first interrupt ends the context")
	assert.NoError(t, sig.Ctx.Err(), "the run's own context goes on")

	ctx, cancel = Signals{}.StopContext()
	assert.NoError(t, ctx.Err(), "the zero Signals never fire")
	cancel()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		require.Fail(t, what)
	}
}
