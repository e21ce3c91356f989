package cmd

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every kind of error pflag returns while parsing reads as one line that
// names the flag, exit 2, with no usage text.
func TestFlagParseErrorsReadAsOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--batch-size", "many"}, `paradigm-upload: --batch-size: "many" is not a whole number`},
		{[]string{"--batch-size=many"}, `paradigm-upload: --batch-size: "many" is not a whole number`},
		{[]string{"--rate-limit", "-1"}, `paradigm-upload: --rate-limit: "-1" is not a positive number`},
		{[]string{"--timeout", "soon"}, `paradigm-upload: --timeout: time: invalid duration "soon"`},
		{[]string{"--skip-hidden=maybe"}, `paradigm-upload: --skip-hidden: "maybe" is not valid`},
		{[]string{"-q=maybe"}, `paradigm-upload: --quiet: "maybe" is not valid`},
		{[]string{"--quiet=a\"b"}, `paradigm-upload: --quiet: "a\"b" is not valid`},
		{[]string{"devserver", "--seed", "x"}, `paradigm-upload: --seed: "x" is not valid`},
		{[]string{"devserver", "--throttle-rate", "lots"}, `paradigm-upload: --throttle-rate: "lots" is not valid`},
		{[]string{"--batch-size"}, "paradigm-upload: flag needs an argument: --batch-size"},
		{[]string{"-x"}, "paradigm-upload: unknown shorthand flag: 'x' in -x (see paradigm-upload --help)"},
		{[]string{"status", "-qx"}, "paradigm-upload: unknown shorthand flag: 'q' in -qx (see paradigm-upload status --help)"},
		{[]string{"---x"}, "paradigm-upload: bad flag syntax: ---x"},
		{[]string{"--colour"}, "paradigm-upload: unknown flag --colour (see paradigm-upload --help)"},
		{[]string{"--batch"}, "paradigm-upload: unknown flag --batch: did you mean --batch-size? (see paradigm-upload --help)"},
		{[]string{"status", "--base-url", "x"}, "paradigm-upload: status takes the instance and the workspace from the state file: --base-url is not needed (see paradigm-upload status --help)"},
	} {
		code, out, errOut := runCmd(t, nil, tc.args...)
		assert.Equal(t, 2, code, "%q", tc.args)
		assert.Empty(t, out, "%q", tc.args)
		assert.Equal(t, tc.want+"\n", errOut, "%q", tc.args)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "%q", tc.args)
	}
}
