package cmd

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A mistyped key in the config file is caught like a mistyped flag: the
// file is this tool's own, and a setting silently ignored (a misspelt
// max-delete, say) is worse than a refusal. Exit 2, one line, a suggestion;
// a key of another command (status's session) is a setting all the same.
func TestAnUnknownConfigKeyIsAMistake(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL}
	write := func(text string) { require.NoError(t, os.WriteFile(cfg, []byte(text), 0o600)) }

	write("batchsize: 20\nmax_delete: 10%\nsession: x\n")
	code, out, errOut := runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--config", cfg)
	oneLineExit2(t, code, out, errOut)
	assert.Contains(t, errOut, `paradigm-upload: config file `+cfg+`: unknown setting "batchsize": did you mean batch-size?`)
	assert.Empty(t, rc.seen, "nothing was sent")

	write("batch-size: 20\nmax-delet: 10%\nfrobnicate: 3\n")
	code, out, errOut = runCmd(t, env, "workspaces", "--config", cfg)
	oneLineExit2(t, code, out, errOut)
	assert.Contains(t, errOut, `unknown setting "frobnicate"; unknown setting "max-delet": did you mean max-delete?`,
		"every command reads the one file; each unknown key named")
}

// A PARADIGM_* variable that matches no setting is a warning, with the
// suggestion: the environment is shared with other tools and scripts (and
// PARADIGM_CONTRACT_* belongs to the contract tests), so a stray variable
// must not stop a nightly run — but a misspelt one must not pass unseen.
func TestAnUnknownEnvironmentVariableIsAWarning(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	env := map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL,
		"PARADIGM_BATCHSIZE": "20", "PARADIGM_MAX_FAILS": "3", "PARADIGM_CONTRACT_BASE_URL": "http://x",
		"PARADIGM_SESSION": "x", "PARADIGM_WHATEVER": "1"}
	code, out, errOut := runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--quiet")
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "paradigm-upload: warning: PARADIGM_BATCHSIZE matches no setting: did you mean PARADIGM_BATCH_SIZE?\n"+
		"paradigm-upload: warning: PARADIGM_WHATEVER matches no setting (see paradigm-upload --help)\n", errOut)
	assert.Len(t, rc.got, 1, "the run went on")

	code, out, errOut = runCmd(t, env, "--files-dir", root, "--workspace-id", "42", "--log-format", "json")
	assert.Equal(t, 0, code, errOut)
	assert.Empty(t, out)
	assert.Contains(t, errOut, `"level":"WARN","msg":"PARADIGM_BATCHSIZE matches no setting: did you mean PARADIGM_BATCH_SIZE?"`)
}

// config resolves the settings as an upload would, and validates them as
// an upload would: a value the run would refuse is refused.
func TestConfigValidatesValuesAsTheRunDoes(t *testing.T) {
	env := map[string]string{"PARADIGM_API_KEY": secretKey}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch-size", "99"}, "--batch-size must be between 1 and 50 (got 99)"},
		{[]string{"--max-file-size", "lots"}, "--max-file-size: "},
		{[]string{"--workspace-id", "-3"}, "--workspace-id must be a positive whole number (got -3)"},
		{[]string{"--base-url", "ftp://x"}, "--base-url: "},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--files-dir", "/no/such/folder"}, "--files-dir: "},
	} {
		code, out, errOut := runCmd(t, env, append([]string{"config"}, c.args...)...)
		oneLineExit2(t, code, out, errOut)
		assert.Contains(t, errOut, c.want, "%v", c.args)
	}
	// Settings an upload needs but config does not: not required there.
	code, out, errOut := runCmd(t, env, "config")
	assert.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "batch-size")
	env["PARADIGM_BATCH_SIZE"] = "0"
	code, _, errOut = runCmd(t, env, "config", "--json")
	assert.Equal(t, 2, code)
	assert.True(t, strings.HasPrefix(errOut, "paradigm-upload: --batch-size must be between 1 and 50 (got 0)"), errOut)
}
