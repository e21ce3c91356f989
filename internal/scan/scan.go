// Package scan walks a directory tree and decides, file by file, which files
// are candidates for upload: patterns, extension lists, the supported
// formats, size and age. It streams what it finds to a callback, so a tree
// of any size is walked in constant memory and uploads can start before the
// walk ends.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/longpath"
)

// Entry is one thing found under the root.
type Entry struct {
	Path string // path on disk
	Rel  string // path relative to the root, with forward slashes
	// Key is the file's identity: Rel with each name in one stable form
	// (see key.go). It is Rel itself for the usual printable ASCII names.
	Key     string
	Size    int64
	ModTime time.Time
	// Skip says why the entry is not a candidate; ReasonNone when it is.
	Skip Reason
	// SHA256 is the content's hash, once something computed it.
	SHA256 string
	// Err is set when the entry could not be read (a folder that cannot be
	// listed, a file whose details cannot be read); such entries are failures.
	Err error
	// Unvisited is set on a skipped entry that is, or may be, a folder the
	// walk did not enter (hidden, a link not followed, a loop): files under
	// it exist that the walk does not report.
	Unvisited bool
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

// Walk calls fn for every file under root, folder by folder in lexical
// order, with the filter applied. It stops when ctx is done or fn returns an
// error, and returns that error. Symbolic links are reported as skipped
// unless the filter follows them; a link back to a folder being walked is
// reported as a loop. A folder that cannot be listed is reported by name
// with its error, and the walk goes on. Paths longer than the system's
// limit (PATH_MAX) are walked like any other (see internal/longpath).
func Walk(ctx context.Context, root string, f Filter, fn func(Entry) error) error {
	st, err := longpath.Stat(root)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %w", root, ErrNotDir)
	}
	w := &walker{ctx: ctx, f: f, fn: fn}
	return w.dir(root, "", "", st)
}

type walker struct {
	ctx context.Context
	f   Filter
	fn  func(Entry) error
	// ancestors are the folders being walked, for loop detection.
	ancestors []os.FileInfo
}

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

func (w *walker) dir(path, rel, key string, info os.FileInfo) error {
	entries, err := longpath.ReadDir(path)
	if err != nil && len(entries) == 0 {
		if rel == "" {
			return err
		}
		return w.fn(Entry{Path: path, Rel: rel, Key: key, Err: err})
	}
	w.ancestors = append(w.ancestors, info)
	defer func() { w.ancestors = w.ancestors[:len(w.ancestors)-1] }()
	names := make([]string, len(entries))
	for i, d := range entries {
		names[i] = d.Name()
	}
	keys := componentKeys(names)
	pre := newPrefetcher(entries)
	defer pre.stop()
	for i, d := range entries {
		if cerr := w.ctx.Err(); cerr != nil {
			return cerr
		}
		r := join(rel, names[i])
		k := r // the usual case: the key is the path, one string
		if key != rel || keys[i] != names[i] {
			k = joinKey(key, keys[i])
		}
		if err := w.entry(path, r, k, d, pre.get(i)); err != nil {
			return err
		}
	}
	if err != nil {
		// Listed in part: what was read is walked, the rest is reported.
		return w.fn(Entry{Path: path, Rel: rel, Key: key, Err: err})
	}
	return nil
}

// entry walks one entry of the folder dir; st is its details when they
// were read ahead.
func (w *walker) entry(dir, r, k string, d fs.DirEntry, st stat) error {
	name := d.Name()
	p := filepath.Join(dir, name)
	if w.f.SkipHidden && strings.HasPrefix(name, ".") {
		return w.fn(Entry{Path: p, Rel: r, Key: k, Skip: ReasonHidden, Unvisited: d.IsDir()})
	}
	var info os.FileInfo
	var err error
	if d.Type()&fs.ModeSymlink != 0 {
		if !w.f.FollowSymlinks {
			return w.fn(Entry{Path: p, Rel: r, Key: k, Skip: ReasonSymlink, Unvisited: true})
		}
		info, err = longpath.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return w.fn(Entry{Path: p, Rel: r, Key: k, Skip: ReasonBrokenLink})
			}
			return w.fn(Entry{Path: p, Rel: r, Key: k, Err: err})
		}
		if info.IsDir() {
			for _, a := range w.ancestors {
				if os.SameFile(a, info) {
					return w.fn(Entry{Path: p, Rel: r, Key: k, Skip: ReasonSymlinkLoop, Unvisited: true})
				}
			}
			return w.dir(p, r, k, info)
		}
	} else {
		if st.ok {
			info, err = st.info, st.err
		} else {
			info, err = d.Info()
		}
		if longpath.TooLong(err) {
			// A folder whose path the system takes, holding a name that
			// makes a path it does not.
			info, err = longpath.Lstat(p)
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Gone since the folder was listed — or being replaced: not
				// known to be gone, so reported (and kept from --delete).
				return w.fn(Entry{Path: p, Rel: r, Key: k, Skip: ReasonVanished})
			}
			return w.fn(Entry{Path: p, Rel: r, Key: k, Err: err})
		}
		if info.IsDir() {
			return w.dir(p, r, k, info)
		}
	}
	e := Entry{Path: p, Rel: r, Key: k, Size: info.Size(), ModTime: clock.Clamp(info.ModTime())}
	if !info.Mode().IsRegular() {
		e.Skip = ReasonNotRegular
		return w.fn(e)
	}
	e.Skip = w.f.CheckFile(r, e.Size, e.ModTime)
	return w.fn(e)
}
