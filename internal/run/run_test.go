package run

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Code is the one map from an error to the exit code; each row is a kind
// of error a command can end with.
func TestCodeMapsEachKindOfErrorToItsExitCode(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, ExitOK},
		{"an exit error says its code", Exit(ExitProcessing, nil), ExitProcessing},
		{"wrapped, it still does", fmt.Errorf("upload: %w", Exit(ExitFailures, errors.New("x"))), ExitFailures},
		{"an interruption", context.Canceled, ExitInterrupted},
		{"an interruption, wrapped", fmt.Errorf("list the workspace's documents: %w", context.Canceled), ExitInterrupted},
		{"anything else is a mistake of usage or setup", errors.New(`unknown command "x"`), ExitUsage},
		{"a deadline is not an interruption", context.DeadlineExceeded, ExitUsage},
	} {
		assert.Equal(t, c.want, Code(c.err), c.name)
	}
}
