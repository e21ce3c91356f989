//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTheDemoSaysWhatItShows runs make demo's script with the binary under
// test and checks that each step's narration matches what the step prints.
func TestTheDemoSaysWhatItShows(t *testing.T) {
	bin, err := exec.LookPath("paradigm-upload")
	require.NoError(t, err)
	c := exec.Command("bash", "scripts/demo.sh")
	c.Dir = ".."
	c.Env = append(os.Environ(), "BIN="+bin)
	b, err := c.CombinedOutput()
	out := string(b)
	require.NoError(t, err, out)
	step := func(narration string) string {
		t.Helper()
		i := strings.Index(out, narration)
		require.GreaterOrEqual(t, i, 0, "%q not in:\n%s", narration, out)
		rest := out[i+len(narration):]
		if j := strings.Index(rest, "\n\n\n"); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}

	first := step("Upload, then follow processing until every document is done (--wait):")
	assert.Contains(t, first, "Uploaded:     7 files")
	assert.Contains(t, first, "1  in --exclude-extensions")
	assert.Contains(t, first, "1  unsupported extension")
	assert.Contains(t, first, "Processing:   embedded 6 · parsing_failed 1\n")
	assert.Contains(t, first, "processing failed: scans/corrupt-scan.pdf")
	assert.Contains(t, first, "(exit 3: processing failed for the scan the stand-in fails on purpose)")

	status := step("Later, status asks the service again about every document the state file records:")
	assert.Contains(t, status, "7 documents recorded in ")
	assert.Contains(t, status, "Processing failed for 1 document:\n  scans/corrupt-scan.pdf")
	assert.Contains(t, status, "(exit 3 again: the same scan)")

	rerun := step("Rerunning with the same state file uploads nothing:")
	assert.Contains(t, rerun, "Uploaded:     0 files, 0 B")
	assert.Contains(t, rerun, "Already done: 7")

	night := step("A night later: one file edited, one touched, one removed (--delete):")
	assert.Contains(t, night, "Replaced:     1 file")
	assert.Contains(t, night, "Unchanged:    1 (")
	assert.Contains(t, night, "Deleted:      1 (")
	assert.Contains(t, night, "Already done: 4 (")
	assert.Contains(t, night, "Uploaded:     0 files")
}
