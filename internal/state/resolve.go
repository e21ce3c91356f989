package state

// Where a state file is written: the target of its links.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Resolve returns the file that the state file path designates: path
// itself, or the file a symbolic link at path points to. The store writes
// that file, and compacts it with a temporary file renamed in that file's
// folder, so that a link stays a link. A link to nothing, or anything but a
// regular file, is refused: a named pipe would block the run on its first
// read.
func Resolve(path string) (string, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path, nil
	case err != nil:
		return "", fmt.Errorf("state file %s: %w", path, err)
	case fi.Mode()&fs.ModeSymlink == 0:
		if !fi.Mode().IsRegular() {
			return "", notRegular(path, fi)
		}
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		link, _ := os.Readlink(path)
		return "", fmt.Errorf("state file %s is a symbolic link to %s, which does not exist; create that file (empty will do) or give the path of the file itself",
			path, link)
	}
	if err != nil {
		return "", fmt.Errorf("state file %s: %w", path, err)
	}
	if fi, err = os.Stat(target); err != nil {
		return "", fmt.Errorf("state file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", notRegular(path, fi)
	}
	return target, nil
}

// notRegular refuses a state file that is not a regular file.
func notRegular(path string, fi fs.FileInfo) error {
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m.IsDir():
		kind = "a folder"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("state file %s is %s; give the path of a regular file (or of one to create)", path, kind)
}
