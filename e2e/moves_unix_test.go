//go:build unix

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Files that move, and Ctrl-C that must always end the run (#14, item 5),
// with the real binary.

// TestAFileSwappedForANamedPipeIsSkipped: a file the scan found is replaced
// by a named pipe before its upload opens it. Opening a pipe for reading
// would wait for a writer for ever; the upload opens without blocking,
// finds no regular file, and skips it with the reason. The run ends
// normally.
func TestAFileSwappedForANamedPipeIsSkipped(t *testing.T) {
	d := startDevserver(t, "--latency", "300ms")
	root := t.TempDir()
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, name+".txt"), []byte("file "+name), 0o644))
	}
	reportFile := filepath.Join(t.TempDir(), "report.json")
	start := time.Now()
	r := startUpload(t, d, "--files-dir", root, "--batch-size", "1", "--no-progress", "--report", reportFile)
	// One upload at a time, each held 300 ms by the server: once the first
	// has landed, the scan has long found f.txt, which waits its turn
	// behind four uploads.
	waitFor(t, "the first upload", func() bool { return d.stats(t)["uploads"] >= 1 })
	last := filepath.Join(root, "f.txt")
	require.NoError(t, os.Remove(last))
	require.NoError(t, syscall.Mkfifo(last, 0o644))
	code := waitExit(t, r, 20*time.Second)
	t.Logf("ran %s; stdout:\n%s\nstderr:\n%s", time.Since(start).Round(time.Millisecond), r.out.String(), r.errOut.String())
	require.Equal(t, 0, code, "skipped, not failed")
	assert.Contains(t, r.out.String(), "Uploaded:     5 files")
	assert.Regexp(t, `(?m)^Skipped: +1\b`, r.out.String())

	b, err := os.ReadFile(reportFile)
	require.NoError(t, err)
	var rep struct {
		Files []struct {
			Path    string `json:"path"`
			Outcome string `json:"outcome"`
			Reason  string `json:"reason"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	var got []string
	for _, f := range rep.Files {
		if f.Path == "f.txt" {
			got = append(got, f.Outcome+": "+f.Reason)
		}
	}
	assert.Equal(t, []string{"skipped: not a regular file (it changed since the scan)"}, got,
		"found as a file by the scan, skipped when opened: once")
}

// stallingProxy passes every request to the devserver but uploads, which
// it reads and never answers; held counts the uploads it holds.
func stallingProxy(t *testing.T, d *devserver) (*devserver, *atomic.Int32) {
	t.Helper()
	target, err := url.Parse(d.url)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var held atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v3/files" {
			_, _ = io.Copy(io.Discard, r.Body)
			held.Add(1)
			<-r.Context().Done() // no answer, ever: until the client goes
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &devserver{url: srv.URL}, &held
}

// TestTwoInterruptsEndAStalledRun: the server takes the uploads and never
// answers. The first Ctrl-C waits for them (up to 30 s); the second
// abandons them at once, and the run ends with its summary, exit 130.
func TestTwoInterruptsEndAStalledRun(t *testing.T) {
	d := startDevserver(t)
	// An earlier upload from this source shows the instance keeps the
	// external metadata: uploads then go two at a time from the start
	// (rather than the first alone, until its answer shows it).
	seed := makeTree(t, 1)
	require.Equal(t, 0, startUpload(t, d, "--files-dir", seed, "--no-progress").wait(t))
	silent, held := stallingProxy(t, d)
	root := makeTree(t, 6)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	r := startUpload(t, silent, "--files-dir", root, "--batch-size", "2", "--state-file", stateFile, "--no-progress")
	waitFor(t, "two uploads held by the server", func() bool { return held.Load() >= 2 })
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	waitFor(t, "the first interrupt to be handled", func() bool {
		return strings.Contains(r.errOut.String(), "Interrupt again to abandon them")
	})
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	second := time.Now()
	code := waitExit(t, r, 15*time.Second)
	took := time.Since(second)
	t.Logf("ended %s after the second interrupt; stdout:\n%s\nstderr:\n%s", took.Round(time.Millisecond), r.out.String(), r.errOut.String())
	assert.Equal(t, 130, code)
	assert.Less(t, took, 3*time.Second, "the uploads were abandoned at once, not after the forced exit's delay")
	assert.Regexp(t, `(?m)^Interrupted: +2\b`, r.out.String(), "the summary is printed")
	assert.NotContains(t, r.errOut.String(), "exiting now", "the run returned by itself")
	b, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(b), `"op":"started"`), "the abandoned uploads are journalled as unconfirmed")
}

// waitExit waits for the run to end, and kills it (failing the test) if it
// has not within limit.
func waitExit(t *testing.T, r *run, limit time.Duration) int {
	t.Helper()
	code, ended := endWithin(t, r, limit)
	if !ended {
		t.Fatalf("still running %s after the interrupts; stderr:\n%s", limit, r.errOut.String())
	}
	return code
}
