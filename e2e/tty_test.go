//go:build unix

package e2e

import (
	"os"
	"os/exec"
	"regexp"
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
