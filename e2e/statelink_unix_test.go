//go:build unix

package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateFileThatIsASymlink: the link is written through — it stays a
// link, its target gets the records (compacted in the target's folder) —
// and a link to nothing is refused before any upload, in one line.
func TestStateFileThatIsASymlink(t *testing.T) {
	d := startDevserver(t)
	root := makeTree(t, 4)
	linkDir, targetDir := t.TempDir(), t.TempDir()
	target := filepath.Join(targetDir, "state.json")
	link := filepath.Join(linkDir, "state.json")
	require.NoError(t, os.WriteFile(target, nil, 0o600))
	require.NoError(t, os.Symlink(target, link))

	args := []string{"--files-dir", root, "--state-file", link, "--no-progress"}
	r := startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Empty(t, r.errOut.String())
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type(), "still a link")
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(b), `"op":"done"`), "the target holds the records")
	assert.Equal(t, 6, strings.Count(string(b), "\n"), "compacted: the header, one record per file, and the checkpoint")
	entries, err := os.ReadDir(linkDir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing made beside the link")

	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Contains(t, r.out.String(), "Already done: 4")

	dangling := filepath.Join(linkDir, "dangling.json")
	missing := filepath.Join(targetDir, "unmounted", "state.json")
	require.NoError(t, os.Symlink(missing, dangling))
	requests := d.stats(t)["requests"]
	r = startUpload(t, d, "--files-dir", root, "--state-file", dangling, "--no-progress")
	assert.Equal(t, 2, r.wait(t))
	assert.Equal(t, "paradigm-upload: --state-file: state file "+dangling+" is a symbolic link to "+missing+
		", which does not exist; create that file (empty will do) or give the path of the file itself\n", r.errOut.String())
	assert.Equal(t, requests, d.stats(t)["requests"], "refused before any request")
	_, err = os.Lstat(missing)
	assert.ErrorIs(t, err, fs.ErrNotExist, "nothing made through the link")
}
