//go:build unix

package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWalkReportsUnreadableFolder needs a user that permissions apply to:
// run as root (as in CI), it re-runs itself as nobody.
func TestWalkReportsUnreadableFolder(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNobody(t, "TestWalkReportsUnreadableFolder")
		return
	}
	root, err := os.MkdirTemp(os.Getenv("PU_SHARED_TMP"), "unreadable-")
	require.NoError(t, err)
	defer os.RemoveAll(root)
	locked := filepath.Join(root, "locked")
	require.NoError(t, os.Mkdir(locked, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(locked, "a.txt"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "secret.txt"), []byte("x"), 0o000))
	require.NoError(t, os.WriteFile(filepath.Join(root, "ok.txt"), []byte("x"), 0o644))
	require.NoError(t, os.Chmod(locked, 0))
	defer os.Chmod(locked, 0o755)
	var errs, files []string
	require.NoError(t, Walk(context.Background(), root, Filter{}, func(e Entry) error {
		if e.Err != nil {
			errs = append(errs, e.Rel)
		} else {
			files = append(files, e.Rel)
		}
		return nil
	}))
	assert.Equal(t, []string{"locked"}, errs, "the folder is reported by name, not dropped")
	// An unreadable file is listed (its details are readable); opening it
	// fails at upload time, where it is reported as failed.
	assert.Equal(t, []string{"ok.txt", "secret.txt"}, files)
}

// runAsNobody re-runs one test of this binary as the user nobody.
func runAsNobody(t *testing.T, name string) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	shared, err := os.MkdirTemp("", "scan-nobody-")
	require.NoError(t, err)
	defer os.RemoveAll(shared)
	require.NoError(t, os.Chmod(shared, 0o777))
	bin := filepath.Join(shared, "scan.test")
	b, err := os.ReadFile(exe)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, b, 0o755))
	cmd := exec.Command(bin, "-test.run", "^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), "PU_SHARED_TMP="+shared)
	cmd.Dir = shared
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("cannot switch to nobody: %v", err)
	}
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: "+name)
}
