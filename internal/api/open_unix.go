//go:build unix

package api

import (
	"os"
	"syscall"

	"github.com/paradigm-upload/paradigm-upload/internal/longpath"
)

// OpenRegular opens path for reading without ever blocking — a FIFO or a
// device put at the path since the scan would block a plain open forever —
// and refuses anything but a regular file. A path longer than the system's
// limit is opened one folder at a time (internal/longpath).
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := longpath.Open(path, os.O_RDONLY|syscall.O_NONBLOCK)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, ErrNotRegular
	}
	// Reads of a regular file ignore O_NONBLOCK; clear it all the same.
	if err := syscall.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}
