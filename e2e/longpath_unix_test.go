//go:build unix

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// longTree makes, under root, folders nested deeper than PATH_MAX (4096
// bytes on Linux, 1024 on macOS) allows a path to reach, each made relative
// to its parent's descriptor, with a file at several depths; it returns the
// files' relative paths and contents and the longest path's length.
func longTree(t *testing.T, root string, levels int, at ...int) (map[string]string, int) {
	t.Helper()
	files := map[string]string{"short.txt": "a short path"}
	require.NoError(t, os.WriteFile(root+"/short.txt", []byte(files["short.txt"]), 0o644))
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	rel, longest := "", 0
	want := map[int]bool{}
	for _, l := range at {
		want[l] = true
	}
	for level := 1; level <= levels; level++ {
		name := fmt.Sprintf("%03d-%s", level, strings.Repeat("d", 196))
		require.NoError(t, unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		unix.Close(fd)
		fd = next
		rel += name + "/"
		if want[level] {
			file := fmt.Sprintf("doc-at-level-%d.txt", level)
			content := fmt.Sprintf("a file %d folders deep", level)
			ffd, err := unix.Openat(fd, file, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
			require.NoError(t, err)
			_, err = unix.Write(ffd, []byte(content))
			require.NoError(t, err)
			unix.Close(ffd)
			files[rel+file] = content
			longest = max(longest, len(root)+1+len(rel+file))
		}
	}
	unix.Close(fd)
	return files, longest
}

// TestPathsLongerThanTheSystemLimit: files whose path is longer than the
// system allows a path to be (PATH_MAX) are found, uploaded and recorded
// like any other — each once, never dropped, never retried for ever.
func TestPathsLongerThanTheSystemLimit(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	files, longest := longTree(t, root, 24, 5, 19, 21, 24)
	t.Logf("longest path: %d bytes", longest)
	require.Greater(t, longest, 4096)
	stateFile := t.TempDir() + "/state.json"
	reportFile := t.TempDir() + "/report.json"
	args := []string{"--files-dir", root, "--state-file", stateFile, "--no-progress", "--report", reportFile}
	r := startUpload(t, d, args...)
	code := r.wait(t)
	t.Logf("stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	require.Equal(t, 0, code)
	assert.Contains(t, r.out.String(), fmt.Sprintf("Uploaded:     %d files", len(files)))

	// Every file arrived once, byte for byte.
	resp, err := http.Get(d.url + "/_devserver/documents?workspace_id=42")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Documents []struct {
			SHA256 string `json:"sha256"`
		} `json:"documents"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	got := map[string]int{}
	for _, doc := range body.Documents {
		got[doc.SHA256]++
	}
	want := map[string]int{}
	for _, content := range files {
		sum := sha256.Sum256([]byte(content))
		want[hex.EncodeToString(sum[:])]++
	}
	assert.Equal(t, want, got)

	b, err := os.ReadFile(reportFile)
	require.NoError(t, err)
	var rep struct {
		Files []struct {
			Path    string `json:"path"`
			Outcome string `json:"outcome"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	paths := map[string]string{}
	for _, f := range rep.Files {
		paths[f.Path] = f.Outcome
	}
	for p := range files {
		assert.Equal(t, "uploaded", paths[p], "%.60s…", p)
	}
	assert.Len(t, rep.Files, len(files), "each file once in the report")

	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Contains(t, r.out.String(), fmt.Sprintf("Already done: %d", len(files)), "recorded, and found again")
}
