package cmd

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The stages of an interruption, fed by hand: the first signal closes Stop,
// the second cancels Ctx, and a run that is still going forceAfter later,
// or a third signal, ends the process (here: forceExit is called).
func TestInterruptionsAlwaysEndTheRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		third bool
		want  string
	}{
		{"stuck after the second interrupt", false, "Still running 50ms after abandoning the uploads: exiting now; run the same command again to resume."},
		{"third interrupt", true, "Third interrupt: exiting now; run the same command again to resume."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan os.Signal, 3)
			forced := make(chan string, 1)
			forceAfter := 50 * time.Millisecond
			if tc.third {
				forceAfter = time.Hour
			}
			sig, stop := relaySignals(ch, nil, time.Hour, forceAfter, func(msg string) { forced <- msg })
			defer stop()

			ch <- os.Interrupt
			waitClosed(t, sig.Stop, "the first interrupt closes Stop")
			assert.NoError(t, sig.Ctx.Err(), "and leaves the uploads in flight")
			ch <- os.Interrupt
			waitClosed(t, sig.Ctx.Done(), "the second cancels the context")
			assert.Equal(t, "Second interrupt: abandoning the uploads in flight.", <-sig.Abandon)
			if tc.third {
				ch <- os.Interrupt
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

// A run that ends in time is not ended by force.
func TestARunThatEndsIsNotForced(t *testing.T) {
	ch := make(chan os.Signal, 3)
	forced := make(chan string, 1)
	sig, stop := relaySignals(ch, nil, time.Hour, 20*time.Millisecond, func(msg string) { forced <- msg })
	ch <- os.Interrupt
	ch <- os.Interrupt
	waitClosed(t, sig.Ctx.Done(), "cancelled")
	// The run returned; the force timer's time passes, and more: nothing
	// may fire. (A wait for something that must not happen.)
	stop()
	time.Sleep(100 * time.Millisecond)
	select {
	case msg := <-forced:
		t.Fatalf("forced after the run ended: %s", msg)
	default:
	}
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		require.Fail(t, what)
	}
}
