//go:build unix && !(darwin || dragonfly || freebsd || netbsd || openbsd)

package signals

import (
	"os"
	"syscall"
)

// infoSignals ask a run for a progress line.
func infoSignals() []os.Signal { return []os.Signal{syscall.SIGUSR1} }
