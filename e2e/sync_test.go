//go:build unix

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doc is a document as GET /_devserver/documents lists it.
type doc struct {
	ID               int64   `json:"id"`
	ExternalID       *string `json:"external_id"`
	SHA256           string  `json:"sha256"`
	Versions         int     `json:"versions"`
	ExternalMetadata struct {
		AdditionalMetadata map[string]any `json:"additional_metadata"`
	} `json:"external_metadata"`
}

func (d *devserver) documents(t *testing.T) []doc {
	t.Helper()
	return devDocuments[doc](t, d)
}

// mirrored asserts that the workspace holds exactly one document per file of
// root, with the file's content, and returns the documents by path.
func mirrored(t *testing.T, d *devserver, root string) map[string]doc {
	t.Helper()
	want := map[string]string{} // sha256 → path
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(root, p)
		want[hex.EncodeToString(sum[:])] = rel
		return nil
	}))
	docs := d.documents(t)
	byPath := map[string]doc{}
	ids := map[string]int{}
	for _, x := range docs {
		path, _ := x.ExternalMetadata.AdditionalMetadata["path"].(string)
		require.NotContains(t, byPath, path, "%s: two documents", path)
		byPath[path] = x
		if x.ExternalID != nil {
			ids[*x.ExternalID]++
		}
		_, ok := want[x.SHA256]
		assert.True(t, ok, "%s: its content is no file's (sha256 %s)", path, x.SHA256)
	}
	for id, n := range ids {
		assert.Equal(t, 1, n, "external id %s: one document", id)
	}
	assert.Len(t, docs, len(want), "one document per file")
	return byPath
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func touchFile(t *testing.T, root, rel string, d time.Duration) {
	t.Helper()
	at := time.Now().Add(d)
	require.NoError(t, os.Chtimes(filepath.Join(root, rel), at, at))
}

// Night by night, against the devserver: a folder mirrored into a
// workspace with exactly one document per file.
func TestNightlySyncMirrorsTheFolder(t *testing.T) {
	d := startDevserver(t)
	root := t.TempDir()
	for i := 0; i < 30; i++ {
		writeFile(t, root, fmt.Sprintf("d%d/doc-%02d.txt", i%3, i), fmt.Sprintf("document %d, first version\n", i))
	}
	stateFile := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--batch-size", "4", "--state-file", stateFile, "--delete", "--no-progress"}
	night := func(extra ...string) (*run, map[string]int64) {
		t.Helper()
		before := d.stats(t)
		r := startUpload(t, d, append(append([]string{}, args...), extra...)...)
		require.Equal(t, 0, r.wait(t), "stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
		after := d.stats(t)
		delta := map[string]int64{}
		for k, v := range after {
			delta[k] = v - before[k]
		}
		return r, delta
	}
	_, delta := night()
	assert.Equal(t, int64(30), delta["uploads"])
	first := mirrored(t, d, root)

	// 3 edited, 3 only touched, 2 removed, 2 added.
	for _, i := range []int{1, 2, 3} {
		rel := fmt.Sprintf("d%d/doc-%02d.txt", i%3, i)
		writeFile(t, root, rel, fmt.Sprintf("document %d, edited\n", i))
		touchFile(t, root, rel, time.Hour)
	}
	for _, i := range []int{4, 5, 6} {
		touchFile(t, root, fmt.Sprintf("d%d/doc-%02d.txt", i%3, i), 2*time.Hour)
	}
	for _, i := range []int{7, 8} {
		require.NoError(t, os.Remove(filepath.Join(root, fmt.Sprintf("d%d/doc-%02d.txt", i%3, i))))
	}
	writeFile(t, root, "new/one.txt", "new one")
	writeFile(t, root, "new/two.txt", "new two")
	r, delta := night()
	assert.Equal(t, int64(3), delta["replaces"], "the edited files replaced in place")
	assert.Equal(t, int64(2), delta["uploads"], "the added files uploaded")
	reads := delta["requests"] - (3 + 2 + 2)
	assert.True(t, reads >= 5 && reads <= 7,
		"3 replaces, 2 uploads, the preflight and one bulk delete, and a few reads that verify the state file and prove the deletions (%d): nothing for the touched files\n%s", reads, r.out.String())
	assert.Equal(t, int64(1), delta["bulk_deletes"])
	assert.Contains(t, r.out.String(), "Replaced:     3 files")
	assert.Contains(t, r.out.String(), "Unchanged:    3")
	assert.Contains(t, r.out.String(), "Deleted:      2")
	now := mirrored(t, d, root)
	for _, i := range []int{1, 2, 3} {
		rel := fmt.Sprintf("d%d/doc-%02d.txt", i%3, i)
		assert.Equal(t, first[rel].ID, now[rel].ID, "%s keeps its document", rel)
	}

	// The state file lost, every file touched: nothing sent, nothing doubled.
	require.NoError(t, os.Remove(stateFile))
	require.NoError(t, filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			at := time.Now().Add(3 * time.Hour)
			err = os.Chtimes(p, at, at)
		}
		return err
	}))
	r, delta = night()
	for _, k := range []string{"uploads", "replaces", "patches", "deletes", "bulk_deletes"} {
		assert.Zero(t, delta[k], "%s without the state file\n%s", k, r.out.String())
	}
	assert.Contains(t, r.out.String(), "Unchanged:    30")
	mirrored(t, d, root)

	// The folder emptied (an unmounted share): nothing deleted.
	empty := t.TempDir()
	r = startUpload(t, d, "--files-dir", empty, "--state-file", stateFile, "--delete", "--allow-empty", "--no-progress")
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Contains(t, r.out.String(), "nothing deleted: the scan found no file to upload")
	assert.Len(t, d.documents(t), 30)
}

// Names that differ only in Unicode normalisation are two files; a name that
// is not valid UTF-8 is one file: each arrives once with its own content,
// over three runs.
func TestOddNamesArriveOnceEachOverThreeRuns(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("APFS does not keep two names that differ only in normalisation")
	}
	d := startDevserver(t)
	root := t.TempDir()
	for _, n := range []string{"caf\u00e9.txt", "cafe\u0301.txt", "bad-\xff.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(root, n), []byte("content of "+n), 0o644))
	}
	stateFile := filepath.Join(t.TempDir(), "state.json")
	for i := 1; i <= 3; i++ {
		r := startUpload(t, d, "--files-dir", root, "--state-file", stateFile, "--no-progress")
		require.Equal(t, 0, r.wait(t), r.errOut.String())
		docs := mirrored(t, d, root)
		assert.Len(t, docs, 3, "run %d", i)
	}
	assert.Equal(t, int64(3), d.stats(t)["uploads"])
}

// kill -9 at random moments of a run that uploads, replaces and deletes;
// then a clean run: the workspace mirrors the folder exactly, one document
// per identity.
func TestKillNineDuringASyncLosesAndDoublesNothing(t *testing.T) {
	d := startDevserver(t, "--latency", "30ms")
	root := t.TempDir()
	const n = 200
	for i := 0; i < n; i++ {
		writeFile(t, root, fmt.Sprintf("d%d/f%03d.txt", i%5, i), fmt.Sprintf("file %d v1\n", i))
	}
	stateFile := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--batch-size", "6", "--state-file", stateFile, "--delete",
		"--max-delete", "all", "--no-progress"}
	r := startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	// A night's changes: a third edited, a tenth removed, some added.
	for i := 0; i < n; i++ {
		rel := fmt.Sprintf("d%d/f%03d.txt", i%5, i)
		switch {
		case i%3 == 0:
			writeFile(t, root, rel, fmt.Sprintf("file %d v2, longer\n", i))
		case i%10 == 1:
			require.NoError(t, os.Remove(filepath.Join(root, rel)))
		}
	}
	for i := 0; i < 40; i++ {
		writeFile(t, root, fmt.Sprintf("added/a%02d.txt", i), fmt.Sprintf("added %d\n", i))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	killed := 0
	for i := 0; i < 5; i++ {
		r := startUpload(t, d, args...)
		if i < 4 {
			time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond) // a moment to kill at, not a synchronisation
		} else {
			// Last, aim at the deletions: once every edit has arrived.
			waitFor(t, "the replacements", func() bool { return d.stats(t)["replaces"] >= 67 })
		}
		_ = r.cmd.Process.Kill()
		code := r.wait(t)
		if code == -int(syscall.SIGKILL) {
			killed++
		}
		t.Logf("kill %d: exit %d, %d documents, %d replaces, %d deletes", i+1, code, d.stats(t)["documents"],
			d.stats(t)["replaces"], d.stats(t)["deletes"]+d.stats(t)["bulk_deletes"])
	}
	assert.GreaterOrEqual(t, killed, 3, "most kills landed mid-run")
	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), "stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	mirrored(t, d, root)
	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t))
	assert.Contains(t, r.out.String(), "Already done:", "the state file is whole")
	assert.NotContains(t, r.out.String(), "Uploaded:     1")
}
