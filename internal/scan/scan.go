// Package scan walks a directory tree and decides, file by file, which files
// are candidates for upload: extension lists, the supported formats and the
// size limit. It streams what it finds to a callback, so a tree of any size
// is walked in constant memory and uploads can start before the walk ends.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Entry is one thing found under the root.
type Entry struct {
	Path    string // path on disk
	Rel     string // path relative to the root, with forward slashes
	Size    int64
	ModTime time.Time
	// Skip says why the entry is not a candidate; ReasonNone when it is.
	Skip Reason
	// SHA256 is the content's hash, once something computed it.
	SHA256 string
	// Err is set when the entry could not be read (a folder that cannot be
	// listed, a file whose details cannot be read); such entries are failures.
	Err error
}

// ErrNotDir is returned when the root is not a directory.
var ErrNotDir = errors.New("not a directory")

// CheckRoot verifies that root exists and is a directory.
func CheckRoot(root string) error {
	st, err := os.Stat(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s does not exist", root)
		}
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %w", root, ErrNotDir)
	}
	return nil
}

// Walk calls fn for every file under root, in lexical order, with the filter
// applied. It stops when ctx is done or fn returns an error, and returns that
// error. Folders are descended into; symbolic links are reported as skipped
// and not followed.
func Walk(ctx context.Context, root string, f Filter, fn func(Entry) error) error {
	if err := CheckRoot(root); err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if err != nil {
			if p == root {
				return err
			}
			// A folder that cannot be listed, or an entry that vanished:
			// reported, never silently dropped.
			return fn(Entry{Path: p, Rel: rel, Err: err})
		}
		if d.IsDir() {
			return nil
		}
		e := Entry{Path: p, Rel: rel}
		if d.Type()&fs.ModeSymlink != 0 {
			e.Skip = ReasonSymlink
			return fn(e)
		}
		info, ierr := d.Info()
		if ierr != nil {
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil // deleted since the folder was listed
			}
			e.Err = ierr
			return fn(e)
		}
		e.Size, e.ModTime = info.Size(), info.ModTime()
		if !info.Mode().IsRegular() {
			e.Skip = ReasonNotRegular
			return fn(e)
		}
		e.Skip = f.Check(d.Name(), e.Size)
		return fn(e)
	})
}
