package report

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sample() (Meta, *upload.Summary, []upload.Result, []track.Doc) {
	m := Meta{Tool: "paradigm-upload v1.0.0", BaseURL: "https://paradigm.example.com", WorkspaceID: 42,
		FilesDir: "./contracts", StartedAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	results := []upload.Result{
		{Rel: "b/msa.docx", Size: 2048, Outcome: upload.Uploaded, DocumentID: 12, UploadSessionUUID: "550e8400-e29b-41d4-a716-446655440000", Attempts: 1, Duration: 120 * time.Millisecond},
		{Rel: "a/nda.pdf", Size: 1000, Outcome: upload.Replaced, DocumentID: 13, UploadSessionUUID: "550e8400-e29b-41d4-a716-446655440000", Attempts: 3, Duration: 2 * time.Second},
		{Rel: "scan.pdf", Size: 500, Outcome: upload.Uploaded, DocumentID: 14, UploadSessionUUID: "550e8400-e29b-41d4-a716-446655440000", Attempts: 1, Duration: 80 * time.Millisecond, Warning: "uploaded, but the tags were not applied"},
		{Rel: "tool.exe", Size: 10, Outcome: upload.Skipped, Reason: "unsupported extension"},
		{Rel: "old.txt", Size: 5, Outcome: upload.AlreadyDone, Reason: "recorded in the state file", DocumentID: 3, UploadSessionUUID: "0e0e0e0e-0000-4000-8000-000000000000"},
		{Rel: "bad.pdf", Size: 7, Outcome: upload.Failed, Reason: "HTTP 400 Bad Request: Workspace storage limit reached.", Attempts: 1, Duration: 30 * time.Millisecond},
	}
	sum := &upload.Summary{}
	for _, r := range results {
		sum.Add(r)
	}
	sum.Duration = 2500 * time.Millisecond
	sum.Pacing = upload.Pacing{Throttled: 12, Unavailable: 2, Waited: 3 * time.Second, Rate: 9.8}
	docs := []track.Doc{
		{Path: "a/nda.pdf", DocumentID: 13, Status: "embedded"},
		{Path: "b/msa.docx", DocumentID: 12, Status: "embedded"},
		{Path: "scan.pdf", DocumentID: 14, Status: "parsing_failed", StatusDetail: "Failed to parse PDF: File is corrupted or encrypted"},
	}
	return m, sum, results, docs
}

func TestReportGolden(t *testing.T) {
	m, sum, results, docs := sample()
	path := filepath.Join(t.TempDir(), "report.json")
	require.NoError(t, Write(path, Build(m, sum, results, docs)))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "run go test ./internal/report -update after a deliberate change")

	var back Report
	require.NoError(t, json.Unmarshal(got, &back))
	assert.Equal(t, SchemaVersion, back.SchemaVersion)
	assert.Equal(t, "replaced", back.Files[0].Outcome, "a/nda.pdf sorts first and was replaced")
	assert.Equal(t, "embedded", back.Files[0].ProcessingStatus)
	assert.Equal(t, 6, back.Totals.Found)
	assert.Equal(t, int64(3548), back.Totals.Bytes, "the bytes sent: uploads and changes")
	for _, o := range upload.Outcomes() {
		_, ok := back.Totals.Outcomes[o.String()]
		assert.True(t, ok, "every outcome has a total, %s included", o)
	}
	assert.Equal(t, 2, back.Totals.Outcomes["uploaded"])
	assert.Equal(t, 1, back.Totals.Outcomes["replaced"])
	assert.Equal(t, map[string]int{"unsupported extension": 1}, back.Totals.SkippedBy)
	assert.Equal(t, int64(12), back.Totals.Throttled)
	assert.Equal(t, int64(3000), back.Totals.WaitedMS)
	assert.InDelta(t, 588.0, back.Totals.LearnedRatePerMin, 0.01)
}

// A report path that is a symbolic link (to a file, or to one not written
// yet) stays a link: the report lands in the file it points to.
func TestAReportThroughASymbolicLinkKeepsTheLink(t *testing.T) {
	m, sum, results, docs := sample()
	r := Build(m, sum, results, docs)
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "real"), 0o755))
	require.NoError(t, os.Symlink("real/chained.json", filepath.Join(dir, "middle.json")))
	for name, target := range map[string]string{"existing": "real/existing.json", "dangling": "real/later.json", "chain": "real/chained.json"} {
		if name == "existing" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, target), []byte("old"), 0o644))
		}
		link := filepath.Join(dir, name+".json")
		to := target
		if name == "chain" { // chain.json -> middle.json -> real/chained.json, not written yet
			to = "middle.json"
		}
		require.NoError(t, os.Symlink(to, link))
		require.NoError(t, Write(link, r))
		fi, err := os.Lstat(link)
		require.NoError(t, err)
		assert.NotZero(t, fi.Mode()&os.ModeSymlink, "%s: the link was replaced by a file", name)
		fi, err = os.Lstat(filepath.Join(dir, "middle.json"))
		require.NoError(t, err)
		assert.NotZero(t, fi.Mode()&os.ModeSymlink, "%s: the middle link was replaced by a file", name)
		var got Report
		b, err := os.ReadFile(filepath.Join(dir, target))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &got), name)
		assert.Equal(t, r.Totals, got.Totals, name)
	}
}

// The report is the last line of defence for the key: a server that quotes
// it back in an error (a reason, a warning, a processing detail) must not
// get it written to disk, whatever field carries it.
func TestTheReportNeverHoldsTheKey(t *testing.T) {
	const key = "report-secret-key-0123456789"
	m, sum, results, docs := sample()
	results[5].Reason = "HTTP 400 Bad Request: invalid key " + key
	results[2].Warning = "uploaded, but the tags were not applied (" + key + ")"
	docs[2].StatusDetail = "parser said: " + key
	m.BaseURL = "https://paradigm.example.com/?k=" + key
	path := filepath.Join(t.TempDir(), "report.json")
	require.NoError(t, Write(path, Build(m, sum, results, docs), "", key))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), key)
	assert.Equal(t, 4, strings.Count(string(b), "[REDACTED]"), "every place the key was is marked:\n%s", b)
	var back Report
	require.NoError(t, json.Unmarshal(b, &back), "still JSON")
}
