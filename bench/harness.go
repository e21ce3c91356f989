//go:build unix

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Everything the bench starts (devservers, tools, the temporary folder, a
// git worktree) is undone by a cleanup, also when it stops on an error or
// on Ctrl-C, so that no process is left behind.
var cleanups struct {
	sync.Mutex
	next int
	fs   map[int]func()
}

// atCleanup registers f and returns a function that runs and forgets it.
func atCleanup(f func()) (done func()) {
	cleanups.Lock()
	defer cleanups.Unlock()
	if cleanups.fs == nil {
		cleanups.fs = map[int]func(){}
	}
	id := cleanups.next
	cleanups.next++
	cleanups.fs[id] = f
	return func() {
		cleanups.Lock()
		f, ok := cleanups.fs[id]
		delete(cleanups.fs, id)
		cleanups.Unlock()
		if ok {
			f()
		}
	}
}

// cleanUp runs every registered cleanup, the latest first.
func cleanUp() {
	cleanups.Lock()
	fs := cleanups.fs
	cleanups.fs = nil
	ids := make([]int, 0, len(fs))
	for id := range fs {
		ids = append(ids, id)
	}
	cleanups.Unlock()
	slices.Sort(ids)
	slices.Reverse(ids)
	for _, id := range ids {
		fs[id]()
	}
}

// cleanUpOnSignal runs the cleanups on Ctrl-C or SIGTERM and exits.
func cleanUpOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		fmt.Fprintln(os.Stderr, "bench: interrupted, cleaning up")
		cleanUp()
		os.Exit(130)
	}()
}

// proc is a command started in the background.
type proc struct {
	cmd      *exec.Cmd
	start    time.Time
	out, err bytes.Buffer
	forget   func()
}

// outcome is what a finished command did.
type outcome struct {
	wall           time.Duration
	cpu            time.Duration // user and system time
	rss            int64
	exit           int
	stdout, stderr string
}

// launch starts a command with the bench's key in its environment,
// keeping its stdout and stderr.
func launch(name string, args ...string) *proc { return start(true, name, args...) }

func start(keepStdout bool, name string, args ...string) *proc {
	p := &proc{cmd: exec.Command(name, args...)}
	p.cmd.Env = append(os.Environ(), "PARADIGM_API_KEY="+key)
	p.cmd.Stderr = &p.err
	if keepStdout {
		p.cmd.Stdout = &p.out
	}
	p.start = time.Now()
	check(p.cmd.Start())
	p.forget = atCleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// wait waits for the command and returns what it did; an exit code other
// than 0 is returned, not fatal.
func (p *proc) wait() outcome {
	err := p.cmd.Wait()
	wall := time.Since(p.start)
	p.forget()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		check(err)
	}
	ps := p.cmd.ProcessState
	return outcome{wall: wall, cpu: ps.UserTime() + ps.SystemTime(), rss: peakRSS(ps), exit: code, stdout: p.out.String(), stderr: p.err.String()}
}

// runAny runs a command to completion, whatever its exit code.
func runAny(name string, args ...string) outcome { return launch(name, args...).wait() }

// runDiscard is runAny with stdout to /dev/null.
func runDiscard(name string, args ...string) outcome { return start(false, name, args...).wait() }

// devStats are the devserver's counters that the bench reads.
type devStats struct {
	Requests     int64 `json:"requests"`
	Uploads      int64 `json:"uploads"`
	Documents    int64 `json:"documents"`
	Throttled    int64 `json:"throttled"`
	QuotaRefused int64 `json:"quota_refused"`
	Outage503    int64 `json:"outage_503"`
	OutageResets int64 `json:"outage_resets"`
	Patches      int64 `json:"patches"`
	Replaces     int64 `json:"replaces"`
	Deletes      int64 `json:"deletes"`
	BulkDeletes  int64 `json:"bulk_deletes"`
	Idempotent   int64 `json:"idempotent_hits"`
	Bytes        int64 `json:"bytes"` // of the files stored: first versions and replacements
}

var admin = &http.Client{Timeout: 10 * time.Second}

func getStats(url string) devStats {
	var st devStats
	check(adminCall(http.MethodGet, url+"/_devserver/stats", nil, &st))
	return st
}

// setQuota replaces the devserver's quota (its buckets start full again).
func setQuota(url string, perMinute, burst float64) {
	body, _ := json.Marshal(map[string]float64{"per_minute": perMinute, "burst": burst})
	check(adminCall(http.MethodPut, url+"/_devserver/quota", body, nil))
}

// startOutage opens a maintenance window of d now.
func startOutage(url string, d time.Duration, mode string) {
	body, _ := json.Marshal(map[string]string{"duration": d.String(), "mode": mode})
	check(adminCall(http.MethodPost, url+"/_devserver/outage", body, nil))
}

func adminCall(method, url string, body []byte, into any) error {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := admin.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d", method, url, resp.StatusCode)
	}
	if into == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// sample is the devserver's counters at a time since the run started.
type sample struct {
	at time.Duration
	st devStats
}

// sampler reads a devserver's counters at a fixed period.
type sampler struct {
	stop    chan struct{}
	done    chan struct{}
	samples []sample
}

func sampleEvery(url string, start time.Time, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			var st devStats
			if adminCall(http.MethodGet, url+"/_devserver/stats", nil, &st) == nil {
				s.samples = append(s.samples, sample{time.Since(start), st})
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops the sampler after one last sample and returns them all.
func (s *sampler) finish() []sample {
	close(s.stop)
	<-s.done
	return s.samples
}

// runReport is what the tool's --report says, in schema 2 (totals.outcomes)
// or in the schema 1 of the tool before issue 11 (flat totals).
type runReport struct {
	Stopped string `json:"stopped"`
	Totals  struct {
		Found    int            `json:"found"`
		Failed   int            `json:"failed"`
		Uploaded int            `json:"uploaded"`
		Outcomes map[string]int `json:"outcomes"`
		// Since issue 11 (schema 2): the pacing.
		Throttled         int64   `json:"throttled"`
		Unavailable       int64   `json:"unavailable"`
		WaitedMS          int64   `json:"waited_ms"`
		LearnedRatePerMin float64 `json:"learned_rate_per_min"`
	} `json:"totals"`
}

// pacing is what a schema 2 report says of the pacing, or "".
func (r runReport) pacing() string {
	if r.Totals.Outcomes == nil {
		return ""
	}
	t := r.Totals
	return fmt.Sprintf("report: throttled %d, unavailable %d, waited %s, learned rate %.1f/min",
		t.Throttled, t.Unavailable, (time.Duration(t.WaitedMS) * time.Millisecond).Round(100*time.Millisecond), t.LearnedRatePerMin)
}

func (r runReport) failed() int {
	if r.Totals.Outcomes != nil {
		return r.Totals.Outcomes["failed"]
	}
	return r.Totals.Failed
}

func readReport(path string) (runReport, bool) {
	var r runReport
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

// progressLines keeps the lines of a tool's stderr that a reader of the
// plain progress output sees (everything but the blank ones).
func progressLines(stderr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if line := strings.TrimRight(sc.Text(), " "); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// captured are the plain progress outputs printed after the table.
var captured []struct {
	title string
	lines []string
}

func capture(title string, stderr string) {
	captured = append(captured, struct {
		title string
		lines []string
	}{title, progressLines(stderr)})
}

// beforeBinary builds the tool as it was before issue 11 (commit e0141c5).
func beforeBinary(work string) string {
	bin, err := builtAt(work, "e0141c5")
	check(err)
	return bin
}

// builtAt builds the tool as it was at a commit: a git worktree of that
// commit in the work folder, built and removed. A binary already built in
// this run is reused. It needs git and the repository's history; without
// them the error says why.
func builtAt(work, commit string) (string, error) {
	bin := filepath.Join(work, "paradigm-upload-"+commit)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tree := filepath.Join(work, "src-"+commit)
	add := exec.Command("git", "worktree", "add", "--detach", "--quiet", tree, commit)
	add.Stdout, add.Stderr = os.Stderr, os.Stderr
	if err := add.Run(); err != nil {
		return "", fmt.Errorf("git worktree add %s: %w", commit, err)
	}
	remove := atCleanup(func() {
		c := exec.Command("git", "worktree", "remove", "--force", tree)
		c.Stderr = os.Stderr
		_ = c.Run()
	})
	c := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	c.Dir, c.Stdout, c.Stderr = tree, os.Stderr, os.Stderr
	err := c.Run()
	remove()
	if err != nil {
		return "", fmt.Errorf("building commit %s: %w", commit, err)
	}
	return bin, nil
}

// tail returns the last n lines of s, for the figures of a run that went wrong.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
