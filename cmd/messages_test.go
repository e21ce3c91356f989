package cmd

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deadURL returns the URL of a loopback port where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// oneLine asserts a run that ended with exit 2 and a single line on stderr.
func oneLineExit2(t *testing.T, code int, out, errOut string) {
	t.Helper()
	assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
}

func TestWorkspacesAndStatusWithNothingListeningAreSetupErrors(t *testing.T) {
	dead := deadURL(t)
	code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey}, "workspaces", "--base-url", dead)
	oneLineExit2(t, code, out, errOut)
	assert.Contains(t, errOut, "nothing is listening at "+dead+" (connection refused)")

	// A state file whose instance has gone away.
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	state := filepath.Join(t.TempDir(), "state")
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	code, _, errOut = runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--state-file", state)
	require.Equal(t, 0, code, errOut)
	srv.Close()
	code, out, errOut = runCmd(t, env, "status", "--state-file", state)
	oneLineExit2(t, code, out, errOut)
	assert.Contains(t, errOut, "nothing is listening at "+srv.URL)
}

func TestOutputPathsAreCheckedBeforeAnyUpload(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b"})
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	base := []string{"--files-dir", root, "--workspace-id", "42"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--report", filepath.Join(missing, "r.json")}, "--report: folder " + missing + " does not exist"},
		{[]string{"--report", root}, "--report: " + root + " is a folder"},
		{[]string{"--state-file", filepath.Join(missing, "s.json")}, "--state-file: folder " + missing + " does not exist"},
		{[]string{"--state-file", filepath.Join(missing, "s.json"), "--dry-run"}, "--state-file: folder " + missing + " does not exist"},
	}
	for _, tc := range cases {
		code, out, errOut := runCmd(t, env, append(base, tc.args...)...)
		oneLineExit2(t, code, out, errOut)
		assert.Contains(t, errOut, tc.want)
	}
	if os.Getuid() != 0 { // root writes anywhere
		ro := t.TempDir()
		require.NoError(t, os.Chmod(ro, 0o555))
		code, out, errOut := runCmd(t, env, append(base, "--report", filepath.Join(ro, "r.json"))...)
		oneLineExit2(t, code, out, errOut)
		assert.Contains(t, errOut, "--report: cannot write in folder "+ro)
	}
	assert.Empty(t, rc.seen, "nothing was sent")

	code, _, errOut := runCmd(t, env, "status", "--state-file", filepath.Join(missing, "s.json"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--state-file "+filepath.Join(missing, "s.json")+" does not exist")
}

func TestAnEmptyTreeIsLoudEvenWithQuiet(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	empty := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(empty, "sub", "deeper"), 0o755))
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	code, out, errOut := runCmd(t, env, "--files-dir", empty, "--workspace-id", "42", "--quiet")
	oneLineExit2(t, code, out, errOut)
	assert.Contains(t, errOut, "holds no files at all (a share that is not mounted?); pass --allow-empty")
	assert.Empty(t, rc.seen)

	code, out, errOut = runCmd(t, env, "--files-dir", empty, "--workspace-id", "42", "--quiet", "--allow-empty")
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, out+errOut, "--quiet prints nothing when all is well")
}

func TestQuietStillNamesAnEarlyStopAndWhatWasNotAttempted(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serveWorkspace42(w, r) {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodPost {
			_, _ = w.Write([]byte(`{"count":0,"next":null,"previous":null,"results":[]}`))
			return
		}
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":"uploads_disabled","detail":"Uploads are disabled."}`))
	}))
	defer failing.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b", "c.pdf": "c", "d.pdf": "d", "e.pdf": "e"})
	code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": failing.URL},
		"--files-dir", root, "--workspace-id", "42", "--batch-size", "1", "--quiet")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line, on stderr: %q", errOut)
	assert.Regexp(t, `^paradigm-upload: uploaded 0, skipped 0, failed 1, not attempted 4 \(0 B in [\d.]+m?s\); `+
		`failed: a\.pdf: HTTP 400 Bad Request: Uploads are disabled\.; `+
		`stopped early: --max-fails reached \(1 failure\); 4 files not attempted; rerun to resume \(`, errOut,
		"what went wrong, the 4 files never tried, and no --state-file in the advice when there is none")
}

// --quiet, for cron (which mails whatever is printed): nothing at all when
// every file ended well; one line on stderr otherwise, even when what went
// wrong ends the run as a whole.
func TestQuietIsSilentOnSuccessAndOneLineOtherwise(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b", "skip.exe": "x"})
	state := filepath.Join(t.TempDir(), "state")
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	for range 2 { // an upload, then a run with nothing to do
		code, out, errOut := runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--quiet", "--state-file", state)
		assert.Equal(t, 0, code, errOut)
		assert.Empty(t, out)
		assert.Empty(t, errOut)
	}

	// The key is rejected mid-run: the line says it, once.
	rejecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serveWorkspace42(w, r) || r.Method == http.MethodGet && emptyList(w, r) {
			return
		}
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":"authentication_failed","detail":"Invalid API key."}`))
	}))
	defer rejecting.Close()
	env["PARADIGM_BASE_URL"] = rejecting.URL
	code, out, errOut := runCmd(t, env, "--files-dir", writeTree(t, map[string]string{"c.pdf": "c"}), "--workspace-id", "42",
		"--quiet")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
	assert.Contains(t, errOut, "stopped early: the API key was rejected")
	assert.Equal(t, 1, strings.Count(errOut, "the API key was rejected"), errOut)
}

func TestABaseURLEndingInAPIV3IsTheInstance(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	for _, base := range []string{srv.URL + "/api/v3", srv.URL + "/API/v3/"} {
		code, _, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey}, "--files-dir", root,
			"--workspace-id", "42", "--base-url", base)
		require.Equal(t, 0, code, errOut)
	}
	for _, line := range rc.seen {
		assert.NotContains(t, line, "/api/v3/api/v3", "the API root is not doubled")
	}
	assert.Len(t, rc.got, 1, "uploaded once; the second run finds it there")
}

// webPage answers every request with a web server's page, as a --base-url
// that names a web site (or a login proxy) rather than the API does.
func webPage(status int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1>" +
			"<p>If you see this page, the nginx web server is successfully installed and working.</p></body></html>"))
	}))
}

// Every command that talks to the service says the same one line, exit 2,
// when what answers is not a Paradigm API; the page is named by its title,
// not pasted.
func TestEveryCommandSaysWhenTheBaseURLIsNotParadigm(t *testing.T) {
	for _, status := range []int{200, 404} {
		srv := webPage(status)
		env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
		code, out, errOut := runCmd(t, env, "workspaces")
		oneLineExit2(t, code, out, errOut)
		assert.Contains(t, errOut, "paradigm-upload: "+srv.URL+" does not look like a Paradigm API: list workspaces: ")
		assert.Contains(t, errOut, " — is --base-url the address of the instance?")
		code, out, errOut2 := runCmd(t, env, "--files-dir", writeTree(t, map[string]string{"a.pdf": "a"}), "--workspace-id", "42")
		oneLineExit2(t, code, out, errOut2)
		assert.Contains(t, errOut2, "paradigm-upload: "+srv.URL+" does not look like a Paradigm API: ")
		for _, e := range []string{errOut, errOut2} {
			assert.NotContains(t, e, "If you see this page", "the page is not pasted")
		}
		srv.Close()
	}
	srv := webPage(404)
	defer srv.Close()
	code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}, "workspaces")
	oneLineExit2(t, code, out, errOut)
	assert.Contains(t, errOut, `HTTP 404 Not Found: an HTML page ("Welcome to nginx!")`)
}

// status --session with a session the state file does not record says so,
// and names those it does: no silent "0 documents".
func TestStatusNamesASessionItDoesNotKnow(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	state := filepath.Join(t.TempDir(), "state")
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	code, _, errOut := runCmd(t, env, "--files-dir", writeTree(t, map[string]string{"a.pdf": "a"}), "--workspace-id", "42",
		"--state-file", state)
	require.Equal(t, 0, code, errOut)
	before := len(rc.seen)
	code, out, errOut := runCmd(t, env, "status", "--state-file", state, "--session", "not-a-session")
	oneLineExit2(t, code, out, errOut)
	assert.Equal(t, "paradigm-upload: --session not-a-session: "+state+" records no upload in that session; "+
		"it records session 11111111-2222-4333-8444-555555555555\n", errOut)
	assert.Len(t, rc.seen, before, "nothing asked of the service")
}
