//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package signals

import (
	"os"
	"syscall"
)

// infoSignals ask a run for a progress line: SIGUSR1, and SIGINFO (Ctrl-T)
// on the systems that have it.
func infoSignals() []os.Signal { return []os.Signal{syscall.SIGUSR1, syscall.SIGINFO} }
