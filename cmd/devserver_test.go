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
	for _, s := range []string{"--quota ", "--quota-burst", "--outage ", "--outage-mode", "--data-dir", "--discard",
		"/_devserver/stats", "/_devserver/documents", "/_devserver/quota", "/_devserver/outage"} {
		assert.Contains(t, out, s)
	}
}
