//go:build unix

package longpath

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// retry runs fn on name relative to the root of the file system, resolved
// one folder at a time, after the plain call failed with tooLong. Its error
// names name, as the plain call's would.
func retry[T any](name, op string, tooLong error, fn func(r *os.Root, rel string) (T, error)) (T, error) {
	var zero T
	abs, err := filepath.Abs(name)
	if err != nil {
		return zero, tooLong
	}
	r, err := os.OpenRoot("/")
	if err != nil {
		return zero, tooLong
	}
	defer func() { _ = r.Close() }()
	rel := strings.TrimLeft(abs, "/")
	if rel == "" {
		rel = "."
	}
	v, err := fn(r, rel)
	if err != nil {
		return zero, &fs.PathError{Op: op, Path: name, Err: underlying(err)}
	}
	return v, nil
}

func sortByName(entries []fs.DirEntry) {
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}
