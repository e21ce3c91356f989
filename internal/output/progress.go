package output

// The progress displays: a live line when stderr is a terminal, and
// otherwise (CI, cron, a pipe) a plain line every few seconds with no control
// characters. Both read a Meter; the same figures make the line printed on
// SIGUSR1.
//
// The live line is drawn by a small renderer of our own rather than a bar
// library: it must fit the terminal's current width (read before every
// frame), drop what does not fit instead of wrapping, survive a resize on
// terminals that reflow and on those that truncate, let other lines
// (--verbose, notices) be printed above it, and end as one honest line —
// what was done, never a jump to 100%.

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	eaw "golang.org/x/text/width"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// frameEvery is how often the live line is redrawn.
const frameEvery = 200 * time.Millisecond

// defaultWidth is assumed when the terminal does not say.
const defaultWidth = 80

// Terminal control sequences of the live line: carriage return, and erase
// from the cursor to the end of the screen.
const (
	cr          = "\r"
	eraseToEnd  = "\x1b[J"
	frameStart  = cr + eraseToEnd
	minBarWidth = 10
	maxBarWidth = 30
)

// live draws one status line at the bottom of a terminal and keeps it there
// while other text is written above it. Between frames the cursor rests at
// the start of the line: when a narrowing terminal reflows the line onto two
// rows, or truncates it, the next frame's erase-to-end-of-screen removes all
// of it. Frames are one column narrower than the terminal, so the cursor
// never reaches the last column and nothing wraps.
type live struct {
	w      io.Writer
	width  func() int
	render func(width int, final bool) string

	mu     sync.Mutex
	shown  bool // a frame is on the screen, the cursor at its start
	closed bool
	last   string
	buf    []byte

	stop chan struct{}
	wg   sync.WaitGroup
}

func newLive(w io.Writer, width func() int, render func(int, bool) string, every time.Duration) *live {
	if width == nil {
		width = func() int { return defaultWidth }
	}
	l := &live{w: w, width: width, render: render, stop: make(chan struct{})}
	l.draw()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.draw()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

// columns is the width a frame may take.
func (l *live) columns() int {
	w := l.width()
	if w <= 0 {
		w = defaultWidth
	}
	return max(w-1, 1)
}

// draw redraws the line, unless it would be the same.
func (l *live) draw() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	line := fit(l.render(l.columns(), false), l.columns())
	if l.shown && line == l.last {
		return
	}
	l.buf = append(append(append(l.buf[:0], frameStart...), line...), cr...)
	_, _ = l.w.Write(l.buf)
	l.shown, l.last = true, line
}

// Write prints p above the live line: the line is erased, p written, and
// the line drawn again below it.
func (l *live) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.w.Write(p)
	}
	if l.shown {
		l.buf = append(append(l.buf[:0], frameStart...), p...)
	} else {
		l.buf = append(l.buf[:0], p...)
	}
	l.shown = false
	_, err := l.w.Write(l.buf)
	l.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if len(p) > 0 && p[len(p)-1] == '\n' {
		l.draw()
	}
	return len(p), nil
}

// Close draws the final line, as it stands, and moves below it.
func (l *live) Close() {
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	line := fit(l.render(l.columns(), true), l.columns())
	_, _ = io.WriteString(l.w, frameStart+line+"\n")
}

// fit cuts s to at most n columns.
func fit(s string, n int) string {
	cols := 0
	for j, r := range s {
		cols += runeWidth(r)
		if cols > n {
			return s[:j]
		}
	}
	return s
}

// width counts the columns of s.
func width(s string) int {
	cols := 0
	for _, r := range s {
		cols += runeWidth(r)
	}
	return cols
}

// runeWidth is 2 for the wide characters of East Asian scripts (a server's
// status text may hold some), 1 for everything else the displays draw.
func runeWidth(r rune) int {
	switch eaw.LookupRune(r).Kind() {
	case eaw.EastAsianWide, eaw.EastAsianFullwidth:
		return 2
	}
	return 1
}

// segment is a piece of a live line; the most important are kept when the
// terminal is narrow, and they are shown in order.
type segment struct {
	text string
	rank int // lower is more important
	// group, when not zero, ties segments that read as a list: once one
	// does not fit, none that follows it does.
	group int
}

// layout joins the segments that fit in n columns, most important first,
// and shows them in order. A bar of frac (when frac >= 0) takes its place
// among them at barRank, at least minBarWidth columns, and grows into what
// is left, up to maxBarWidth.
func layout(n int, frac float64, barRank int, segs []segment) string {
	keep := make([]bool, len(segs))
	used := 0
	bar := false
	fullGroup := map[int]bool{}
	for rank := 0; rank < 10; rank++ {
		if rank == barRank && frac >= 0 && used+minBarWidth+1 <= n {
			bar = true
			used += minBarWidth + 1
		}
		full := false // of a rank, what follows one that does not fit is left out
		for i, s := range segs {
			if s.rank != rank || s.text == "" || full || fullGroup[s.group] {
				continue
			}
			w := width(s.text)
			if used > 0 {
				w += 3 // " · "
			}
			if used+w > n {
				full = true
				if s.group != 0 {
					fullGroup[s.group] = true
				}
				continue
			}
			keep[i] = true
			used += w
		}
	}
	var parts []string
	for i, s := range segs {
		if keep[i] {
			parts = append(parts, s.text)
		}
	}
	line := strings.Join(parts, " · ")
	if !bar {
		return line
	}
	w := min(max(n-width(line)-1, minBarWidth), maxBarWidth)
	return drawBar(w, frac) + " " + line
}

// drawBar draws [====>    ] of w columns, brackets included.
func drawBar(w int, frac float64) string {
	inner := w - 2
	filled := int(frac * float64(inner))
	filled = min(max(filled, 0), inner)
	var b strings.Builder
	b.WriteByte('[')
	b.WriteString(strings.Repeat("=", filled))
	if filled < inner {
		if filled > 0 {
			b.WriteByte('>')
			filled++
		}
		b.WriteString(strings.Repeat(" ", inner-filled))
	}
	b.WriteByte(']')
	return b.String()
}

// filesPart renders "41% 1234/3000 files", or "1234/2048+ files" while the
// count runs.
func filesPart(s Snapshot) string {
	if !s.TotalKnown {
		return fmt.Sprintf("%d/%d+ files", s.Done, s.Total)
	}
	return fmt.Sprintf("%s %d/%d files", percent(s.Done, s.Total), s.Done, s.Total)
}

// percent never rounds up to 100% before the end.
func percent(done, total int64) string {
	if total <= 0 || done >= total {
		return "100%"
	}
	return strconv.FormatInt(min(done*100/total, 99), 10) + "%"
}

// fraction is done/total for the bar, or -1 while the total is not known.
func fraction(s Snapshot) float64 {
	if !s.TotalKnown {
		return -1
	}
	if s.Total <= 0 {
		return 1
	}
	return float64(s.Done) / float64(s.Total)
}

func bytesPart(s Snapshot) string {
	if s.TotalKnown && s.WorkBytes > 0 {
		return scan.FormatSize(s.Sent) + "/" + scan.FormatSize(s.WorkBytes)
	}
	return scan.FormatSize(s.Sent) + " sent"
}

// formatRate renders files per second in a unit that keeps a figure above
// one; empty when there is no rate yet.
func formatRate(fps float64) string {
	switch {
	case fps <= 0:
		return ""
	case fps >= 10:
		return fmt.Sprintf("%.0f files/s", fps)
	case fps >= 1:
		return fmt.Sprintf("%.1f files/s", fps)
	case fps*60 >= 1:
		return fmt.Sprintf("%.1f files/min", fps*60)
	}
	return fmt.Sprintf("%.1f files/h", fps*3600)
}

// formatETA renders a duration as 7s, 3m05s, 2h04m or 3d04h.
func formatETA(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// tallyParts renders the counts of the outcomes the table shows in
// progress: those always shown, and the others once they happened.
// Failures come first in importance.
func tallyParts(by []int64) (failures, others []string) {
	for _, o := range upload.Outcomes() {
		spec := o.Spec()
		n := by[o]
		if spec.Progress == "" || n == 0 && (!spec.Always || spec.DryRun) {
			continue
		}
		part := spec.Progress + " " + strconv.FormatInt(n, 10)
		if spec.Failure && n > 0 {
			failures = append(failures, part)
		} else {
			others = append(others, part)
		}
	}
	return failures, others
}

// notAttemptedPart renders, at the end, the files found that the run never
// attempted (it stopped early): "not attempted 2548", or "2548+" when the
// count of the tree did not finish; empty when there are none.
func notAttemptedPart(s Snapshot) string {
	n := s.Total - s.Done
	switch {
	case n <= 0:
		return ""
	case !s.TotalKnown:
		return "not attempted " + strconv.FormatInt(n, 10) + "+"
	}
	return "not attempted " + strconv.FormatInt(n, 10)
}

// barLine renders the live line of an upload in n columns.
func barLine(s Snapshot, n int, final bool) string {
	segs := []segment{{text: filesPart(s)}}
	failures, others := tallyParts(s.By)
	if !final && s.ETA > 0 {
		segs = append(segs, segment{text: "ETA " + formatETA(s.ETA), rank: 1})
	}
	segs = append(segs, segment{text: formatRate(s.FilesPerSec), rank: 3}, segment{text: bytesPart(s), rank: 5})
	if p := paceText(s); p != "" {
		segs = append(segs, segment{text: p, rank: 2})
	}
	for _, f := range failures {
		segs = append(segs, segment{text: f, rank: 2})
	}
	if final {
		segs = append(segs, segment{text: notAttemptedPart(s), rank: 2})
	}
	for _, o := range others {
		rank := 6
		if strings.HasSuffix(o, " 0") {
			rank = 7 // a count still at zero says least
		}
		segs = append(segs, segment{text: o, rank: rank, group: 1})
	}
	return layout(n, fraction(s), 4, segs)
}

// PlainLine renders the progress of an upload as one line of ASCII without
// control characters: the periodic lines off a terminal, and the SIGUSR1
// line.
func PlainLine(s Snapshot) string {
	var b strings.Builder
	b.WriteString("progress: ")
	if s.TotalKnown {
		fmt.Fprintf(&b, "%d/%d files (%s)", s.Done, s.Total, percent(s.Done, s.Total))
	} else {
		fmt.Fprintf(&b, "%d/%d+ files (counting)", s.Done, s.Total)
	}
	if s.TotalKnown && s.WorkBytes > 0 {
		fmt.Fprintf(&b, ", %s of %s sent", scan.FormatSize(s.Sent), scan.FormatSize(s.WorkBytes))
	} else {
		fmt.Fprintf(&b, ", %s sent", scan.FormatSize(s.Sent))
	}
	if r := formatRate(s.FilesPerSec); r != "" {
		b.WriteString(", " + r)
	}
	if s.ETA > 0 {
		b.WriteString(", ETA " + formatETA(s.ETA))
	}
	failures, others := tallyParts(s.By)
	b.WriteString(", " + strings.Join(append(others, failures...), ", "))
	if p := paceText(s); p != "" {
		b.WriteString(", " + p)
	}
	return b.String()
}

// paceText says what holds the run back, if anything: an outage, a pause
// for the service's Retry-After, or the rate learned from its quota.
func paceText(s Snapshot) string {
	p := s.Pace
	switch {
	case p.Outage:
		return "service unavailable since " + p.OutageSince.Local().Format("15:04:05") + ", probing"
	case p.PausedUntil.Sub(s.Now) >= time.Second:
		return "paused until " + p.PausedUntil.Local().Format("15:04:05") + " (Retry-After)"
	case p.Rate > 0:
		return "throttled: " + RateText(p.Rate)
	}
	return ""
}

// Bar is the live progress line of an upload on a terminal.
type Bar struct {
	*live
	m *Meter
}

// NewBar starts a live line on w, a terminal whose width in columns
// width returns (asked before every frame, so resizes are followed).
func NewBar(w io.Writer, m *Meter, width func() int) *Bar {
	return newBar(w, m, width, frameEvery)
}

func newBar(w io.Writer, m *Meter, width func() int, every time.Duration) *Bar {
	b := &Bar{m: m}
	b.live = newLive(w, width, func(n int, final bool) string { return barLine(m.Snapshot(), n, final) }, every)
	return b
}

// Lines prints one plain progress line every interval.
type Lines struct {
	m    *Meter
	w    io.Writer
	stop chan struct{}
	wg   sync.WaitGroup
}

// NewLines starts printing plain progress lines to w.
func NewLines(w io.Writer, m *Meter, interval time.Duration) *Lines {
	l := &Lines{m: m, w: w, stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.print()
			case <-l.stop:
				return
			}
		}
	}()
	return l
}

func (l *Lines) print() { fmt.Fprintln(l.w, PlainLine(l.m.Snapshot())) }

// Close stops the lines.
func (l *Lines) Close() {
	close(l.stop)
	l.wg.Wait()
}

// ProcessingBar is the live line of --wait on a terminal.
type ProcessingBar struct {
	*live
	mu   sync.Mutex
	docs []track.Doc
	n    int
}

// NewProcessingBar starts a live line for n documents on w, a terminal.
func NewProcessingBar(w io.Writer, n int, width func() int) *ProcessingBar {
	p := &ProcessingBar{n: n}
	p.live = newLive(w, width, p.line, frameEvery)
	return p
}

// Update takes the latest status of the documents.
func (p *ProcessingBar) Update(docs []track.Doc) {
	p.mu.Lock()
	p.docs = docs
	p.mu.Unlock()
}

func (p *ProcessingBar) line(n int, _ bool) string {
	p.mu.Lock()
	docs := p.docs
	p.mu.Unlock()
	final := len(track.Final(docs))
	segs := []segment{{text: fmt.Sprintf("processed %d/%d documents", final, p.n)}}
	if len(docs) > 0 {
		segs = append(segs, segment{text: CountsLine(track.Counts(docs)), rank: 1})
	}
	frac := 0.0
	if p.n > 0 {
		frac = float64(final) / float64(p.n)
	}
	return layout(n, frac, 1, segs)
}
