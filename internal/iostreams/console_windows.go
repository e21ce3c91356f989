//go:build windows

package iostreams

import (
	"os"

	"golang.org/x/sys/windows"
)

// liveConsole reports whether stderr can show the live progress line: a
// console that interprets escape sequences. Windows consoles do once
// virtual terminal processing is on (Windows 10 and later); where it
// cannot be turned on, the plain progress lines are used instead.
func liveConsole(f *os.File) bool {
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return false
	}
	if mode&windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
		return true
	}
	return windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}
