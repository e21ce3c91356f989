package output

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
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
	assert.Equal(t, string(want), string(got), "run go test ./internal/output -update after a deliberate change")
}

func summaryOf(dry bool, results ...upload.Result) *upload.Summary {
	s := &upload.Summary{DryRun: dry}
	for _, r := range results {
		s.Add(r)
	}
	return s
}

func TestSummaryGolden(t *testing.T) {
	const sess = "550e8400-e29b-41d4-a716-446655440000"
	s := summaryOf(false,
		upload.Result{Rel: "a.pdf", Size: 2_000_000, Outcome: upload.Uploaded, UploadSessionUUID: sess},
		upload.Result{Rel: "b.pdf", Size: 1_000_000, Outcome: upload.Uploaded, UploadSessionUUID: sess},
		upload.Result{Rel: "notes/tagged.md", Size: 200_000, Outcome: upload.Uploaded, UploadSessionUUID: sess,
			Warning: "uploaded, but the tags were not applied"},
		upload.Result{Rel: "c.docx", Size: 1_000_000, Outcome: upload.Replaced, UploadSessionUUID: sess},
		upload.Result{Rel: "old.txt", Size: 5, Outcome: upload.AlreadyDone},
		upload.Result{Rel: "x.exe", Outcome: upload.Skipped, Reason: "unsupported extension"},
		upload.Result{Rel: "y.exe", Outcome: upload.Skipped, Reason: "unsupported extension"},
		upload.Result{Rel: "z.tmp", Outcome: upload.Skipped, Reason: "in --exclude-extensions"},
		upload.Result{Rel: "contracts/bad.pdf", Outcome: upload.Failed,
			Reason: "HTTP 422 Unprocessable Entity: The request is invalid. (workspace_id: Workspace 9 does not exist.)"},
	)
	s.Duration, s.Stopped = 3500*time.Millisecond, upload.StopMaxFails
	var b bytes.Buffer
	WriteSummary(&b, s, SummaryOptions{StateFile: true})
	golden(t, "summary.golden", b.Bytes())

	dry := summaryOf(true,
		upload.Result{Rel: "a.pdf", Size: 1024, Outcome: upload.WouldUpload},
		upload.Result{Rel: "b.pdf", Size: 1024, Outcome: upload.WouldUpload, Reason: "changed since its recorded upload"},
		upload.Result{Rel: "huge.pdf", Size: 1 << 30, Outcome: upload.Skipped, Reason: "larger than --max-file-size"},
	)
	b.Reset()
	WriteSummary(&b, dry, SummaryOptions{})
	golden(t, "summary-dry-run.golden", b.Bytes())
}

func TestStopMessagesNameTheStateFileOnlyWhenThereIsOne(t *testing.T) {
	s := summaryOf(false)
	s.Stopped = upload.StopInterrupted
	var with, without bytes.Buffer
	WriteSummary(&with, s, SummaryOptions{StateFile: true})
	WriteSummary(&without, s, SummaryOptions{})
	assert.Contains(t, with.String(), "Interrupted: rerun with the same --state-file to resume.")
	assert.NotContains(t, without.String(), "--state-file")
}

// hostile are names and texts that must never reach a terminal raw: a line
// break that would fake an "uploaded" line, a carriage return that would
// overwrite one, escape sequences (colour, cursor movement, window title),
// invalid UTF-8, and a right-to-left override that would reverse the text.
var hostile = []string{
	"evil\nuploaded      fake.pdf (document 1)",
	"over\rwrite.pdf",
	"red\x1b[31m.pdf",
	"title\x1b]0;pwned\x07.pdf",
	"bad\xff\xfe.pdf",
	"rtl\u202egpj.exe",
	"del\x7f.pdf",
}

// clean fails the test when out holds anything a terminal would act on, or
// more lines than want.
func clean(t *testing.T, what, out string, lines int) {
	t.Helper()
	assert.True(t, utf8.ValidString(out), "%s: invalid UTF-8 in %q", what, out)
	for _, r := range out {
		if r < 0x20 && r != '\n' || r == 0x7f || r == '\u202e' {
			t.Errorf("%s: raw %U in output:\n%q", what, r, out)
			return
		}
	}
	assert.Equal(t, lines, strings.Count(out, "\n"), "%s: a name added lines:\n%s", what, out)
}

// followed are documents --wait followed, one failed: name is in every text.
func followed(name string) []track.Doc {
	return []track.Doc{{Path: name, DocumentID: 1, Status: "parsing_failed", StatusDetail: name},
		{Path: "ok.pdf", DocumentID: 2, Status: name}}
}

func TestOddNamesAreEscapedInEveryHumanOutput(t *testing.T) {
	for _, name := range hostile {
		t.Run(Text(name), func(t *testing.T) {
			// Summary: a failure, a skip reason and a warning, each naming it.
			s := summaryOf(false,
				upload.Result{Rel: name, Outcome: upload.Failed, Reason: "server said " + name},
				upload.Result{Rel: name, Outcome: upload.Skipped, Reason: "odd " + name},
				upload.Result{Rel: name, Outcome: upload.Uploaded, Warning: name, UploadSessionUUID: name},
				upload.Result{Rel: name, Outcome: upload.Interrupted, Reason: name},
			)
			var b bytes.Buffer
			WriteSummary(&b, s, SummaryOptions{})
			clean(t, "summary", b.String(), 11)
			b.Reset()
			WriteOneLine(&b, s, OneLineOptions{Err: errors.New(name), Docs: followed(name), TimedOut: true})
			clean(t, "one-line summary", b.String(), 1)

			// Per-file lines (--verbose) and dry-run lines, one per outcome.
			for _, o := range upload.Outcomes() {
				line := AppendFileLine(nil, upload.Result{Rel: name, Outcome: o, Reason: name, Warning: name, DocumentID: 3, Attempts: 1})
				clean(t, "file line "+o.String(), string(line), 1)
			}

			// status, --wait and workspaces: names and server texts.
			docs := followed(name)
			b.Reset()
			WriteStatus(&b, StatusHeader{StateFile: name, BaseURL: "http://x", WorkspaceID: 1}, docs)
			clean(t, "status", b.String(), 5)
			var out, errOut bytes.Buffer
			WriteProcessing(&out, &errOut, docs, true, SummaryOptions{})
			clean(t, "processing", out.String(), 1)
			clean(t, "processing errors", errOut.String(), 2)
			b.Reset()
			require.NoError(t, WriteWorkspaces(&b, []api.Workspace{{ID: 1, Name: name, WorkspaceType: name}}))
			clean(t, "workspaces", b.String(), 2)
			clean(t, "counts", CountsLine(map[string]int{name: 1})+"\n", 1)

			// HTTP lines of --verbose: a path and an error from the transport.
			b.Reset()
			l := &HTTPLog{W: &b}
			l.emit("GET", "/api/v3/files?filename="+name, 200, time.Millisecond, nil)
			l.emit("GET", "/x", 0, time.Millisecond, errors.New(name))
			clean(t, "http", b.String(), 2)
		})
	}
}

func TestJSONKeepsNamesExact(t *testing.T) {
	name := "bad\xff\n.pdf"
	var b bytes.Buffer
	require.NoError(t, WriteStatusJSON(&b, StatusHeader{}, []track.Doc{{Path: "a\nb.pdf", Status: "embedded"}}))
	assert.Contains(t, b.String(), `"path": "a\nb.pdf"`)
	assert.Equal(t, `"bad\xff\n.pdf"`, Text(name), "people see escapes")
	assert.Equal(t, "plain name.pdf", Text("plain name.pdf"), "ordinary names are left alone")
	assert.Equal(t, "café/報告.pdf", Text("café/報告.pdf"))
}

func TestHTTPLogNeverShowsHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	var b bytes.Buffer
	c := &http.Client{Transport: &HTTPLog{Next: http.DefaultTransport, W: &b}}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/v3/files?page=2", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer secret-key-123")
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Regexp(t, `^http GET /api/v3/files\?page=2: 204 \([\d.]+[µnm]?s\)\n$`, b.String())
	assert.NotContains(t, b.String(), "secret")
}

// The displays say what holds a run back: the learned rate, a pause for a
// Retry-After (and until when), an outage; the summary, what it cost.
func TestThrottlingIsVisible(t *testing.T) {
	now := time.Date(2026, 11, 23, 21, 0, 0, 0, time.Local)
	s := Snapshot{Now: now, By: make([]int64, len(upload.Outcomes()))}
	assert.NotContains(t, PlainLine(s), "throttled", "nothing to say at full speed")
	s.Pace = pace.Status{Rate: 9.8}
	assert.Contains(t, PlainLine(s), "throttled: 588/min (9.8/s)")
	assert.Contains(t, barLine(s, 200, false), "throttled: 588/min (9.8/s)")
	s.Pace = pace.Status{Rate: 9.8, PausedUntil: now.Add(30 * time.Second)}
	assert.Contains(t, PlainLine(s), "paused until 21:00:30 (Retry-After)")
	s.Pace = pace.Status{Outage: true, OutageSince: now.Add(-time.Minute)}
	assert.Contains(t, PlainLine(s), "service unavailable since 20:59:00, probing")

	sum := summaryOf(false, upload.Result{Rel: "a.pdf", Outcome: upload.Uploaded})
	sum.Pacing = upload.Pacing{Throttled: 41, Unavailable: 3, Waited: 95 * time.Second, Rate: 9.8}
	var b bytes.Buffer
	WriteSummary(&b, sum, SummaryOptions{})
	assert.Contains(t, b.String(), "Pacing:       41 requests refused for the quota (sent again), learned rate 588/min (9.8/s); 3 answers of an unavailable service; 1m35s waited\n")
}

// A list of the summary — failures, interruptions, warnings — takes at
// most 20 lines: up to 20 files with their reason; a longer one grouped by
// reason, each with its count, and ending with how many more files there
// are and where to find them.
func TestLongListsAreCappedAndGroupedByReason(t *testing.T) {
	var results []upload.Result
	for i := 0; i < 3001; i++ {
		results = append(results, upload.Result{Rel: fmt.Sprintf("d%d/f%04d.txt", i%8, i), Outcome: upload.Uploaded,
			Warning: "uploaded, but the tags were not applied"})
	}
	for i := 0; i < 25; i++ {
		reason := "HTTP 400 Bad Request: Workspace storage limit reached."
		if i%5 == 0 {
			reason = "cannot be read: permission denied"
		}
		results = append(results, upload.Result{Rel: fmt.Sprintf("bad/%02d.pdf", i), Outcome: upload.Failed, Reason: reason})
	}
	var b bytes.Buffer
	WriteSummary(&b, summaryOf(false, results...), SummaryOptions{})
	out := b.String()
	assert.Less(t, strings.Count(out, "\n"), 60, "no flood:\n%s", out)
	assert.Contains(t, out, "Warnings:     3001\n"+
		"  uploaded, but the tags were not applied: 3001 files\n"+
		"    d0/f0000.txt\n    d1/f0001.txt\n")
	assert.Contains(t, out, "    d2/f0018.txt\n  … and 2982 more (see --report)\n", "20 lines: the reason and 19 files")
	assert.Contains(t, out, "Failed:       25\n"+
		"  HTTP 400 Bad Request: Workspace storage limit reached.: 20 files\n"+
		"    bad/01.pdf\n")
	assert.Contains(t, out, "    bad/23.pdf\n"+ // the 19th of its reason, the 20th line
		"  … and 6 more (see --report)\n", "the next reason's 5 files and the last of the first")

	b.Reset()
	WriteSummary(&b, summaryOf(false, results[:20]...), SummaryOptions{Report: "run.json"})
	assert.Equal(t, 20, strings.Count(b.String(), ": uploaded, but the tags were not applied\n"),
		"20 or fewer: each file with its reason, as before:\n%s", b.String())
	b.Reset()
	WriteSummary(&b, summaryOf(false, results[:21]...), SummaryOptions{Report: "run.json"})
	assert.Contains(t, b.String(), "  … and 2 more (all in run.json)\n", "21 files: a reason and 19 of them")
}

// The summary says every duration the one way — its time, the time waited
// for the service, the one line of --quiet — as the live line says its ETA.
func TestTheSummaryHasOneTimeFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0ms", 13 * time.Millisecond: "13ms", 3456 * time.Millisecond: "3.5s", 59940 * time.Millisecond: "59.9s",
		95 * time.Second: "1m35s", 3723456 * time.Millisecond: "1h02m", 76 * time.Hour: "3d04h",
	} {
		assert.Equal(t, want, formatDuration(d), "%s", d)
	}
	sum := summaryOf(false, upload.Result{Rel: "a.pdf", Outcome: upload.Uploaded, Attempts: 1})
	sum.Duration = 3723456 * time.Millisecond
	sum.Pacing = upload.Pacing{Throttled: 1, Waited: 95*time.Second + 400*time.Millisecond}
	var b bytes.Buffer
	WriteSummary(&b, sum, SummaryOptions{})
	assert.Contains(t, b.String(), "Time:         1h02m (0.0 files/s sent)\n")
	assert.Contains(t, b.String(), "; 1m35s waited\n")
	b.Reset()
	sum.Stopped = upload.StopInterrupted
	WriteOneLine(&b, sum, OneLineOptions{})
	assert.Contains(t, b.String(), " (0 B in 1h02m); ")
}

// The lines of a dry run (and of --verbose) are columns: whatever the
// outcome, the path starts at the same column.
func TestFileLinesAlign(t *testing.T) {
	col := -1
	var lines []string
	for _, o := range upload.Outcomes() {
		line := string(AppendFileLine(nil, upload.Result{Rel: "docs/a.pdf", Outcome: o, Size: 2}))
		lines = append(lines, line)
		i := strings.Index(line, "docs/a.pdf")
		if col < 0 {
			col = i
		}
		assert.Equal(t, col, i, "%s: the path is not in its column:\n%s", o, strings.Join(lines, ""))
		assert.Equal(t, "  ", line[i-2:i], "two spaces at least before the path: %q", line)
	}
}

// A move says where the file was and where it is, in its line, its JSON
// record and the report.
func TestAMoveLineSaysFromWhereToWhere(t *testing.T) {
	line := string(AppendFileLine(nil, upload.Result{Rel: "new/a.txt", From: "old/a.txt", Outcome: upload.WouldMove, DocumentID: 7, Size: 3}))
	assert.Equal(t, "would move     old/a.txt → new/a.txt (document 7, 3 B)\n", line)
}

// --wait with 3,001 documents whose processing failed: at most 20 lines,
// grouped by what the service said, then how many more; a few are each
// named on a line of their own.
func TestProcessingFailuresAreCapped(t *testing.T) {
	docs := make([]track.Doc, 0, 3001)
	for i := range 3001 {
		detail := "the document is corrupted or encrypted"
		if i%1000 == 0 {
			detail = "unsupported format"
		}
		docs = append(docs, track.Doc{Path: fmt.Sprintf("d/f%04d.pdf", i), DocumentID: int64(i + 1), Status: "parsing_failed", StatusDetail: detail})
	}
	var out, errOut bytes.Buffer
	WriteProcessing(&out, &errOut, docs, false, SummaryOptions{Report: "r.json"})
	lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
	assert.LessOrEqual(t, len(lines), maxListed+1, "%s", errOut.String())
	assert.Equal(t, "processing failed: parsing_failed: the document is corrupted or encrypted: 2997 documents", lines[0])
	assert.Equal(t, "  d/f0001.pdf (document 2)", lines[1])
	assert.Equal(t, "processing failed: … and 2982 more (all in r.json)", lines[len(lines)-1])
	assert.Contains(t, out.String(), "Processing:   parsing_failed 3001")

	errOut.Reset()
	WriteProcessing(&out, &errOut, docs[:3], false, SummaryOptions{})
	assert.Equal(t, "processing failed: d/f0000.pdf (document 1): parsing_failed: unsupported format\n"+
		"processing failed: d/f0001.pdf (document 2): parsing_failed: the document is corrupted or encrypted\n"+
		"processing failed: d/f0002.pdf (document 3): parsing_failed: the document is corrupted or encrypted\n", errOut.String())
}
