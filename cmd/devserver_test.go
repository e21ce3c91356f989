package cmd

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

// devserver --help fits in 80 columns and names every flag and endpoint a
// user steers the stand-in with.
func TestDevserverHelpFitsIn80Columns(t *testing.T) {
	code, out, _ := runCmd(t, nil, "devserver", "--help")
	assert.Equal(t, 0, code)
	for i, line := range strings.Split(out, "\n") {
		assert.LessOrEqual(t, utf8.RuneCountInString(line), 80, "line %d: %q", i+1, line)
	}
	for _, s := range []string{"--data-dir", "--discard", "/_devserver/stats", "/_devserver/documents"} {
		assert.Contains(t, out, s)
	}
}

func TestDevserverFlagsMakeTheConfig(t *testing.T) {
	o := &devserverOptions{APIKey: "k", MaxSize: "1MB", Workspaces: []string{"5:Five", "6:Six:personal"}}
	cfg, err := o.config(func(string) string { return "" })
	assert.NoError(t, err)
	if assert.Len(t, cfg.Workspaces, 2) {
		assert.Equal(t, "shared", cfg.Workspaces[0].Type)
		assert.Equal(t, "personal", cfg.Workspaces[1].Type)
	}
	_, err = (&devserverOptions{APIKey: "k", MaxSize: "1MB", Workspaces: []string{"3:Legal:custom"}}).config(func(string) string { return "" })
	assert.Error(t, err)
}
