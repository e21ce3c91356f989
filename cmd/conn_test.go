package cmd

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
)

func TestTLSFlags(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewTLSServer(rc) // its own CA, unknown to the system
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.pdf": "b"})
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	args := []string{"--files-dir", root, "--workspace-id", "42", "--no-progress"}

	code, _, errOut := runCmd(t, env, args...)
	assert.Equal(t, 2, code, "an unverifiable certificate stops the run: retrying cannot help")
	assert.Contains(t, errOut, "certificate")
	assert.Contains(t, errOut, "pass --ca-cert")
	assert.Empty(t, rc.got)

	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	code, out, errOut := runCmd(t, env, append(args, "--ca-cert", ca)...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Uploaded:     2 files")

	code, _, errOut = runCmd(t, env, append(args, "--insecure-skip-verify", "--state-file", filepath.Join(t.TempDir(), "s"))...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "warning: --insecure-skip-verify")

	bad := filepath.Join(t.TempDir(), "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o644))
	code, _, errOut = runCmd(t, env, append(args, "--ca-cert", bad)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--ca-cert: "+bad+" holds no PEM certificate")
}

func TestPlainHTTPOnlyToThisMachine(t *testing.T) {
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	env := map[string]string{"PARADIGM_API_KEY": secretKey}
	code, _, errOut := runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--base-url", "http://paradigm.example.com", "--dry-run")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "plain http:// to paradigm.example.com would send the API key unencrypted")
	// (--no-external-id: a dry run without identities needs no listing,
	// so nothing is sent anywhere.)
	code, _, errOut = runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--base-url", "http://paradigm.example.com", "--dry-run", "--allow-http", "--no-external-id")
	assert.Equal(t, 0, code, errOut)
	for _, local := range []string{"http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"} {
		code, _, errOut = runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--base-url", local, "--dry-run", "--no-external-id")
		assert.Equal(t, 0, code, "%s: %s", local, errOut)
	}
}

func TestAPIKeySources(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(secretKey+"\n"), 0o600))
	base := []string{"--files-dir", root, "--workspace-id", "42", "--base-url", srv.URL, "--no-progress",
		"--state-file", filepath.Join(dir, "state")}

	code, _, errOut := runCmd(t, nil, append(base, "--api-key-file", keyFile)...)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, errOut, "no warning for a key file")

	open := filepath.Join(dir, "open-key")
	require.NoError(t, os.WriteFile(open, []byte(secretKey), 0o644))
	code, _, errOut = runCmd(t, nil, append(base, "--api-key-file", open)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "can be read by other users (mode 0644); run: chmod 600")

	var out, stderr strings.Builder
	code = Run(Factory{IOStreams: &iostreams.IOStreams{In: strings.NewReader(secretKey + "\n"), Out: &out, ErrOut: &stderr},
		Getenv: func(string) string { return "" }}, append(base, "--api-key-file", "-"))
	assert.Equal(t, 0, code, stderr.String())

	code, _, errOut = runCmd(t, nil, append(base, "--api-key", secretKey)...)
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "warning: a key given with --api-key is visible to other users")
	assert.NotContains(t, errOut, secretKey)

	// A key file given as a flag wins over the environment's key.
	code, _, errOut = runCmd(t, map[string]string{"PARADIGM_API_KEY": "wrong-key-from-env"}, append(base, "--api-key-file", keyFile)...)
	assert.Equal(t, 0, code, errOut)

	code, _, errOut = runCmd(t, nil, append(base, "--api-key", secretKey, "--api-key-file", keyFile)...)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "both --api-key and --api-key-file are set")

	for _, r := range rc.agents() {
		assert.True(t, strings.HasPrefix(r, "paradigm-upload/"), "User-Agent %q", r)
	}
}

// agents lists the User-Agent of every request the recorder saw.
func (rc *recorder) agents() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.uas...)
}

var _ http.Handler = (*recorder)(nil)

// TestKeyAppearsNowhere runs every command and mode with the redacting
// backstop off, and greps everything the tool wrote: output at every
// verbosity, errors, JSON logs, the report, the state file.
func TestKeyAppearsNowhere(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.txt": "b", "c.exe": "c", "d/e.md": "e"})
	dir := t.TempDir()
	state, rep, keyFile := filepath.Join(dir, "state"), filepath.Join(dir, "report.json"), filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(secretKey), 0o600))
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	base := []string{"--files-dir", root, "--workspace-id", "42"}
	var everything []string
	run := func(want int, env map[string]string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Run(Factory{IOStreams: &iostreams.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, NoRedaction: true},
			Getenv: func(k string) string { return env[k] }}, args)
		assert.Equal(t, want, code, "%v:\n%s%s", args, out.String(), errOut.String())
		everything = append(everything, out.String(), errOut.String())
	}
	run(0, env, append(base, "--verbose", "--state-file", state, "--report", rep)...)
	run(0, env, append(base, "--verbose", "--log-format", "json", "--state-file", state)...)
	run(0, env, append(base, "--dry-run", "--verbose")...)
	run(0, env, append(base, "--quiet")...)
	run(0, env, "status", "--state-file", state)
	run(0, env, "status", "--state-file", state, "--json")
	run(0, env, "workspaces", "--base-url", srv.URL)
	run(0, env, "config")
	run(0, nil, append(base, "--api-key", secretKey, "--base-url", srv.URL, "--verbose")...)
	run(0, nil, append(base, "--api-key-file", keyFile, "--base-url", srv.URL, "--verbose")...)
	run(2, map[string]string{"PARADIGM_API_KEY": "rejected-" + secretKey, "PARADIGM_BASE_URL": srv.URL}, append(base, "--verbose")...)
	run(2, map[string]string{"PARADIGM_API_KEY": "rejected-" + secretKey}, "status", "--state-file", state)
	run(0, env, "--help")
	run(0, env, append(base, "--log-format", "json", "--verbose", "--dry-run")...)
	run(2, map[string]string{"PARADIGM_API_KEY": "rejected-" + secretKey, "PARADIGM_BASE_URL": srv.URL},
		append(base, "--log-format", "json", "--verbose")...)
	run(2, nil, append(base, "--api-key", secretKey, "--base-url", srv.URL, "--log-format", "json", "--batch-size", "x")...)
	run(2, nil, append(base, "--api-key", secretKey, "--base-url", deadURL(t), "--log-format", "json", "--verbose")...)
	run(2, env, append(base, "--workspace-id", "7", "--verbose")...)
	run(2, env, "workspaces", "--base-url", deadURL(t))
	run(0, env, "config", "--json")
	for _, f := range []string{state, rep} {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		everything = append(everything, string(b))
	}
	joined := strings.Join(everything, "\n")
	require.Contains(t, joined, "uploaded", "the runs did run")
	require.Contains(t, joined, "http POST /api/v3/files", "verbose HTTP lines were written")
	assert.NotContains(t, joined, secretKey)
	assert.NotContains(t, joined, "Bearer")
}

func TestConfigCommandShowsSourcesAndHidesTheKey(t *testing.T) {
	xdg := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(xdg, "paradigm-upload"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(xdg, "paradigm-upload", "config.yaml"),
		[]byte("batch-size: 7\nmax-fails: 4\nexclude-extensions: [tmp, log]\nbase-url: https://from-config.example.com\n"), 0o600))
	env := map[string]string{"XDG_CONFIG_HOME": xdg, "PARADIGM_API_KEY": secretKey, "PARADIGM_MAX_FAILS": "6"}
	code, out, errOut := runCmd(t, env, "config", "--batch-size", "9")
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^batch-size +9 +flag$`, out)
	assert.Regexp(t, `(?m)^max-fails +6 +env PARADIGM_MAX_FAILS$`, out)
	assert.Regexp(t, `(?m)^exclude-extensions +tmp,log +config .*config\.yaml$`, out)
	assert.Regexp(t, `(?m)^base-url +https://from-config\.example\.com +config `, out)
	assert.Regexp(t, `(?m)^max-file-size +100MB +default$`, out)
	assert.Regexp(t, `(?m)^api-key +\(set, not shown\) +env PARADIGM_API_KEY$`, out)
	assert.NotContains(t, out, secretKey)

	code, out, _ = runCmd(t, env, "config", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"source": "env PARADIGM_MAX_FAILS"`)

	code, _, errOut = runCmd(t, env, "config", "--config", filepath.Join(xdg, "missing.yaml"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "missing.yaml does not exist")
}

func TestVersionAndCompletion(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	require.Equal(t, 0, code)
	assert.Regexp(t, `^paradigm-upload \S+\ncommit \S+\nbuilt \S+\ngo\S+ \w+/\w+\n$`, out)
	code, out, _ = runCmd(t, nil, "--version")
	require.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "paradigm-upload "))
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, _ = runCmd(t, nil, "completion", sh)
		require.Equal(t, 0, code, sh)
		assert.Contains(t, out, "paradigm-upload", sh)
	}
}
