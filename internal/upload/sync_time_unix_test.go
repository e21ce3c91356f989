//go:build unix

package upload

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// A file with a far-future time (tmpfs, btrfs, NTFS store it), then a run
// killed before it closes its state file: the next run reads it, and finds
// the file unchanged.
func TestAFarFutureFileTimeSurvivesAKill(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	write(t, root, "b.txt", "b")
	far := unix.NsecToTimespec(0)
	far.Sec = 253402300800 // 10000-01-01, beyond what os.Chtimes can set
	require.NoError(t, unix.UtimesNano(filepath.Join(root, "b.txt"), []unix.Timespec{far, far}))
	if info, err := os.Stat(filepath.Join(root, "b.txt")); err != nil || info.ModTime().Year() < 2263 {
		t.Skip("this file system does not store times beyond 2262")
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	st, err := state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	sum, err := Run(context.Background(), Options{Root: root, WorkspaceID: 42, BatchSize: 2, MaxFails: 10, Service: d, State: st})
	require.NoError(t, err)
	require.NoError(t, st.Flush()) // on disk; then kill -9 (no Close): its image
	killed := filepath.Join(t.TempDir(), "state")
	b, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(killed, b, 0o600))
	require.NoError(t, st.Close())
	stateFile = killed
	require.Equal(t, 2, sum.Count(Uploaded))
	snap, err := state.Read(stateFile, nil)
	require.NoError(t, err, "night 2 can read the state file")
	require.Equal(t, 2, snap.Len())
	st, err = state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	defer st.Close()
	sum, err = Run(context.Background(), Options{Root: root, WorkspaceID: 42, BatchSize: 2, MaxFails: 10, Service: d, State: st})
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Count(AlreadyDone), "night 2 finds both files unchanged")
}
