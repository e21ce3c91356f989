// Package progress shows a run's progress: a live bar when stderr is a
// terminal, and otherwise (CI, cron, a pipe) a plain line every few seconds
// with no control characters. Counters are atomics, written and read as such.
package progress

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// counters are shared by both displays.
type counters struct {
	found, done               atomic.Int64
	foundBytes, sent          atomic.Int64
	uploaded, skipped, failed atomic.Int64
	alreadyDone               atomic.Int64
	start                     time.Time
}

func (c *counters) Found(n int, b int64) {
	c.found.Add(int64(n))
	c.foundBytes.Add(b)
}

func (c *counters) Sent(b int64) { c.sent.Add(b) }

func (c *counters) count(r upload.Result) {
	c.done.Add(1)
	switch r.Outcome {
	case upload.Uploaded:
		c.uploaded.Add(1)
	case upload.Skipped:
		c.skipped.Add(1)
	case upload.Failed:
		c.failed.Add(1)
	case upload.AlreadyDone:
		c.alreadyDone.Add(1)
	}
}

func (c *counters) tally() string {
	s := fmt.Sprintf("uploaded %d · skipped %d · failed %d", c.uploaded.Load(), c.skipped.Load(), c.failed.Load())
	if n := c.alreadyDone.Load(); n > 0 {
		s += fmt.Sprintf(" · already done %d", n)
	}
	return s
}

// Lines prints one plain progress line every Interval to W.
type Lines struct {
	counters
	W        io.Writer
	Interval time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
}

// NewLines starts a plain-line display.
func NewLines(w io.Writer, interval time.Duration) *Lines {
	l := &Lines{W: w, Interval: interval, stop: make(chan struct{})}
	l.start = time.Now()
	l.wg.Add(1)
	go l.loop()
	return l
}

func (l *Lines) loop() {
	defer l.wg.Done()
	t := time.NewTicker(l.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.print()
		case <-l.stop:
			return
		}
	}
}

func (l *Lines) print() {
	done, found := l.done.Load(), l.found.Load()
	el := time.Since(l.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	fmt.Fprintf(l.W, "progress: %d/%d files, %s sent, %.1f files/s, %s\n",
		done, found, scan.FormatSize(l.sent.Load()), rate, l.tally())
}

// Done counts a finished file.
func (l *Lines) Done(r upload.Result) { l.count(r) }

// Close stops the display.
func (l *Lines) Close() {
	close(l.stop)
	l.wg.Wait()
}

// Bar is a live progress bar for a terminal.
type Bar struct {
	counters
	bar *progressbar.ProgressBar
	w   io.Writer
	mu  sync.Mutex
}

// NewBar starts a progress bar on w, which must be a terminal.
func NewBar(w io.Writer) *Bar {
	b := &Bar{w: w}
	b.start = time.Now()
	b.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSpinnerType(14),
	)
	return b
}

// Found raises the bar's total as files are found.
func (b *Bar) Found(n int, bytes int64) {
	b.counters.Found(n, bytes)
	b.mu.Lock()
	b.bar.ChangeMax64(b.found.Load())
	b.mu.Unlock()
}

// Done advances the bar.
func (b *Bar) Done(r upload.Result) {
	b.count(r)
	b.mu.Lock()
	b.bar.Describe(fmt.Sprintf("%s/%s · %s", scan.FormatSize(b.sent.Load()), scan.FormatSize(b.foundBytes.Load()), b.tally()))
	_ = b.bar.Add(1)
	b.mu.Unlock()
}

// Close finishes the bar and moves to a fresh line.
func (b *Bar) Close() {
	b.mu.Lock()
	_ = b.bar.Finish()
	_, _ = io.WriteString(b.w, "\n")
	b.mu.Unlock()
}

// CountsLine renders counts by status, most advanced first, as
// "embedded 6 · parsing 1 · parsing_failed 1".
func CountsLine(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	if len(parts) == 0 {
		return "no documents"
	}
	return strings.Join(parts, " · ")
}

// ProcessingBar shows how many documents have reached a final status.
type ProcessingBar struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

// NewProcessingBar starts a bar for n documents on w, a terminal.
func NewProcessingBar(w io.Writer, n int) *ProcessingBar {
	return &ProcessingBar{w: w, bar: progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("processing"),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetRenderBlankState(true),
	)}
}

// Update sets the bar to the number of documents whose processing ended.
func (p *ProcessingBar) Update(docs []track.Doc) {
	final := 0
	for _, d := range docs {
		if track.IsFinal(d.Status) || d.Status == "missing" {
			final++
		}
	}
	p.bar.Describe("processing: " + CountsLine(track.Counts(docs)))
	_ = p.bar.Set(final)
}

// Close finishes the bar.
func (p *ProcessingBar) Close() {
	_ = p.bar.Finish()
	_, _ = io.WriteString(p.w, "\n")
}
