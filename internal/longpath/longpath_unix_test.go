//go:build unix

package longpath

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// deep makes folders under root, each relative to its parent's descriptor,
// until the path is longer than PATH_MAX; it returns the deepest folder's
// path (which no plain call takes).
func deep(t *testing.T, root string) string {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	p := root
	for len(p) <= 5000 {
		name := strings.Repeat("x", 200)
		require.NoError(t, unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		unix.Close(fd)
		fd, p = next, p+"/"+name
	}
	for _, name := range []string{"b.txt", "a.txt"} {
		f, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		require.NoError(t, err)
		_, err = unix.Write(f, []byte("content of "+name))
		require.NoError(t, err)
		unix.Close(f)
	}
	// (A named pipe made at a short path and moved: macOS has no mkfifoat.)
	short := filepath.Join(root, "pipe")
	require.NoError(t, syscall.Mkfifo(short, 0o600))
	require.NoError(t, unix.Renameat(unix.AT_FDCWD, short, fd, "pipe"))
	require.NoError(t, unix.Symlinkat("a.txt", fd, "link"))
	unix.Close(fd)
	_, err = os.Stat(p)
	require.True(t, TooLong(err), "the plain call refuses the path: %v", err)
	return p
}

func TestLongPaths(t *testing.T) {
	dir := deep(t, t.TempDir())

	entries, err := ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		info, err := e.Info()
		require.NoError(t, err, e.Name())
		assert.Equal(t, e.Type(), info.Mode().Type(), e.Name())
	}
	assert.Equal(t, []string{"a.txt", "b.txt", "link", "pipe"}, names, "sorted, as os.ReadDir")

	fi, err := Lstat(dir + "/link")
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type())
	fi, err = Stat(dir + "/link")
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "Stat follows the link")
	assert.Equal(t, int64(len("content of a.txt")), fi.Size())

	f, err := Open(dir+"/b.txt", os.O_RDONLY)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	f.Close()
	require.NoError(t, err)
	assert.Equal(t, "content of b.txt", string(b))

	// A named pipe opened without blocking, as api.OpenRegular asks.
	done := make(chan error, 1)
	go func() {
		f, err := Open(dir+"/pipe", os.O_RDONLY|syscall.O_NONBLOCK)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("opening a named pipe blocked")
	}

	// Errors name the path given, with the system's reason.
	missing := dir + "/missing.txt"
	_, err = Open(missing, os.O_RDONLY)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, missing, pe.Path)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = ReadDir(dir + "/a.txt")
	assert.ErrorIs(t, err, syscall.ENOTDIR)
}

// A relative path works as well, and short paths are the plain calls'.
func TestRelativeAndShortPaths(t *testing.T) {
	root := t.TempDir()
	dir := deep(t, root)
	t.Chdir(root)
	rel, err := filepath.Rel(root, dir)
	require.NoError(t, err)
	f, err := Open(rel+"/a.txt", os.O_RDONLY)
	require.NoError(t, err)
	f.Close()

	_, err = Open("nothing-here", os.O_RDONLY)
	assert.True(t, errors.Is(err, fs.ErrNotExist) && !TooLong(err))
	entries, err := ReadDir(".")
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}
