package output

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/testio"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// fakeTime is a clock the test moves.
type fakeTime struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func testMeter() (*Meter, *fakeTime) {
	ft := &fakeTime{now: time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)}
	return newMeter(ft.Now), ft
}

func uploaded(size int64) upload.Result {
	return upload.Result{Outcome: upload.Uploaded, Size: size, Attempts: 1}
}

func TestRateAndETAComeFromWhatIsSentNotFromWhatWasAlreadyDone(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 1000, Work: 100, WorkBytes: 100_000, Complete: true})
	// A resume: 900 files recorded as done end at once, before any upload.
	for i := 0; i < 900; i++ {
		m.Found(1, 0)
		m.Done(upload.Result{Outcome: upload.AlreadyDone})
	}
	s := m.Snapshot()
	assert.Zero(t, s.FilesPerSec, "files already done make no rate")
	assert.Zero(t, s.ETA, "no ETA before there is a rate")
	clock.Advance(3 * time.Second) // the first uploads take a while to start
	m.Snapshot()
	for i := 0; i < 10; i++ {
		m.Sent(1000) // a file's bytes leave as its upload starts,
		clock.Advance(time.Second)
		m.Done(uploaded(1000)) // and it is answered a second later
		s = m.Snapshot()
	}
	assert.InDelta(t, 1.0, s.FilesPerSec, 0.01, "10 files sent in 10 s")
	assert.Equal(t, 90*time.Second, s.ETA, "90 files left at 1 file/s")
	line := PlainLine(s)
	assert.Equal(t, "progress: 910/1000 files (91%), 10.0 kB of 100.0 kB sent, 1.0 files/s, ETA 1m30s, "+
		"uploaded 10, already done 900, skipped 0, failed 0", line)
}

func TestIdleStartShowsNoRateAndNoETA(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 5, Work: 5, WorkBytes: 500, Complete: true})
	for i := 0; i < 60; i++ {
		clock.Advance(time.Second)
		s := m.Snapshot()
		require.Zero(t, s.FilesPerSec)
		require.Zero(t, s.ETA)
	}
	line := PlainLine(m.Snapshot())
	assert.NotContains(t, line, "files/")
	assert.NotContains(t, line, "ETA")
	assert.Contains(t, line, "0/5 files (0%)")
}

func TestNoPercentOrETAWhileTheCountRuns(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 2048, Work: 2048})
	m.Snapshot()
	for i := 0; i < 5; i++ {
		clock.Advance(time.Second)
		m.Done(uploaded(1))
	}
	s := m.Snapshot()
	assert.Positive(t, s.FilesPerSec)
	assert.Zero(t, s.ETA, "the total is not known yet")
	assert.Contains(t, PlainLine(s), "5/2048+ files (counting)")
	assert.Contains(t, barLine(s, 100, false), "5/2048+ files")
	assert.NotContains(t, barLine(s, 100, false), "%")
}

func TestLargeFileGetsAnETAFromItsBytes(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 1, Work: 1, WorkBytes: 1_000_000, Complete: true})
	m.Snapshot()
	var s Snapshot
	for i := 1; i <= 4; i++ {
		m.Sent(100_000)
		clock.Advance(time.Second)
		s = m.Snapshot()
		if i < movingFor {
			assert.Zero(t, s.ETA, "%d s: bytes must keep moving %d s for an ETA without a file sent", i, movingFor)
		}
	}
	assert.Zero(t, s.FilesPerSec)
	assert.Equal(t, 6*time.Second, s.ETA, "600 kB left at 100 kB/s")
}

func TestRateFollowsASlowdown(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 10000, Work: 10000, Complete: true})
	m.Snapshot()
	for i := 0; i < 60; i++ { // a fast minute: 10 files/s
		clock.Advance(time.Second)
		for j := 0; j < 10; j++ {
			m.Done(uploaded(1))
		}
		m.Snapshot()
	}
	var s Snapshot
	for i := 0; i < 60; i++ { // then throttled: 1 file/s
		clock.Advance(time.Second)
		m.Done(uploaded(1))
		s = m.Snapshot()
	}
	assert.InDelta(t, 1.0, s.FilesPerSec, 0.1, "the rate reflects the last %s, not the whole run", rateWindow)
}

func TestFormats(t *testing.T) {
	assert.Empty(t, formatRate(0))
	assert.Equal(t, "312 files/s", formatRate(312.4))
	assert.Equal(t, "2.5 files/s", formatRate(2.5))
	assert.Equal(t, "30.0 files/min", formatRate(0.5))
	assert.Equal(t, "36.0 files/h", formatRate(0.01))
	assert.Equal(t, "7s", formatETA(7*time.Second))
	assert.Equal(t, "3m05s", formatETA(185*time.Second))
	assert.Equal(t, "2h04m", formatETA(124*time.Minute))
	assert.Equal(t, "3d04h", formatETA(76*time.Hour))
	assert.Equal(t, "99%", percent(999, 1000), "never 100% before the end")
	assert.Equal(t, "100%", percent(1000, 1000))
}

// busySnapshot is a run in full swing, with every kind of count.
func busySnapshot() Snapshot {
	by := make([]int64, len(upload.Outcomes()))
	by[upload.Uploaded], by[upload.AlreadyDone], by[upload.Skipped], by[upload.Failed], by[upload.Replaced] = 1200, 300, 30, 4, 12
	return Snapshot{Done: 1546, Total: 3000, TotalKnown: true, WorkDone: 1216, WorkTotal: 2670,
		Sent: 12_345_678, WorkBytes: 30_000_000, By: by, FilesPerSec: 250, ETA: 7 * time.Second}
}

func TestBarLineFitsEveryWidthAndKeepsWhatMatters(t *testing.T) {
	s := busySnapshot()
	for n := 1; n <= 250; n++ {
		line := barLine(s, n, false)
		require.LessOrEqual(t, width(line), n, "%d columns: %q", n, line)
		if n >= 40 {
			assert.Contains(t, line, "51% 1546/3000 files", "%d columns", n)
			assert.Contains(t, line, "ETA 7s", "%d columns", n)
			assert.Contains(t, line, "failed 4", "%d columns", n)
		}
	}
	assert.Equal(t, "[==============>             ] 51% 1546/3000 files · ETA 7s · 250 files/s · 12.3 MB/30.0 MB · "+
		"failed 4 · uploaded 1200 · replaced 12 · already done 300 · skipped 30", barLine(s, 199, false))
	assert.Equal(t, "[====>    ] 51% 1546/3000 files · ETA 7s · 250 files/s · 12.3 MB/30.0 MB · failed 4 · uploaded 1200",
		barLine(s, 99, false), "at 100 columns the bar shrinks for the figures")
	assert.Equal(t, "51% 1546/3000 files · ETA 7s · 250 files/s · failed 4",
		barLine(s, 59, false), "at 60 columns the bar and the bytes give way")
	assert.NotContains(t, barLine(s, 199, true), "ETA", "the final line has no ETA")
}

// screenWriter feeds a Screen from the display's goroutine and the test's.
type screenWriter struct {
	mu sync.Mutex
	s  *testio.Screen
}

func (w *screenWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.s.Write(p)
}

func (w *screenWriter) resize(n int) {
	w.mu.Lock()
	w.s.Resize(n)
	w.mu.Unlock()
}

func (w *screenWriter) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.s.Flush()
	return w.s.Lines()
}

func TestLiveLineFollowsResizesAndEndsAsOneHonestLine(t *testing.T) {
	m, _ := testMeter()
	m.Counted(upload.Count{Files: 3000, Work: 3000, WorkBytes: 3_000_000, Complete: true})
	var mu sync.Mutex
	cols := 200
	widthNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return cols
	}
	resize := func(n int, sw *screenWriter) {
		mu.Lock()
		cols = n
		mu.Unlock()
		sw.resize(n)
	}
	sw := &screenWriter{s: testio.NewScreen(200)}
	b := newBar(sw, m, widthNow, time.Hour) // frames drawn by the test
	step := func() {
		for i := 0; i < 100; i++ {
			m.Found(1, 1000)
			m.Sent(1000)
			m.Done(uploaded(1000))
		}
		b.draw()
	}
	for _, n := range []int{200, 100, 60, 100, 60, 200} {
		resize(n, sw)
		for range sw.s.MaxStale + 1 {
			step()
		}
	}
	_, _ = b.Write([]byte("a line printed while the display is up\n"))
	step()
	b.Close()

	lines := sw.lines()
	assert.Empty(t, sw.s.Wraps, "no frame was wider than the terminal")
	assert.Empty(t, sw.s.Ignored, "every resize was followed")
	assert.Empty(t, sw.s.Unknown)
	require.Len(t, lines, 2, "the printed line and the final line, nothing stale: %q", lines)
	assert.Equal(t, "a line printed while the display is up", lines[0])
	assert.Contains(t, lines[1], "83% 2500/3000 files", "the final line says what was done, not 100%")
	assert.NotContains(t, lines[1], "ETA")
}

func TestLinesCountEveryOutcome(t *testing.T) {
	var buf testio.Buffer
	m, _ := testMeter()
	l := NewLines(&buf, m, time.Hour)
	m.Found(4, 4000)
	m.Sent(2500)
	for _, o := range []upload.Outcome{upload.Uploaded, upload.Uploaded, upload.Skipped, upload.Failed} {
		m.Done(upload.Result{Outcome: o})
	}
	l.print()
	l.Close()
	line := buf.String()
	assert.True(t, strings.HasPrefix(line, "progress: 4/4+ files (counting), 2.5 kB sent, "), line)
	assert.Contains(t, line, "uploaded 2, skipped 1, failed 1")
	assert.NotContains(t, line, "\r")
	assert.NotContains(t, line, "\x1b")
}

// An interruption: 460 files ended, then the run stopped and the other
// 2,548 files it had found ended as not attempted. The bar stays where the
// work stopped — no jump to 100% — and its final frame counts them.
func TestTheBarDoesNotJumpWhenTheRunStopsEarly(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 3008, Work: 3008, WorkBytes: 3008 * 10, Complete: true})
	for i := 0; i < 460; i++ {
		clock.Advance(10 * time.Millisecond)
		m.Found(1, 10)
		m.Sent(10)
		m.Done(uploaded(10))
	}
	for i := 0; i < 1024; i++ { // the queue, drained
		m.Found(1, 10)
		m.Done(upload.Result{Outcome: upload.NotAttempted, Size: 10})
	}
	s := m.Snapshot()
	assert.Equal(t, int64(460), s.Done, "files not attempted have not been done")
	assert.Equal(t, int64(1024), s.By[upload.NotAttempted])
	final := barLine(s, 200, true)
	assert.Contains(t, final, "] 15% 460/3008 files")
	assert.Contains(t, final, "not attempted 2548", "the queue drained and the files never scanned: 3008 - 460")
	assert.NotContains(t, barLine(s, 200, false), "not attempted", "only the final frame says it")
	assert.Contains(t, PlainLine(s), "progress: 460/3008 files (15%)")
}

// The first uploads of a run against a slow service: their bytes leave at
// once (into the connection's buffers), then nothing ends for a minute.
// Nothing was sent as far as a person can tell: no rate, no time left.
func TestNoRateOrETABeforeAFileWasSent(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 3008, Work: 3008, WorkBytes: 29_200, Complete: true})
	m.Snapshot()
	m.Sent(97)
	for i := 0; i < 300; i++ {
		clock.Advance(200 * time.Millisecond) // the live line's frames
		s := m.Snapshot()
		require.Zero(t, s.ETA, "%s: an ETA with no file sent: %s", s.Elapsed, barLine(s, 200, false))
		require.Zero(t, s.FilesPerSec, "%s", s.Elapsed)
	}
	clock.Advance(time.Second)
	m.Done(uploaded(10)) // the first answer
	clock.Advance(time.Second)
	s := m.Snapshot()
	assert.Positive(t, s.FilesPerSec, "a file was sent: a rate")
	assert.Positive(t, s.ETA, "and a time left")
}

// A second Ctrl-C abandons the uploads in flight: they were not sent, and
// make no rate.
func TestAbandonedUploadsMakeNoRate(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 3008, Work: 3008, Complete: true})
	m.Snapshot()
	m.Sent(100)
	clock.Advance(2 * time.Second)
	for i := 0; i < 10; i++ {
		m.Done(upload.Result{Outcome: upload.Interrupted, Attempts: 1})
	}
	clock.Advance(time.Second)
	s := m.Snapshot()
	assert.Zero(t, s.FilesPerSec, "0 uploaded: %s", barLine(s, 200, true))
	assert.NotContains(t, barLine(s, 200, true), "files/s")
	assert.Zero(t, s.WorkDone)
}

// The plain lines (every --progress-interval) and the JSON progress record
// (on SIGUSR1) read the meter rarely: their first reading already has the
// rate and the time left, counted from when sending began.
func TestTheFirstReadingHasTheRateAndETA(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 1000, Work: 1000, WorkBytes: 1_000_000, Complete: true})
	clock.Advance(3 * time.Second) // the listing, before anything is sent
	for i := 0; i < 615; i++ {
		m.Sent(1000)
		clock.Advance(10 * time.Millisecond)
		m.Done(uploaded(1000))
	}
	s := m.Snapshot() // the first reading: 6.15 s after sending began
	assert.InDelta(t, 100, s.FilesPerSec, 0.5, "615 files in 6.15 s")
	assert.Equal(t, 4*time.Second, s.ETA.Round(time.Second), "385 files left at 100 files/s")
	assert.Contains(t, PlainLine(s), "100 files/s, ETA 4s")

	var b bytes.Buffer
	LogProgress(slog.New(slog.NewJSONHandler(&b, nil)), s)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &rec))
	assert.InDelta(t, 100, rec["files_per_second"], 0.5, "the same rate as the lines: %s", b.String())
	assert.InDelta(t, 4000, rec["eta_ms"], 500)
	assert.InDelta(t, 1_000_000, rec["bytes_total"], 0.5, "the bytes to send, as the lines say them")
}

// The plain lines go to logs and mail, where a non-ASCII character may be
// mangled: every character of them is ASCII — the progress line in every
// state, and --wait's processing line.
func TestPlainLinesAreASCII(t *testing.T) {
	now := time.Date(2026, 11, 23, 21, 0, 0, 0, time.Local)
	s := busySnapshot()
	s.Now = now
	for _, p := range []pace.Status{{}, {Rate: 9.8}, {PausedUntil: now.Add(time.Minute)}, {Outage: true, OutageSince: now}} {
		s.Pace = p
		for _, known := range []bool{true, false} {
			s.TotalKnown = known
			line := PlainLine(s)
			for _, r := range line {
				require.Less(t, r, rune(0x80), "%q", line)
			}
		}
	}
	line := ProcessingLine(3, 5, map[string]int{"embedded": 2, "parsing": 1, "pending": 2})
	assert.Equal(t, "processing: 3/5 documents done: embedded 2, parsing 1, pending 2", line)
}

// A run stopped while the count was still going: the files it never
// scanned end as not attempted without being found. The total is what the
// run ended with, done and not attempted, so that they add up.
func TestTheTotalCountsFilesNeverScanned(t *testing.T) {
	m, clock := testMeter()
	m.Counted(upload.Count{Files: 500, Work: 500, WorkBytes: 5000})
	for i := 0; i < 460; i++ {
		clock.Advance(10 * time.Millisecond)
		m.Found(1, 10)
		m.Sent(10)
		m.Done(uploaded(10))
	}
	for i := 0; i < 100; i++ {
		m.Done(upload.Result{Outcome: upload.NotAttempted})
	}
	s := m.Snapshot()
	assert.Equal(t, s.Done+s.By[upload.NotAttempted], s.Total, "done and not attempted add up to the total")
	assert.Contains(t, barLine(s, 200, true), "460/560+ files", "+: the count had not ended")
}
