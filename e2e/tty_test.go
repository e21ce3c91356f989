//go:build unix

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/testio"
)

// terminal runs a command on a pseudo-terminal and interprets what it
// draws as a terminal would (testio.Screen).
type terminal struct {
	pty    *os.File
	mu     sync.Mutex
	screen *testio.Screen
	writes int // writes interpreted since the last resize
	resize chan int
	done   chan struct{}
}

func startOnTerminal(t *testing.T, cols int, c *exec.Cmd) *terminal {
	t.Helper()
	f, err := pty.StartWithSize(c, &pty.Winsize{Cols: uint16(cols), Rows: 50})
	require.NoError(t, err)
	term := &terminal{pty: f, screen: testio.NewScreen(cols), resize: make(chan int), done: make(chan struct{})}
	go term.read()
	t.Cleanup(func() { f.Close() })
	return term
}

// read feeds the screen. A resize is applied right after a read, when
// everything the program wrote before has been interpreted.
func (term *terminal) read() {
	defer close(term.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := term.pty.Read(buf)
		term.mu.Lock()
		if n > 0 {
			_, _ = term.screen.Write(buf[:n])
			term.writes++
		}
		term.mu.Unlock()
		select {
		case cols := <-term.resize:
			_ = pty.Setsize(term.pty, &pty.Winsize{Cols: uint16(cols), Rows: 50})
			term.mu.Lock()
			term.screen.Resize(cols)
			term.writes = 0
			term.mu.Unlock()
		default:
		}
		if err != nil { // EIO once the program has exited
			return
		}
	}
}

func (term *terminal) writesSinceResize() int {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.writes
}

// TestLiveDisplayOnATerminal runs an upload of a few seconds on a
// pseudo-terminal, resizes it 60 → 200 → 100 → 60 columns while the
// display runs, and checks what a person would see: no line ever wider
// than the terminal (the screen model records every wrap), every resize
// followed, and at the end the final progress line and the summary,
// nothing stale.
func TestLiveDisplayOnATerminal(t *testing.T) {
	d := startDevserver(t, "--latency", "15ms")
	const n = 300
	root := makeTree(t, n)
	c := exec.Command("paradigm-upload", "--files-dir", root, "--batch-size", "1")
	c.Env = append(os.Environ(), "PARADIGM_API_KEY="+key, "PARADIGM_BASE_URL="+d.url, "PARADIGM_WORKSPACE_ID=42")
	term := startOnTerminal(t, 60, c)
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()

	for _, cols := range []int{200, 100, 60} {
		// A few frames at the current width first.
		waitFor(t, "frames", func() bool { return term.writesSinceResize() >= 4 })
		select {
		case term.resize <- cols:
		case err := <-exited:
			t.Fatalf("the run ended (%v) before the resize to %d columns; make it longer", err, cols)
		}
	}
	waitFor(t, "frames", func() bool { return term.writesSinceResize() >= 4 })
	select {
	case err := <-exited:
		t.Fatalf("the run ended (%v) too soon", err)
	default:
	}
	require.NoError(t, <-exited)
	<-term.done

	term.mu.Lock()
	defer term.mu.Unlock()
	term.screen.Flush()
	lines := term.screen.Lines()
	assert.Empty(t, term.screen.Wraps, "lines wider than the terminal")
	assert.Empty(t, term.screen.Ignored, "resizes the display did not follow")
	assert.Empty(t, term.screen.Unknown, "escape sequences")
	require.NotEmpty(t, lines)
	want := []*regexp.Regexp{
		regexp.MustCompile(`^(\[=+\] )?100% 300/300 files · [\d.]+ files/s( · [\d.]+ kB/[\d.]+ kB)?( · uploaded 300)?$`),
		regexp.MustCompile(`^Uploaded: +300 files, [\d.]+ kB$`),
		regexp.MustCompile(`^Skipped: +0$`),
		regexp.MustCompile(`^Failed: +0$`),
		regexp.MustCompile(`^Upload session: [0-9a-f-]{36}$`),
		regexp.MustCompile(`^Time: +.*files/s sent\)$`),
	}
	if assert.Len(t, lines, len(want), "the final line and the summary, nothing else:\n%s", join(lines)) {
		for i, re := range want {
			assert.Regexp(t, re, lines[i])
		}
	}
	for _, l := range lines {
		assert.LessOrEqual(t, len([]rune(l)), 60, "%q", l)
	}
}

func join(lines []string) string {
	var s string
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}

// lines returns what the screen shows now.
func (term *terminal) lines() []string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.screen.Lines()
}

// shows reports whether a line of the screen matches re.
func (term *terminal) shows(re *regexp.Regexp) bool {
	for _, l := range term.lines() {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

// TestAnInterruptedRunEndsWithOneSetOfNumbers interrupts an upload twice
// on a terminal, and reads every figure it gives of the files it never
// attempted: the live line's final frame (which must not jump to 100%),
// the summary's line, its last line, and the report's totals. They agree,
// and they add up to the tree.
func TestAnInterruptedRunEndsWithOneSetOfNumbers(t *testing.T) {
	d := startDevserver(t, "--latency", "500ms")
	const n = 1500 // more than the queue of 1,024 between the scan and the uploads
	root := makeTree(t, n)
	report := filepath.Join(t.TempDir(), "report.json")
	c := exec.Command("paradigm-upload", "--files-dir", root, "--batch-size", "2", "--report", report)
	c.Env = append(os.Environ(), "PARADIGM_API_KEY="+key, "PARADIGM_BASE_URL="+d.url, "PARADIGM_WORKSPACE_ID=42")
	term := startOnTerminal(t, 200, c)
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()

	waitFor(t, "the first uploads", func() bool { return term.shows(regexp.MustCompile(`uploaded [1-9]`)) })
	require.NoError(t, c.Process.Signal(os.Interrupt))
	waitFor(t, "the notice", func() bool { return term.shows(regexp.MustCompile(`^Interrupted: no new uploads`)) })
	require.NoError(t, c.Process.Signal(os.Interrupt))
	code, err := exitCode(<-exited)
	require.NoError(t, err)
	require.Equal(t, 130, code)
	<-term.done

	term.mu.Lock()
	term.screen.Flush()
	screen := join(term.screen.Lines())
	term.mu.Unlock()
	t.Logf("the screen:\n%s", screen)
	number := func(re string) int {
		t.Helper()
		m := regexp.MustCompile(re).FindStringSubmatch(screen)
		require.NotNil(t, m, "%s in:\n%s", re, screen)
		v, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		return v
	}
	done := number(`(?m)^\[[=> ]+\] \d+% (\d+)/1500 files`)
	barNotAttempted := number(`(?m)^\[.* · not attempted (\d+)`)
	uploaded := number(`(?m)^Uploaded: +(\d+) files?`)
	interrupted := 0
	if regexp.MustCompile(`(?m)^Interrupted: +\d`).MatchString(screen) {
		interrupted = number(`(?m)^Interrupted: +(\d+)`)
	}
	notAttempted := number(`(?m)^Not attempted: (\d+)`)
	stopLine := number(`(?m)^Interrupted: (\d+) files not attempted; `)

	assert.Less(t, done, n, "the bar stays where the work stopped:\n%s", screen)
	assert.Equal(t, uploaded+interrupted, done, "the bar counts the files that ended")
	assert.Equal(t, n-done, barNotAttempted, "the final frame counts the rest")
	assert.Equal(t, barNotAttempted, notAttempted, "the summary says the same")
	assert.Equal(t, notAttempted, stopLine, "and so does its last line")

	b, err := os.ReadFile(report)
	require.NoError(t, err)
	var rep struct {
		Totals struct {
			Found    int            `json:"found"`
			Outcomes map[string]int `json:"outcomes"`
		} `json:"totals"`
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	sum := 0
	for _, v := range rep.Totals.Outcomes {
		sum += v
	}
	assert.Equal(t, n, rep.Totals.Found, "the report found the tree")
	assert.Equal(t, n, sum, "found = the sum of the outcomes")
	assert.Equal(t, notAttempted, rep.Totals.Outcomes["not_attempted"])
	assert.Equal(t, uploaded, rep.Totals.Outcomes["uploaded"])
}
