//go:build !unix

package signals

import "os"

// infoSignals ask a run for a progress line: none on this system.
func infoSignals() []os.Signal { return nil }
