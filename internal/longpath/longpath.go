// Package longpath opens, stats and lists paths of any length. Where the
// system refuses a path as too long (ENAMETOOLONG: longer than PATH_MAX,
// 4096 bytes on Linux and 1024 on macOS), the call is made again relative
// to a descriptor of the file system's root, one folder at a time (os.Root),
// which no length limits: a tree deeper than that limit is walked and its
// files are read like any other. Every other path, and every other error,
// is the plain os call's. It knows nothing of the rest of the tool.
package longpath

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// TooLong reports whether err is the system's refusal of a path as too
// long.
func TooLong(err error) bool { return errors.Is(err, syscall.ENAMETOOLONG) }

// Open opens name with flag (os.O_RDONLY, with os.O_NONBLOCK or not).
func Open(name string, flag int) (*os.File, error) {
	f, err := os.OpenFile(name, flag, 0)
	if !TooLong(err) {
		return f, err
	}
	return retry(name, "open", err, func(r *os.Root, rel string) (*os.File, error) { return r.OpenFile(rel, flag, 0) })
}

// Stat returns what name is, following symbolic links.
func Stat(name string) (fs.FileInfo, error) {
	fi, err := os.Stat(name)
	if !TooLong(err) {
		return fi, err
	}
	return retry(name, "stat", err, func(r *os.Root, rel string) (fs.FileInfo, error) { return r.Stat(rel) })
}

// Lstat returns what name is, a symbolic link itself rather than its target.
func Lstat(name string) (fs.FileInfo, error) {
	fi, err := os.Lstat(name)
	if !TooLong(err) {
		return fi, err
	}
	return retry(name, "lstat", err, func(r *os.Root, rel string) (fs.FileInfo, error) { return r.Lstat(rel) })
}

// ReadDir lists the folder name as os.ReadDir does: sorted by name, with
// what it could read when reading fails part way. The entries' Info works
// whatever the length of their paths.
func ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(name)
	if !TooLong(err) {
		return entries, err
	}
	f, err := retry(name, "open", err, func(r *os.Root, rel string) (*os.File, error) { return r.Open(rel) })
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A folder opened in a root reads its entries' details relative to its
	// own descriptor, not by their (too long) paths.
	entries, err = f.ReadDir(-1)
	sortByName(entries)
	if err != nil {
		err = &fs.PathError{Op: "readdirent", Path: name, Err: underlying(err)}
	}
	return entries, err
}

// underlying returns the system's error inside a path error.
func underlying(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
