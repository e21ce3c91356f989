package cmd

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without --tags the documents' tags are left as they are (nil: no
// instruction); --tags none is the explicit instruction to apply none.
func TestTagsFlagTellsAbsenceFromNone(t *testing.T) {
	for value, want := range map[string][]int64{"": nil, "none": {}, "NONE": {}, "1,2": {1, 2}, " 3 ": {3}} {
		o := newUploadOptions()
		o.FilesDir, o.WorkspaceID, o.Tags = t.TempDir(), 42, value
		s, err := o.validate(func(string) string { return "" }, true)
		require.NoError(t, err, "--tags %q", value)
		assert.Equal(t, want, s.tags, "--tags %q", value)
		assert.Equal(t, want == nil, s.tags == nil, "--tags %q: absence is nil, none is empty", value)
	}
	o := newUploadOptions()
	o.FilesDir, o.WorkspaceID, o.Tags = t.TempDir(), 42, "none,3"
	_, err := o.validate(func(string) string { return "" }, true)
	require.Error(t, err, "none and ids together are a mistake")
}
