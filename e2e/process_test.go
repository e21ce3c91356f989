//go:build unix

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/testio"
)

// These tests drive the real binary as a process, to send it signals. The
// binary is the copy that testscript.Main put on PATH.

type devserver struct {
	url string
	cmd *exec.Cmd
}

func startDevserver(t *testing.T, args ...string) *devserver {
	t.Helper()
	dir := t.TempDir()
	addr := filepath.Join(dir, "addr")
	c := exec.Command("paradigm-upload", append([]string{"devserver", "--addr", "127.0.0.1:0", "--addr-file", addr,
		"--api-key", key, "--data-dir", filepath.Join(dir, "data")}, args...)...)
	require.NoError(t, c.Start())
	t.Cleanup(func() {
		_ = c.Process.Signal(os.Interrupt)
		_ = c.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(addr)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			return &devserver{url: strings.TrimSpace(string(b)), cmd: c}
		}
		require.True(t, time.Now().Before(deadline), "devserver did not start")
		time.Sleep(20 * time.Millisecond)
	}
}

func (d *devserver) stats(t *testing.T) map[string]int64 {
	t.Helper()
	resp, err := http.Get(d.url + "/_devserver/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st map[string]int64
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

func makeTree(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	for i := 0; i < n; i++ {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%4), fmt.Sprintf("doc-%03d.txt", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf("document number %d\n", i)), 0o644))
	}
	return root
}

type run struct {
	cmd         *exec.Cmd
	out, errOut testio.Buffer
}

func startUpload(t *testing.T, d *devserver, args ...string) *run {
	t.Helper()
	r := &run{cmd: exec.Command("paradigm-upload", args...)}
	r.cmd.Env = append(os.Environ(), "PARADIGM_API_KEY="+key, "PARADIGM_BASE_URL="+d.url, "PARADIGM_WORKSPACE_ID=42")
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
	require.NoError(t, r.cmd.Start())
	return r
}

func (r *run) wait(t *testing.T) int {
	t.Helper()
	code, err := exitCode(r.cmd.Wait())
	require.NoError(t, err)
	return code
}

// exitCode returns a finished process's exit code, or minus the signal
// that killed it.
func exitCode(err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInterruptFinishesInFlightThenResumes(t *testing.T) {
	d := startDevserver(t, "--latency", "150ms")
	root := makeTree(t, 30)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--batch-size", "3", "--state-file", stateFile}
	r := startUpload(t, d, args...)
	waitFor(t, "a few uploads", func() bool { return d.stats(t)["uploads"] >= 3 })
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	code := r.wait(t)
	assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	assert.Regexp(t, `(?m)^Interrupted: (\d+ files? not attempted; )?rerun with the same --state-file to resume\.$`, r.out.String())
	assert.Regexp(t, `(?i)(\d+ files? not attempted|not attempted: +\d+)`, r.out.String(), "the summary says how many files were never tried")
	assert.Contains(t, r.out.String(), "Failed:       0", "uploads in flight finished")
	assert.Contains(t, r.errOut.String(), "finishing those in flight")
	first := d.stats(t)["documents"]
	assert.Less(t, first, int64(30))

	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Contains(t, r.out.String(), fmt.Sprintf("Already done: %d", first), "everything the first run finished was recorded")
	st := d.stats(t)
	assert.Equal(t, int64(30), st["documents"])
	assert.Equal(t, int64(0), st["idempotent_hits"], "the state file alone avoided every repeat")
}

func TestSecondInterruptAbandonsAtOnceAndNothingIsDuplicated(t *testing.T) {
	d := startDevserver(t, "--latency", "1500ms")
	root := makeTree(t, 8)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--batch-size", "4", "--state-file", stateFile}
	r := startUpload(t, d, args...)
	waitFor(t, "uploads in flight", func() bool { return d.stats(t)["requests"] >= 5 })
	start := time.Now()
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	waitFor(t, "the first interrupt to be handled", func() bool {
		return strings.Contains(r.errOut.String(), "Interrupt again to abandon them")
	})
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	code := r.wait(t)
	assert.Equal(t, 130, code, r.errOut.String())
	assert.Less(t, time.Since(start), 1200*time.Millisecond, "abandoned without waiting for the answers")
	assert.Contains(t, r.errOut.String(), "abandoning the uploads in flight")
	b, err := os.ReadFile(stateFile)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"op":"started"`, "unconfirmed uploads are recorded as such")

	// The server stores the abandoned uploads once its latency is over: the
	// next run must find them (lookup by external id), not send copies.
	waitFor(t, "the abandoned uploads to land", func() bool { return d.stats(t)["uploads"] >= 4 })
	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	st := d.stats(t)
	assert.Equal(t, int64(8), st["documents"])
	assert.Equal(t, int64(8), st["uploads"])
}

func TestKillNineAtRandomMomentsLosesAndDuplicatesNothing(t *testing.T) {
	d := startDevserver(t, "--latency", "20ms")
	const n = 300 // about 1 s of uploads at 6 × 20 ms: every kill lands mid-run
	root := makeTree(t, n)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--batch-size", "6", "--state-file", stateFile}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5; i++ {
		r := startUpload(t, d, args...)
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		_ = r.cmd.Process.Kill()
		assert.Equal(t, -int(syscall.SIGKILL), r.wait(t), "killed mid-run, not finished")
		t.Logf("kill %d: %d documents on the server", i+1, d.stats(t)["documents"])
	}
	r := startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t), "stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	st := d.stats(t)
	assert.Equal(t, int64(n), st["documents"], "every document exactly once")
	t.Logf("after 5 kills: %d documents, %d uploads, %d idempotent repeats", st["documents"], st["uploads"], st["idempotent_hits"])

	r = startUpload(t, d, args...)
	require.Equal(t, 0, r.wait(t))
	assert.Contains(t, r.out.String(), fmt.Sprintf("Already done: %d", n), "the state file is whole")
}

func TestTwoRunsOnOneStateFile(t *testing.T) {
	d := startDevserver(t, "--latency", "300ms")
	root := makeTree(t, 6)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	args := []string{"--files-dir", root, "--batch-size", "1", "--state-file", stateFile}
	first := startUpload(t, d, args...)
	waitFor(t, "the first run to start uploading", func() bool { return d.stats(t)["requests"] >= 1 })
	second := startUpload(t, d, args...)
	assert.Equal(t, 2, second.wait(t))
	assert.Contains(t, second.errOut.String(), "state file is in use by another run")
	require.Equal(t, 0, first.wait(t), first.errOut.String())
	assert.Equal(t, int64(6), d.stats(t)["documents"])
}

// TestLargeFileIsStreamed uploads a 512 MiB file through the real binary and
// reads the process's peak resident memory: a body held in memory would
// show as at least the file's size. (The binary here is the test binary,
// race detector included, so the bound is looser than `make bench`'s 64 MiB.)
func TestLargeFileIsStreamed(t *testing.T) {
	d := startDevserver(t, "--discard", "--max-size", "2GiB")
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "big.pdf"))
	require.NoError(t, err)
	const size = 512 << 20
	require.NoError(t, f.Truncate(size)) // sparse: quick to make, read as zeros
	require.NoError(t, f.Close())
	r := startUpload(t, d, "--files-dir", root, "--max-file-size", "2GiB", "--no-progress")
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	peak := peakRSS(t, r.cmd.ProcessState)
	t.Logf("peak RSS uploading a 512 MiB file: %.1f MiB", float64(peak)/(1<<20))
	assert.Less(t, peak, int64(128<<20))
	assert.Equal(t, int64(size), d.stats(t)["bytes"], "every byte arrived")
}

// peakRSS returns a finished process's peak resident memory in bytes:
// getrusage reports it in bytes on macOS and in KiB on Linux and the BSDs.
func peakRSS(t *testing.T, ps *os.ProcessState) int64 {
	t.Helper()
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	require.True(t, ok)
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) * 1024
}

// TestDevserverRefuseWindow: with --outage-mode refuse the devserver process
// stops listening for the window (connections are refused), then listens
// again on the same address.
func TestDevserverRefuseWindow(t *testing.T) {
	d := startDevserver(t, "--outage", "0s+1500ms", "--outage-mode", "refuse")
	addr := strings.TrimPrefix(d.url, "http://")
	dial := func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	waitFor(t, "connections refused", func() bool { return errors.Is(dial(), syscall.ECONNREFUSED) })
	waitFor(t, "listening again", func() bool { return dial() == nil })
	assert.Equal(t, int64(1), d.stats(t)["outage_listener_stops"])
}

// TestSIGUSR1PrintsOneProgressLine asks a run that no terminal watches (cron,
// Kubernetes) how far it has got: one plain line on stderr even with
// --quiet, one JSON record with --log-format json.
func TestSIGUSR1PrintsOneProgressLine(t *testing.T) {
	d := startDevserver(t, "--latency", "40ms")
	root := makeTree(t, 40)

	r := startUpload(t, d, "--files-dir", root, "--batch-size", "1", "--quiet")
	waitFor(t, "a few uploads", func() bool { return d.stats(t)["uploads"] >= 3 })
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGUSR1))
	waitFor(t, "the progress line", func() bool { return strings.Contains(r.errOut.String(), "progress: ") })
	require.Equal(t, 0, r.wait(t), r.errOut.String())
	assert.Regexp(t, `^progress: \d+/40 files \(\d+%\), [\d.]+ k?B of [\d.]+ k?B sent, .*uploaded \d+, skipped 0, failed 0\n$`,
		r.errOut.String(), "one line, the only one on stderr under --quiet")

	// JSON: the progress record, then the interruption notice, all JSON. A
	// devserver of its own: the first one holds all 40 files already, and a
	// run that finds them there could end before the interrupt arrives.
	d = startDevserver(t, "--latency", "40ms")
	r = startUpload(t, d, "--files-dir", root, "--batch-size", "1", "--log-format", "json", "--state-file",
		filepath.Join(t.TempDir(), "s"))
	waitFor(t, "the start record", func() bool { return strings.Contains(r.errOut.String(), `"msg":"start"`) })
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGUSR1))
	waitFor(t, "the progress record", func() bool { return strings.Contains(r.errOut.String(), `"msg":"progress"`) })
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	assert.Equal(t, 130, r.wait(t))
	assert.Empty(t, r.out.String())
	lines := strings.Split(strings.TrimSuffix(r.errOut.String(), "\n"), "\n")
	var msgs []string
	for _, line := range lines {
		var rec struct {
			Msg string `json:"msg"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not JSON: %s", line)
		msgs = append(msgs, rec.Msg)
	}
	assert.Contains(t, msgs, "progress")
	assert.Contains(t, msgs, "Interrupted: no new uploads; finishing those in flight (up to 30s). Interrupt again to abandon them.")
	assert.Equal(t, "summary", msgs[len(msgs)-1])
	assert.Contains(t, lines[len(lines)-1], `"stop_reason":"interrupted"`)
	assert.Contains(t, lines[len(lines)-1], `"exit_code":130`)
}

// A refusal with a Retry-After of 30 s holds the refused upload and the
// pool (the pacer takes it for a quota). The first interruption ends the
// run within seconds, not when the Retry-After or the 30 s of the second
// stage have passed: what is on the wire finishes, what waits to be sent
// is withdrawn (not attempted, nothing failed).
func TestInterruptWithdrawsUploadsWaitingARetryAfter(t *testing.T) {
	d := startDevserver(t, "--throttle-every", "4", "--retry-after", "30s")
	root := makeTree(t, 50)
	stateFile := filepath.Join(t.TempDir(), "state.json")
	r := startUpload(t, d, "--files-dir", root, "--state-file", stateFile)
	waitFor(t, "a refusal", func() bool { return d.stats(t)["throttled"] >= 1 })
	sent := time.Now()
	require.NoError(t, r.cmd.Process.Signal(os.Interrupt))
	code := r.wait(t)
	took := time.Since(sent)
	assert.Equal(t, 130, code, "stdout:\n%s\nstderr:\n%s", r.out.String(), r.errOut.String())
	assert.Less(t, took, 10*time.Second, "withdrawn, not waited out")
	assert.Contains(t, r.out.String(), "Failed:       0")
	assert.Regexp(t, `(?i)(\d+ files? not attempted|not attempted: +\d+)`, r.out.String())
}
