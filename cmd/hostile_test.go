package cmd

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An instance given as http:// that redirects to https:// (or anywhere):
// nothing is uploaded, nothing recorded as done, one line names where the
// server points, exit 2 — and the request that went to the target of the
// redirect, with the key, does not exist.
func TestARedirectingInstanceStopsTheRunWithOneLine(t *testing.T) {
	target := &recorder{}
	other := httptest.NewServer(target)
	defer other.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer redirecting.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b", "c/d.pdf": "d"})
	stateFile := filepath.Join(t.TempDir(), "state")
	code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": redirecting.URL},
		"--files-dir", root, "--workspace-id", "42", "--state-file", stateFile, "--no-progress", "--batch-size", "1")
	assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	assert.Contains(t, errOut, "the server redirects to "+other.URL+"/api/v3/")
	assert.Contains(t, errOut, "use that as --base-url")
	assert.Empty(t, target.seen, "nothing reached the other origin")
	assert.NotContains(t, out, "Uploaded:     1")
	b, err := os.ReadFile(stateFile)
	if err == nil {
		assert.NotContains(t, string(b), `"op":"done"`, "nothing recorded as uploaded")
	} else {
		require.ErrorIs(t, err, os.ErrNotExist, "refused before the first upload: no state file made")
	}
}
