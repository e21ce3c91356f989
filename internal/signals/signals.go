// Package signals owns how the process answers its signals: the interrupt
// state machine — the first SIGINT or SIGTERM stops new uploads, the
// second (or a grace period after the first) abandons those in flight, and
// a run still going a while later, or a third signal, ends the process —
// and the progress requests (SIGUSR1, and SIGINFO where the system has
// it). It hands a run channels and a context; what a run does with them is
// the run's.
package signals

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Grace is how long the uploads in flight have to finish after the first
// interrupt before they are abandoned.
const Grace = 30 * time.Second

// ForceAfter is how long a run has to end once its context is cancelled
// before the process exits all the same.
const ForceAfter = 5 * time.Second

// Signals delivers interruptions to a run: the first closes Stop (no new
// upload starts), the second — or Grace after the first — cancels Ctx
// (uploads in flight are abandoned) and says so on Abandon. Info receives
// a request for a progress line (SIGUSR1, and SIGINFO where the system has
// it). The zero value never fires; a nil Ctx is context.Background.
type Signals struct {
	Stop    <-chan struct{}
	Ctx     context.Context
	Grace   time.Duration
	Abandon <-chan string
	Info    <-chan struct{}
}

// StopContext returns a context that ends at the first interruption, for
// the commands that have no uploads in flight to finish.
func (s Signals) StopContext() (context.Context, context.CancelFunc) {
	parent := s.Ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	if s.Stop != nil {
		go func() {
			select {
			case <-s.Stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// Notify turns SIGINT and SIGTERM into the two-stage shutdown of Signals.
// Ctrl-C always ends the run: once Ctx is cancelled, a run still going
// ForceAfter later — stuck where no context reaches (a read of standard
// input or of a named pipe, a hung file system) — or a third signal ends
// the process through forceExit, with the message to print. It also relays
// the progress signals. The function it returns stops listening, and
// returns once nothing more can fire.
func Notify(forceExit func(msg string)) (Signals, func()) {
	ch := make(chan os.Signal, 3)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	infoSig := make(chan os.Signal, 1)
	if sigs := infoSignals(); len(sigs) > 0 {
		signal.Notify(infoSig, sigs...)
	}
	sig, stopRelay := relay(ch, infoSig, Grace, ForceAfter, forceExit, realTimer)
	return sig, func() {
		signal.Stop(ch)
		signal.Stop(infoSig)
		stopRelay()
	}
}

// newTimer starts a timer of d: its channel, and the function that stops
// it. The state machine waits only through one, so that a test can hand it
// timers that fire when the test says.
type newTimer func(d time.Duration) (<-chan time.Time, func() bool)

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// relay is Notify's state machine, fed by ch (interruptions) and infoSig
// (progress requests), waiting with timers from after.
func relay(ch, infoSig <-chan os.Signal, grace, forceAfter time.Duration, forceExit func(msg string),
	after newTimer) (Signals, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	abandon := make(chan string, 1)
	info := make(chan struct{}, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-infoSig:
				select {
				case info <- struct{}{}:
				default: // one pending request is enough
				}
			case <-done:
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		select {
		case <-ch:
		case <-done:
			return
		}
		close(stop)
		graceC, stopGrace := after(grace)
		defer stopGrace()
		select {
		case <-ch:
			abandon <- "Second interrupt: abandoning the uploads in flight."
		case <-graceC:
			abandon <- fmt.Sprintf("Still running %s after the interrupt: abandoning the uploads in flight.", grace)
		case <-done:
			return
		}
		cancel()
		forceC, stopForce := after(forceAfter)
		defer stopForce()
		select {
		case <-ch:
			forceExit("Third interrupt: exiting now; run the same command again to resume.")
		case <-forceC:
			forceExit(fmt.Sprintf("Still running %s after abandoning the uploads: exiting now; run the same command again to resume.",
				forceAfter))
		case <-done:
		}
	}()
	return Signals{Stop: stop, Ctx: ctx, Grace: grace, Abandon: abandon, Info: info}, func() {
		close(done)
		cancel()
		wg.Wait()
	}
}
