//go:build unix

// Review of the sync's core: the real binary against the devserver, for
// a finding of internal/upload/review_test.go that loses a document.
// (The findings that depend on the checkpoint's time windows cannot be
// shown here: the devserver runs on the real clock, and consecutive runs
// fall inside the window that protects them; a night later they do not.)

package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossyProxy passes every request to the devserver; once armed, it resets
// the connection of the first upload after the devserver has stored it,
// and answers 400 to the first lookup by external id.
func lossyProxy(t *testing.T, target *devserver, armed *atomic.Bool) *devserver {
	t.Helper()
	u, err := url.Parse(target.url)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	var uploads, lookups atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !armed.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		switch kind(r) {
		case "upload":
			if uploads.Add(1) == 1 {
				rp.ServeHTTP(httptest.NewRecorder(), r) // stored
				hangUp(w)
				return
			}
		case "lookup":
			if lookups.Add(1) == 1 {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"id":"x","code":400,"error":"bad_request","detail":"The lookup failed.","doc_url":""}`)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &devserver{url: srv.URL}
}

// A night with a state file: a new file's upload is stored but its answer
// lost, and the question that follows fails; the file ends interrupted
// ("the next run asks"). With --delete, the same run takes its "started"
// record for an earlier run's upload of a removed file, asks again, and
// deletes the document: the document of a file that exists, uploaded by
// the run that deletes it.
func TestReviewALostAnswerIsNotDeletedTheSameNight(t *testing.T) {
	var armed atomic.Bool
	d := startDevserver(t)
	p := lossyProxy(t, d, &armed)
	root := t.TempDir()
	writeTree(t, root, "d", "f", 10)
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--no-progress", "--state-file", state, "--delete", "--max-fails", "5"}
	code, _, _ := runArgs(t, p, time.Minute, args...)
	require.Equal(t, 0, code)

	writeFile(t, root, "new.txt", "tonight's new file")
	armed.Store(true)
	rep := filepath.Join(t.TempDir(), "report.json")
	code, _, _ = runArgs(t, p, time.Minute, append(args, "--report", rep)...)
	r := readReport(t, rep)
	t.Logf("exit %d, new.txt: %v", code, r.outcomesOf()["new.txt"])
	assert.NotContains(t, r.outcomesOf()["new.txt"], "deleted", "new.txt's document deleted")
	oneOutcomeEach(t, r, "the report")
	mirrors(t, d, root, 42, "")
}
