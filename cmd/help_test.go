package cmd

import (
	"flag"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// allCommands lists the command tree, the root first.
func allCommands() []*cobra.Command {
	root := newRootCmd(&Factory{IOStreams: &iostreams.IOStreams{Out: io.Discard, ErrOut: io.Discard}}, nil)
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return all
}

func TestEveryFlagHasAGroup(t *testing.T) {
	known := map[string]bool{}
	for _, g := range groupOrder() {
		known[g] = true
	}
	for _, c := range allCommands() {
		c.InitDefaultHelpFlag()
		c.Flags().VisitAll(func(f *pflag.Flag) {
			assert.True(t, known[groupOf(f)], "%s --%s has no group: define it with in(flags, group)", c.CommandPath(), f.Name)
			assert.NotContains(t, f.Usage, "`", "%s --%s: a backquoted word becomes the value's placeholder in pflag's usage", c.CommandPath(), f.Name)
		})
	}
}

// TestHelpGolden renders --help of every command, checks that every line
// fits in 80 columns, and compares the whole with testdata/help.golden
// (go test ./cmd -run TestHelpGolden -update rewrites it).
func TestHelpGolden(t *testing.T) {
	var all strings.Builder
	for _, c := range allCommands() {
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "paradigm-upload")), "--help")
		code, out, errOut := runCmd(t, nil, args...)
		require.Equal(t, 0, code, errOut)
		for i, line := range strings.Split(out, "\n") {
			assert.LessOrEqual(t, utf8.RuneCountInString(line), helpWidth, "%s line %d: %q", c.CommandPath(), i+1, line)
		}
		all.WriteString("$ " + c.CommandPath() + " --help\n" + out + "\n")
	}
	p := filepath.Join("testdata", "help.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(p, []byte(all.String()), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), all.String(), "run go test ./cmd -run TestHelpGolden -update after a deliberate change")
}

func TestHelpShowsEachCommandsOwnFlags(t *testing.T) {
	_, out, _ := runCmd(t, nil, "--help")
	for _, s := range []string{"Connection:", "Selection:", "Behaviour:", "Output:", "--workspace-id ID ", "Exit codes:"} {
		assert.Contains(t, out, s)
	}
	_, out, _ = runCmd(t, nil, "config", "--help")
	assert.NotRegexp(t, `(?m)^\s+--batch-size`, out, "config does not repeat the upload flags")
	assert.Contains(t, out, "config takes every flag of an upload")
	assert.Contains(t, out, "--json")
	_, out, _ = runCmd(t, nil, "status", "--help")
	assert.Contains(t, out, "--state-file FILE")
	assert.NotRegexp(t, `(?m)^\s+--base-url`, out)
	assert.NotRegexp(t, `(?m)^\s+--files-dir`, out)
}

func TestMistypedFlagsAndCommandsGetOneHelpfulLine(t *testing.T) {
	root := writeTree(t, map[string]string{"a.pdf": "a"})
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--files-dir", root, "--max-fail", "3"}, "unknown flag --max-fail: did you mean --max-fails? (see paradigm-upload --help)"},
		{[]string{"--files-dir", root, "--workspace", "42"}, "did you mean --workspace-id?"},
		{[]string{"--files-dir", root, "--bach-size", "3"}, "did you mean --batch-size?"},
		{[]string{"statu"}, `unknown command "statu": did you mean "status"?`},
		{[]string{"workspace"}, `did you mean "workspaces"?`},
		{[]string{"status", "--state-file", "s", "--base-url", "http://x"},
			"status takes the instance and the workspace from the state file: --base-url is not needed (see paradigm-upload status --help)"},
		{[]string{"--files-dir", root, "--session", "x"}, "unknown flag --session: it is a flag of paradigm-upload status"},
		{[]string{"workspaces", "--files-dir", root}, "it is a flag of an upload (paradigm-upload --help)"},
		{[]string{"frobnicate"}, `unknown command "frobnicate": the commands are completion, config, devserver, status, version, workspaces`},
		{[]string{filepath.Join(root, "nope")}, "nope does not exist"},
		{[]string{filepath.Join(root, "a.pdf")}, "a.pdf is not a folder"},
		{[]string{root, "--files-dir", t.TempDir()}, "two folders to upload"},
		// An extra argument is named as such, not taken for a command.
		{[]string{root, "extra", "--workspace-id", "42"},
			`unexpected argument "extra": paradigm-upload takes one folder to upload (` + root + `)`},
		{[]string{root, "--workspace-id", "42", "a.pdf"}, `unexpected argument "a.pdf": paradigm-upload takes one folder`},
		{[]string{"workspaces", "extra"},
			`unexpected argument "extra": paradigm-upload workspaces takes no arguments (see paradigm-upload workspaces --help)`},
		{[]string{"status", "--state-file", "s", "x"}, `unexpected argument "x": paradigm-upload status takes no arguments`},
		{[]string{"config", "x", "y"}, `unexpected arguments "x" and "y": paradigm-upload config takes no arguments`},
		{[]string{"version", "x"}, `unexpected argument "x": paradigm-upload version takes no arguments`},
	}
	for _, tc := range cases {
		code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey}, tc.args...)
		assert.Equal(t, 2, code, "%v", tc.args)
		assert.Empty(t, out)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
	}
}

func TestAFolderGivenAloneIsTheFolderToUpload(t *testing.T) {
	root := writeTree(t, map[string]string{"a.pdf": "a", "b.txt": "b"})
	srv := httptest.NewServer(&recorder{}) // a dry run without a state file lists the workspace
	defer srv.Close()
	code, out, errOut := runCmd(t, map[string]string{"PARADIGM_API_KEY": secretKey, "PARADIGM_BASE_URL": srv.URL},
		root, "--workspace-id", "42", "--dry-run")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Would upload: 2 files")
}

// --help's examples show the nightly sync with --delete, the line the
// README's cron example runs.
func TestHelpExamplesShowTheNightlySync(t *testing.T) {
	code, out, _ := runCmd(t, nil, "--help")
	require.Equal(t, 0, code)
	start := strings.Index(out, "\nExamples:\n")
	require.GreaterOrEqual(t, start, 0, out)
	examples := out[start:]
	examples = examples[:strings.Index(examples[1:], "\n\n")+1]
	assert.Regexp(t, `(?m)^  # Nightly sync`, examples)
	assert.Contains(t, examples, "--source contracts --state-file /var/lib/paradigm/contracts.state \\\n      --delete --quiet")
	assert.Contains(t, examples, "--delete --dry-run")

	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	assert.Contains(t, string(b), "--source contracts --state-file /var/lib/paradigm/contracts.state --delete --quiet",
		"the README's cron line is the same")
}
