package output

// The progress displays: a live bar when stderr is a terminal, and otherwise
// (CI, cron, a pipe) a plain line every few seconds with no control
// characters. Counters are atomics, written and read as such.

import (
	"fmt"
	"io"
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
	found, done      atomic.Int64
	foundBytes, sent atomic.Int64
	by               []atomic.Int64 // by outcome
	start            time.Time
}

func newCounters() counters {
	return counters{by: make([]atomic.Int64, len(upload.Outcomes())), start: time.Now()}
}

func (c *counters) Found(n int, b int64) {
	c.found.Add(int64(n))
	c.foundBytes.Add(b)
}

func (c *counters) Sent(b int64) { c.sent.Add(b) }

func (c *counters) count(r upload.Result) {
	c.done.Add(1)
	c.by[r.Outcome].Add(1)
}

// tally renders the counts of the outcomes the table shows in progress:
// those always shown, and the others once they happened.
func (c *counters) tally() string {
	var parts []string
	for _, o := range upload.Outcomes() {
		spec := o.Spec()
		n := c.by[o].Load()
		if spec.Progress == "" || n == 0 && (!spec.Always || spec.DryRun) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %d", spec.Progress, n))
	}
	return strings.Join(parts, " · ")
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
	l := &Lines{counters: newCounters(), W: w, Interval: interval, stop: make(chan struct{})}
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
func NewBar(w io.Writer) *Bar { return newBar(w, 100*time.Millisecond) }

// newBar starts a bar that redraws at most once every throttle.
func newBar(w io.Writer, throttle time.Duration) *Bar {
	b := &Bar{counters: newCounters(), w: w}
	b.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("files"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(throttle),
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
	p.bar.Describe("processing: " + CountsLine(track.Counts(docs)))
	_ = p.bar.Set(len(track.Final(docs)))
}

// Close finishes the bar.
func (p *ProcessingBar) Close() {
	_ = p.bar.Finish()
	_, _ = io.WriteString(p.w, "\n")
}
