//go:build linux

// Issue 21, item 6: TestAProcFileIsSkippedNotUploadedEmpty (a file that reads differently from its size is skipped with a reason, never uploaded empty).

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A /proc file, reached through --follow-symlinks, says its size is 0 and
// reads as hundreds of bytes: it is skipped with a reason, never uploaded
// empty (nor reported uploaded).
func TestAProcFileIsSkippedNotUploadedEmpty(t *testing.T) {
	st, err := os.Stat("/proc/self/status")
	if err != nil || st.Size() != 0 {
		t.Skip("no /proc/self/status of size 0 here")
	}
	d := startDevserver(t)
	root := t.TempDir()
	writeFile(t, root, "plain.txt", "a plain file")
	require.NoError(t, os.Symlink("/proc/self/status", filepath.Join(root, "status.txt")))
	rep := filepath.Join(t.TempDir(), "report.json")
	code, _, _ := runArgs(t, d, time.Minute, "--files-dir", root, "--no-progress", "--follow-symlinks", "--report", rep)
	assert.Equal(t, 0, code)
	r := readReport(t, rep)
	assert.Equal(t, []string{"skipped"}, r.outcomesOf()["status.txt"])
	for _, f := range r.Files {
		if f.Path == "status.txt" {
			assert.NotEmpty(t, f.Reason, "skipped with a reason")
		}
	}
	assert.Equal(t, []string{"uploaded"}, r.outcomesOf()["plain.txt"])
	for _, x := range d.allDocs(t) {
		assert.NotZero(t, x.Size, "an empty document: %s", x.Filename)
		assert.NotEqual(t, "status.txt", x.Filename)
	}
}
