//go:build unix

package state

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A named pipe where the state file should be would block the run on its
// first read, for ever: it is refused at once, with one line.
func TestStateFileThatIsANamedPipeIsRefused(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	link := filepath.Join(dir, "link.json")
	symlink(t, p, link)
	t.Cleanup(func() {
		// Releases an open that blocked, should one have.
		if f, err := os.OpenFile(p, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, path := range []string{p, link} {
		want := fmt.Sprintf("state file %s is a named pipe; give the path of a regular file (or of one to create)", path)
		assert.EqualError(t, within(t, func() error { _, err := Open(path, hdr, Options{NoSync: true}); return err }), want)
		assert.EqualError(t, within(t, func() error { _, err := Read(path, nil); return err }), want)
	}
}

// within runs fn, and fails the test if it has not returned in 5 s.
func within(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("blocked on the named pipe")
		return nil
	}
}
