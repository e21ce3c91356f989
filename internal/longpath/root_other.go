//go:build !unix

package longpath

import (
	"io/fs"
	"os"
)

// retry gives up: on Windows, the os package already makes long paths
// work (the \\?\ form).
func retry[T any](_, _ string, tooLong error, _ func(r *os.Root, rel string) (T, error)) (T, error) {
	var zero T
	return zero, tooLong
}

func sortByName([]fs.DirEntry) {}
