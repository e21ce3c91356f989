package api

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
)

// fakeWatchdog is a watchdog on the fake clock, judged by the test (its own
// timer, set to the real timeout, never fires within a test).
func fakeWatchdog(t *testing.T, timeout time.Duration) (*watchdog, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.New(time.Unix(1000, 0))
	w := newWatchdog(timeout, func(error) {}, clk.Now)
	t.Cleanup(w.stop)
	return w, clk
}

// Bytes read through a request's or an answer's body are progress: a body
// that keeps coming, one byte every three quarters of the timeout, never
// looks stalled; once it stops, the watchdog fires a timeout later.
func TestBodyReadsKeepTheWatchdogQuiet(t *testing.T) {
	w, clk := fakeWatchdog(t, time.Minute)
	body := &watchedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 8))), w: w}
	keptQuiet(t, w, clk, func() error { _, err := body.Read(make([]byte, 1)); return err })
}

// keptQuiet checks that a byte moved by move every 45 s keeps a watchdog
// with a timeout of a minute from firing, and that it fires a minute after
// the last.
func keptQuiet(t *testing.T, w *watchdog, clk *clocktest.Fake, move func() error) {
	t.Helper()
	for range 8 {
		clk.Advance(45 * time.Second)
		_, err := w.judge(clk.Now())
		require.NoError(t, err, "%s: a byte moved 45 s ago", clk.Now().Sub(time.Unix(1000, 0)))
		require.NoError(t, move())
	}
	clk.Advance(time.Minute)
	_, err := w.judge(clk.Now())
	assert.ErrorIs(t, err, errStalled, "a minute without a byte")
}

// Bytes written to the connection are progress, also where the socket's
// queue cannot be read (here a pipe; on Linux, the queue's draining also
// counts, which hid this before).
func TestWritesToTheConnectionKeepTheWatchdogQuiet(t *testing.T) {
	w, clk := fakeWatchdog(t, time.Minute)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := &activeConn{Conn: a, queued: -1}
	c.watch(w)
	w.conn.Store(c)
	keptQuiet(t, w, clk, func() error { _, err := c.Write([]byte("x")); return err })
}

// A request whose end sits in the socket's buffer when the transport says
// it is written — a slow link draining it — is not yet sent whole: its
// answer's deadline (2 min here) starts when the peer has taken the last
// byte, however long the draining takes, not when the last write returned.
func TestTheAnswersDeadlineWaitsForTheRequestToDrain(t *testing.T) {
	w, clk := fakeWatchdog(t, time.Minute)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	queued := 10 << 20
	c := &activeConn{Conn: a, queued: -1, queue: func() (int, bool) { return queued, true }}
	c.watch(w)
	w.conn.Store(c)
	w.sent() // the last write returned: 10 MiB still queued
	start := clk.Now()
	for queued > 0 {
		clk.Advance(15 * time.Second)
		queued = max(queued-(256<<10), 0) // the link takes 256 KiB every 15 s
		_, err := w.judge(clk.Now())
		require.NoError(t, err, "%s after the last write, %d bytes still queued", clk.Now().Sub(start), queued)
	}
	drained := clk.Now()
	require.GreaterOrEqual(t, drained.Sub(start), 10*time.Minute, "the draining took five times the deadline")
	// Drained, and no answer: the deadline runs from then (silence is cut
	// after the stall timeout first).
	clk.Advance(59 * time.Second)
	_, err := w.judge(clk.Now())
	require.NoError(t, err)
	clk.Advance(2 * time.Second)
	_, err = w.judge(clk.Now())
	assert.ErrorIs(t, err, errStalled)
}

// An answer that trickles — a byte every 3 s, never silent for the stall
// timeout of a minute — is cut once its deadline passes: twice the timeout
// after the request was sent, plus a second per 64 KiB of the answer.
func TestATricklingAnswerIsCutAtItsDeadline(t *testing.T) {
	w, clk := fakeWatchdog(t, time.Minute)
	start := clk.Now()
	w.sent()
	w.answering(-1) // no Content-Length
	body := &watchedBody{ReadCloser: io.NopCloser(strings.NewReader(strings.Repeat("x", 1000))), w: w, answer: true}
	one := make([]byte, 1)
	var err error
	for err == nil && clk.Now().Sub(start) < time.Hour {
		clk.Advance(3 * time.Second)
		if _, err = w.judge(clk.Now()); err == nil {
			_, err = body.Read(one)
			require.NoError(t, err)
		}
	}
	require.ErrorIs(t, err, errDeadline, "still going after an hour")
	took := clk.Now().Sub(start)
	assert.GreaterOrEqual(t, took, answerBound(time.Minute, 40))
	assert.Less(t, took, answerBound(time.Minute, 40)+3*time.Second, "cut at 2 min and a few ms for its 40 bytes")
}

// A large answer that keeps coming at 64 KiB a second or faster is never cut,
// however long it takes: its deadline grows with what it announces (or
// brings).
func TestALargeAnswerThatKeepsComingIsNotCut(t *testing.T) {
	for _, announced := range []int64{10 << 20, -1} {
		w, clk := fakeWatchdog(t, time.Minute)
		w.sent()
		w.answering(announced)
		body := &watchedBody{ReadCloser: io.NopCloser(io.LimitReader(zeros{}, 10<<20)), w: w, answer: true}
		buf := make([]byte, 64<<10)
		for {
			clk.Advance(time.Second)
			_, err := w.judge(clk.Now())
			require.NoError(t, err, "announced %d: %d bytes in %s", announced, w.got.Load(), clk.Now().Sub(time.Unix(1000, 0)))
			if _, err := io.ReadFull(body, buf); err == io.EOF {
				break
			}
		}
		assert.Equal(t, int64(10<<20), w.got.Load())
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// An answer past its deadline is a timeout (the pacer reads a dropped
// connection), and its text gives the bound and the flag.
func TestASlowAnswerErrorSaysItsBound(t *testing.T) {
	se := &SlowAnswerError{After: answerBound(time.Minute, 1<<20), Bytes: 1 << 20}
	assert.True(t, se.Timeout())
	assert.Contains(t, se.Error(), "2m16s")
	assert.Contains(t, se.Error(), "--timeout")
}
