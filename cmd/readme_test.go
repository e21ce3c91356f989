package cmd

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMESaysWhatHelpSays keeps the README true to the command line:
// every flag of every command is documented, and the exit codes read the
// same in both.
func TestREADMESaysWhatHelpSays(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	readme := string(b)
	for _, c := range allCommands() {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if _, byCobra := f.Annotations[cobra.FlagSetByCobraAnnotation]; byCobra {
				return
			}
			documented := regexp.MustCompile("[`\\[ ]--" + regexp.QuoteMeta(f.Name) + "\\b").MatchString(readme)
			assert.True(t, documented, "README: %s --%s is not documented", c.CommandPath(), f.Name)
		})
	}

	codes := exitCodes(exitCodesHelp)
	require.Len(t, codes, 5)
	row := regexp.MustCompile(`(?m)^\| (\d+) \| (.*) \|$`)
	inREADME := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(readme[strings.Index(readme, "### Exit codes"):], -1) {
		if _, ok := inREADME[m[1]]; !ok {
			inREADME[m[1]] = m[2]
		}
	}
	for code, text := range codes {
		assert.Equal(t, text, inREADME[code], "exit code %s: README and --help differ", code)
	}
}

// exitCodes reads the exit code list of the help: code → text, its lines
// joined.
func exitCodes(help string) map[string]string {
	out := map[string]string{}
	last := ""
	for _, line := range strings.Split(help, "\n")[1:] {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "     ") {
			last = fields[0]
			out[last] = strings.Join(fields[1:], " ")
			continue
		}
		out[last] += " " + strings.Join(fields, " ")
	}
	return out
}
