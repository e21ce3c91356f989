package cmd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/devserver"
)

// gonetag is the stand-in with tags 1 to 5, whose list of tags is made to
// name tag 7 as well: a tag the preflight saw, gone by the time of the
// uploads (deleted meanwhile).
func gonetag(t *testing.T) *httptest.Server {
	dev, err := devserver.New(devserver.Config{APIKey: secretKey, MaxTagID: 5})
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v3/tags" {
			_, _ = w.Write([]byte(`{"count":2,"next":null,"previous":null,"results":[{"id":7,"name":"gone"},{"id":1,"name":"a"}]}`))
			return
		}
		dev.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A tag the preflight saw, gone by the time of the uploads (deleted
// meanwhile): the stand-in has tags 1 to 5, but its list of tags is made to
// name tag 7 as well. Every upload is stored without its tags and answered
// 207; the run says so and never ends with exit 0.
func TestTagsTheServiceDidNotApplyNeverEndWithExit0(t *testing.T) {
	srv := gonetag(t)
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b"})
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}

	code, out, errOut := runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--tags", "1,7")
	assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "Uploaded:     2 files")
	assert.Contains(t, out, "Warnings:     2")
	assert.Contains(t, out, "uploaded, but the tags were not applied")

	root = writeTree(t, map[string]string{"c.pdf": "c"})
	code, out, errOut = runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--tags", "7", "--quiet")
	assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out+errOut, "tags were not applied", "--quiet says why it did not end well")
	assert.Equal(t, 1, strings.Count(out+errOut, "\n"), "in one line: %q %q", out, errOut)
}

// 3,001 warnings do not flood stdout: the summary names 19 files under
// their one reason, and how many more there are.
func TestManyWarningsAreCappedInTheSummary(t *testing.T) {
	srv := gonetag(t)
	files := map[string]string{}
	for i := 0; i < 300; i++ {
		files[fmt.Sprintf("d%d/f%03d.pdf", i%3, i)] = fmt.Sprint(i)
	}
	root := writeTree(t, files)
	report := filepath.Join(t.TempDir(), "run.json")
	code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL},
		"--files-dir", root, "--workspace-id", "42", "--tags", "7", "--report", report)
	assert.Equal(t, 1, code, errOut)
	assert.Less(t, strings.Count(out, "\n"), 30, "no flood:\n%s", out)
	assert.Contains(t, out, "Warnings:     300\n  uploaded, but the tags were not applied: 300 files\n")
	assert.Contains(t, out, "  … and 281 more (all in "+report+")\n")
	b, err := os.ReadFile(report)
	require.NoError(t, err)
	assert.Equal(t, 300, strings.Count(string(b), `"warning": "uploaded, but the tags were not applied"`), "the report has them all")
}
