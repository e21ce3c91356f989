package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
)

// flagFactory is a Factory on buffers whose environment is env alone.
func flagFactory(env map[string]string) (*Factory, *bytes.Buffer) {
	var errOut bytes.Buffer
	return &Factory{
		IOStreams: &iostreams.IOStreams{Out: &bytes.Buffer{}, ErrOut: &errOut},
		Getenv:    func(k string) string { return env[k] },
		Environ:   func() []string { return nil },
	}, &errOut
}

// execute runs c, a command built alone (a root's settings are its own),
// with args.
func execute(c *cobra.Command, args ...string) error {
	c.SilenceErrors, c.SilenceUsage = true, true
	c.SetArgs(args)
	return c.Execute()
}

// The upload's flags, its environment and its config file reach the
// options, each where it ranks, and the run is not started: no key, no
// instance, no upload — the seam of newRootCmd's runF.
func TestUploadFlagsMakeTheOptions(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("max-fails: 4\nbatch-size: 7\nexclude: [a/**, '*.tmp']\n"), 0o600))
	f, errOut := flagFactory(map[string]string{"PARADIGM_MAX_FAILS": "3", "PARADIGM_SOURCE": "contracts"})
	var got *uploadOptions
	c := newRootCmd(f, func(o *uploadOptions) error { got = o; return nil })
	require.NoError(t, execute(c, dir, "--workspace-id", "42", "--batch-size=20", "--tags", "1,2", "-q", "--config", cfg,
		"--include", "b/*", "--include", "c/*", "--timeout", "2m", "--base-url", "https://paradigm.example.com/api/v3"),
		errOut.String())
	require.NotNil(t, got, "runF ran")
	assert.Equal(t, dir, got.FilesDir, "the folder given alone")
	assert.Equal(t, int64(42), got.WorkspaceID)
	assert.Equal(t, int64(20), got.BatchSize, "a flag beats the config file")
	assert.Equal(t, int64(3), got.MaxFails, "the environment beats the config file")
	assert.Equal(t, "contracts", got.Source)
	assert.Equal(t, []string{"a/**,*.tmp"}, got.Exclude, "the config file beats the default (a list: comma-separated)")
	assert.Equal(t, []string{"b/*", "c/*"}, got.Include, "repeated")
	assert.Equal(t, "1,2", got.Tags)
	assert.True(t, got.Quiet)
	assert.Equal(t, 2*time.Minute, got.conn.Timeout)
	assert.Equal(t, "https://paradigm.example.com/api/v3", got.conn.BaseURL, "checked by the run, not here")
	assert.Equal(t, "100MB", got.MaxFileSize, "the defaults")
	assert.Equal(t, int64(5), got.Retries)
	assert.Equal(t, "25%", got.MaxDelete)
	assert.Equal(t, "env PARADIGM_MAX_FAILS", got.conn.sources["max-fails"].String())
	assert.Equal(t, "config "+cfg, got.conn.sources["exclude"].String())
	assert.Empty(t, errOut.String(), "nothing to say: no key was asked for")

	// A flag that does not parse, or a value of the environment that does
	// not, stops the command before the run.
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--batch-size", "many"}},
		{map[string]string{"PARADIGM_BATCH_SIZE": "lots"}, nil},
	} {
		f, _ := flagFactory(tc.env)
		c := newRootCmd(f, func(*uploadOptions) error { t.Error("the run started"); return nil })
		assert.Error(t, execute(c, tc.args...), "%v %v", tc.env, tc.args)
	}
}

// The same seam for status: its flags and environment reach its options,
// and --state-file is required before the run.
func TestStatusFlagsMakeTheOptions(t *testing.T) {
	f, errOut := flagFactory(map[string]string{"PARADIGM_SESSION": "11111111-2222-4333-8444-555555555555"})
	var got *statusOptions
	c := newStatusCmd(f, func(o *statusOptions) error { got = o; return nil })
	require.NoError(t, execute(c, "--state-file", "upload_state.json", "--json", "--api-key-file", "key", "--allow-http"),
		errOut.String())
	require.NotNil(t, got)
	assert.Equal(t, "upload_state.json", got.StateFile)
	assert.Equal(t, "11111111-2222-4333-8444-555555555555", got.Session)
	assert.True(t, got.JSON)
	assert.Equal(t, "key", got.conn.APIKeyFile, "not read yet: the run reads it")
	assert.True(t, got.conn.AllowHTTP)
	assert.Equal(t, time.Minute, got.conn.Timeout)

	f, _ = flagFactory(nil)
	c = newStatusCmd(f, func(*statusOptions) error { t.Error("the run started"); return nil })
	assert.EqualError(t, execute(c, "--json"), "--state-file is required")
}
