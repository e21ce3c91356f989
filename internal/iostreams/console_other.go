//go:build !windows

package iostreams

import (
	"os"

	"golang.org/x/term"
)

// liveConsole reports whether stderr can show the live progress line: a
// terminal.
func liveConsole(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
