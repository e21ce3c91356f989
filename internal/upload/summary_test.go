package upload

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go test ./internal/upload -update after a deliberate change")
}

func TestSummaryGolden(t *testing.T) {
	s := &Summary{
		Found: 12, Uploaded: 7, Changed: 2, Skipped: 3, Failed: 1, AlreadyDone: 1,
		SkippedBy: map[string]int{"unsupported extension": 2, "in --exclude-extensions": 1},
		Failures:  []Result{{Rel: "contracts/bad.pdf", Outcome: Failed, Reason: "HTTP 422 Unprocessable Entity: The request is invalid. (workspace_id: Workspace 9 does not exist.)"}},
		Warnings:  []Result{{Rel: "notes/tagged.md", Outcome: Uploaded, Warning: "uploaded, but the tags were not applied"}},
		Bytes:     4_200_000, Duration: 3500 * time.Millisecond,
		Sessions: []string{"550e8400-e29b-41d4-a716-446655440000"}, Stopped: StopMaxFails,
	}
	var b bytes.Buffer
	s.WriteSummary(&b)
	golden(t, "summary.golden", b.Bytes())

	dry := &Summary{Found: 3, WouldUpload: 2, WouldBytes: 2048, Skipped: 1, SkippedBy: map[string]int{"larger than --max-file-size": 1}, DryRun: true}
	b.Reset()
	dry.WriteSummary(&b)
	golden(t, "summary-dry-run.golden", b.Bytes())
}
