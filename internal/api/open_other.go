//go:build !unix

package api

import "os"

// OpenRegular opens path for reading and refuses anything but a regular
// file. (Opening a named pipe does not block on these systems.)
func OpenRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
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
	return f, info, nil
}
