//go:build linux

package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Local faults (#14, item 7) with the real binary: a state file on a disk
// that fills up mid-run, a state file in a read-only folder, a state file
// that is a file bind mount (as `docker -v file:file` makes it). Each needs
// a mount made in the test: where the test cannot mount (not root, no
// CAP_SYS_ADMIN), it is skipped, and internal/state's unit tests cover the
// same behaviour with injected failures.

// mountTmpfs mounts a tmpfs of the given size (as mount(8) writes it) on a
// new folder, unmounted when the test ends; it skips the test when the
// system does not let it mount.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); internal/state's unit tests cover this case with an injected failure", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes zeros into a new file under dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			return p
		}
	}
}

// countByExternalID returns the devserver's documents of workspace 42,
// counted by external id.
func (d *devserver) countByExternalID(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(d.url + "/_devserver/documents?workspace_id=42")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Documents []struct {
			ExternalID *string `json:"external_id"`
		} `json:"documents"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	byID := map[string]int{}
	for _, doc := range body.Documents {
		id := "(none)"
		if doc.ExternalID != nil {
			id = *doc.ExternalID
		}
		byID[id]++
	}
	return byID
}

// assertOnePerExternalID checks that the devserver holds n documents, one
// per external id.
func assertOnePerExternalID(t *testing.T, d *devserver, n int) {
	t.Helper()
	docs := d.countByExternalID(t)
	total := 0
	for id, c := range docs {
		total += c
		assert.Equal(t, 1, c, "documents with external id %s", id)
	}
	assert.Equal(t, n, total, "documents on the devserver")
	assert.Len(t, docs, n, "distinct external ids")
}

// TestFullDiskUnderTheStateFile fills the file system of the state file
// while the run uploads: the run stops cleanly (no new upload, those in
// flight finish), the summary and the report (written elsewhere) still come
// out, the last line names the file and --state-file, exit 2; once there is
// room again, the same command finishes the tree without a second document
// for any file.
func TestFullDiskUnderTheStateFile(t *testing.T) {
	disk := mountTmpfs(t, "64k")
	d := startDevserver(t, "--latency", "40ms")
	const n = 60
	root := makeTree(t, n)
	stateFile := filepath.Join(disk, "state.json")
	reportFile := filepath.Join(t.TempDir(), "report.json")
	args := []string{"--files-dir", root, "--batch-size", "2", "--state-file", stateFile, "--report", reportFile,
		"--no-progress"}
	r := startUpload(t, d, args...)
	waitFor(t, "a few uploads", func() bool { return d.stats(t)["uploads"] >= 4 })
	filler := fill(t, disk)
	full := time.Now()
	code := r.wait(t)
	t.Logf("the run ended %s after the disk filled; %d documents on the devserver", time.Since(full).Round(time.Millisecond),
		d.stats(t)["documents"])
	t.Logf("stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	assert.Equal(t, 2, code, "a state file that cannot be written is exit 2")

	lines := strings.Split(strings.TrimSpace(r.errOut.String()), "\n")
	last := lines[len(lines)-1]
	assert.Contains(t, last, stateFile, "the message names the file")
	assert.Contains(t, last, "--state-file", "and the flag")
	assert.Contains(t, last, "no space left on device")
	assert.Len(t, lines, 1, "one line on stderr")

	out := r.out.String()
	assert.Contains(t, out, "Uploaded:", "the summary is printed")
	assert.Regexp(t, `(?m)^Stopped early by the error below; \d+ files? not attempted; rerun with the same --state-file to resume\.$`, out)
	uploaded := d.stats(t)["documents"]
	assert.Less(t, uploaded, int64(n), "no new upload started once the state file could not be written")

	b, err := os.ReadFile(reportFile)
	require.NoError(t, err, "the report is written (its folder has room)")
	var rep struct {
		Totals struct {
			Found    int            `json:"found"`
			Outcomes map[string]int `json:"outcomes"`
		} `json:"totals"`
		Files []struct {
			Path    string `json:"path"`
			Outcome string `json:"outcome"`
		} `json:"files"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	seen := map[string]bool{}
	for _, f := range rep.Files {
		assert.False(t, seen[f.Path], "%s reported once", f.Path)
		seen[f.Path] = true
	}
	assert.Len(t, rep.Files, n, "every file of the tree is in the report, once")
	assert.Equal(t, int(uploaded), rep.Totals.Outcomes["uploaded"], "every document the run created is reported uploaded")
	assert.Equal(t, n-int(uploaded), rep.Totals.Outcomes["not_attempted"], "the rest was not attempted")

	// Room again: the same command finishes, and no file has two documents.
	require.NoError(t, os.Remove(filler))
	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), "stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	t.Logf("rerun:\n%s", r.out.String())
	assertOnePerExternalID(t, d, n)
	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Contains(t, r.out.String(), "Already done: 60", "the state file records every file after the rerun")
}

// TestFullDiskUnderTheStateFileAndTheReport: when the report is on the disk
// that filled too, it cannot come out; the last line says so after what
// stopped the run, which is not lost.
func TestFullDiskUnderTheStateFileAndTheReport(t *testing.T) {
	disk := mountTmpfs(t, "64k")
	d := startDevserver(t, "--latency", "40ms")
	root := makeTree(t, 60)
	stateFile, reportFile := filepath.Join(disk, "state.json"), filepath.Join(disk, "report.json")
	r := startUpload(t, d, "--files-dir", root, "--batch-size", "2", "--state-file", stateFile, "--report", reportFile,
		"--no-progress")
	waitFor(t, "a few uploads", func() bool { return d.stats(t)["uploads"] >= 4 })
	fill(t, disk)
	assert.Equal(t, 2, r.wait(t))
	t.Logf("stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	assert.Contains(t, r.out.String(), "Stopped early by the error below")
	lines := strings.Split(strings.TrimSpace(r.errOut.String()), "\n")
	require.Len(t, lines, 1)
	assert.Regexp(t, `^paradigm-upload: --state-file: state file `+regexp.QuoteMeta(stateFile)+
		` cannot be written \(no space left on device\): .*; and --report: report `+regexp.QuoteMeta(reportFile)+`: .*no space left on device$`, lines[0])
}

// bindMount mounts src on dst (a file on a file, a folder on a folder), read
// only when ro is set, unmounted when the test ends; it skips the test when
// the system does not let it mount.
func bindMount(t *testing.T, src, dst string, ro bool) {
	t.Helper()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here (%v); internal/state's unit tests cover this case with an injected failure", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dst, unix.MNT_DETACH) })
	if ro {
		require.NoError(t, unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""))
	}
}

// TestReadOnlyStateFolder: the state file exists and can be written, but its
// folder cannot (a read-only mount with the file bind-mounted writable in
// it; as root, folder modes would not stop the test). The compaction's
// temporary file and the lock need the folder: the run is refused before
// any upload, in one line that names the folder and --state-file.
func TestReadOnlyStateFolder(t *testing.T) {
	d := startDevserver(t)
	root := makeTree(t, 3)
	hostFile := filepath.Join(t.TempDir(), "state.json")
	r := startUpload(t, d, "--files-dir", root, "--state-file", hostFile, "--no-progress")
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	before, err := os.ReadFile(hostFile)
	require.NoError(t, err)

	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "state.json"), nil, 0o600))
	folder := t.TempDir()
	bindMount(t, src, folder, true)
	stateFile := filepath.Join(folder, "state.json")
	bindMount(t, hostFile, stateFile, false)
	f, err := os.OpenFile(stateFile, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err, "the file itself can be written")
	f.Close()
	_, err = os.CreateTemp(folder, "probe")
	require.ErrorIs(t, err, syscall.EROFS, "its folder cannot")

	require.NoError(t, os.WriteFile(filepath.Join(root, "new.txt"), []byte("new"), 0o644))
	uploads := d.stats(t)["uploads"]
	r = startUpload(t, d, "--files-dir", root, "--state-file", stateFile, "--no-progress")
	assert.Equal(t, 2, r.wait(t))
	assert.Equal(t, "paradigm-upload: --state-file: cannot write in folder "+folder+": read-only file system\n", r.errOut.String())
	assert.Empty(t, r.out.String())
	assert.Equal(t, uploads, d.stats(t)["uploads"], "refused before any upload")
	after, err := os.ReadFile(hostFile)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the state file is untouched")
}

// TestStateFileBindMounted: a state file that is a file bind mount (as
// `docker run -v $PWD/state.json:/state.json` makes it: touched empty on
// the host first) can be appended to but not replaced — a rename over it
// fails (EBUSY). The run uses it in place: the header and records go into
// it, the compaction that fails at close is a one-line warning, exit 0, and
// the next run resumes from it.
func TestStateFileBindMounted(t *testing.T) {
	d := startDevserver(t)
	root := makeTree(t, 5)
	host := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(host, nil, 0o600))
	folder := t.TempDir()
	stateFile := filepath.Join(folder, "state.json")
	require.NoError(t, os.WriteFile(stateFile, nil, 0o600))
	bindMount(t, host, stateFile, false)

	args := []string{"--files-dir", root, "--state-file", stateFile, "--no-progress"}
	r := startUpload(t, d, args...)
	code := r.wait(t)
	t.Logf("stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	assert.Equal(t, 0, code)
	assert.Contains(t, r.out.String(), "Uploaded:     5 files")
	assert.Equal(t, "paradigm-upload: warning: state file "+stateFile+" was not compacted (device or resource busy); it is whole and still in use, only larger than it needs to be\n",
		r.errOut.String())
	b, err := os.ReadFile(host)
	require.NoError(t, err)
	assert.Equal(t, 5, strings.Count(string(b), `"op":"done"`), "the host's file holds the records")

	r = startUpload(t, d, args...)
	assert.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Contains(t, r.out.String(), "Already done: 5")
	assertOnePerExternalID(t, d, 5)
}

// TestCtrlCEndsARunStuckOnItsOutput: a dry run whose standard output is a
// pipe nobody reads (`paradigm-upload --dry-run ... | less`, the pager
// stopped) blocks on a write, where no context reaches. Two Ctrl-C cancel
// the run, which cannot notice; 5 s later the process exits 130 all the
// same, saying so. A third Ctrl-C does not wait for those 5 s.
func TestCtrlCEndsARunStuckOnItsOutput(t *testing.T) {
	d := startDevserver(t)
	root := makeTree(t, 3000) // lines of "would upload …": more than the pipe and the output's buffer hold
	for _, third := range []bool{false, true} {
		pr, pw, err := os.Pipe()
		require.NoError(t, err)
		_, err = unix.FcntlInt(pr.Fd(), unix.F_SETPIPE_SZ, 4096)
		require.NoError(t, err)
		r := &run{cmd: exec.Command("paradigm-upload", "--files-dir", root, "--dry-run")}
		r.cmd.Env = append(os.Environ(), "PARADIGM_API_KEY="+key, "PARADIGM_BASE_URL="+d.url, "PARADIGM_WORKSPACE_ID=42")
		r.cmd.Stdout, r.cmd.Stderr = pw, &r.errOut
		require.NoError(t, r.cmd.Start())
		pw.Close()
		waitFor(t, "the pipe to fill", func() bool {
			n, err := unix.IoctlGetInt(int(pr.Fd()), unix.TIOCINQ) // FIONREAD
			return err == nil && n >= 4096
		})
		require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
		waitFor(t, "the first interrupt to be handled", func() bool {
			return strings.Contains(r.errOut.String(), "Interrupt again to abandon them")
		})
		require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
		waitFor(t, "the second interrupt to be handled", func() bool {
			return strings.Contains(r.errOut.String(), "Second interrupt")
		})
		at := time.Now()
		if third {
			require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
		}
		code := waitExit(t, r, 15*time.Second)
		took := time.Since(at)
		pr.Close()
		t.Logf("third interrupt %v: exit %d, %s after the last interrupt; stderr:\n%s", third, code, took.Round(time.Millisecond), r.errOut.String())
		assert.Equal(t, 130, code)
		if third {
			assert.Less(t, took, 2*time.Second)
			assert.Contains(t, r.errOut.String(), "Third interrupt: exiting now; run the same command again to resume.")
		} else {
			assert.GreaterOrEqual(t, took, 4*time.Second, "it was stuck: only the forced exit ended it")
			assert.Less(t, took, 10*time.Second)
			assert.Contains(t, r.errOut.String(), "Still running 5s after abandoning the uploads: exiting now")
		}
	}
}
