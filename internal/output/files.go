package output

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// verbWidth is the width of the verbs' column: the longest verb of the
// outcome table, so that the paths make a column.
var verbWidth = func() int {
	n := 0
	for _, o := range upload.Outcomes() {
		n = max(n, len(o.Spec().Verb))
	}
	return n
}()

// AppendFileLine appends the one-line account of a file for people, and a
// newline, without fmt: a dry run prints one per file.
//
//	uploaded       a/b.pdf (document 12, 1.2 kB, 1 attempt, 80ms)
//	skipped        c.exe: unsupported extension
//	would replace  d.docx (document 7, 3.0 kB)
func AppendFileLine(b []byte, r upload.Result) []byte {
	spec := r.Outcome.Spec()
	start := len(b)
	b = append(b, spec.Verb...)
	for len(b)-start < verbWidth {
		b = append(b, ' ')
	}
	b = append(b, "  "...)
	if r.From != "" {
		// A move: where it was, then where it is.
		b = appendText(b, r.From)
		b = append(b, " → "...)
	}
	b = appendText(b, r.Rel)
	open := false
	item := func() {
		if open {
			b = append(b, ", "...)
		} else {
			b = append(b, " ("...)
			open = true
		}
	}
	if r.DocumentID != 0 {
		item()
		b = append(b, "document "...)
		b = strconv.AppendInt(b, r.DocumentID, 10)
	}
	if spec.Sends || spec.DryRun {
		item()
		b = scan.AppendSize(b, r.Size)
	}
	if r.Attempts > 0 {
		item()
		b = strconv.AppendInt(b, int64(r.Attempts), 10)
		b = append(b, " attempt"...)
		b = append(b, plural(r.Attempts)...)
		b = append(b, ", "...)
		b = append(b, r.Duration.Round(time.Millisecond).String()...)
	}
	if open {
		b = append(b, ')')
	}
	for _, note := range [2]string{r.Reason, r.Warning} {
		if note != "" {
			b = append(b, ": "...)
			b = appendText(b, note)
		}
	}
	return append(b, '\n')
}

// Events receives every file's outcome for what the progress display does
// not show: dry-run lines (to Out), --verbose lines (to ErrOut) or JSON log
// records, and keeps the results when asked. It is an upload.Progress, and
// an upload.Counter for the display it wraps.
type Events struct {
	upload.Progress // the display
	Out, ErrOut     io.Writer
	DryRun, Verbose bool
	// Log, when set, receives JSON records instead of the text lines.
	Log *slog.Logger
	// Keep keeps every result, for the report and --wait.
	Keep bool

	mu      sync.Mutex
	results []upload.Result
	line    []byte
}

// Done reports a file's outcome.
func (e *Events) Done(r upload.Result) {
	e.Progress.Done(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Keep {
		e.results = append(e.results, r)
	}
	if e.Log != nil {
		if e.Verbose || e.DryRun || r.Outcome.Spec().Failure || r.Warning != "" {
			logFile(e.Log, r)
		}
		return
	}
	switch {
	case e.DryRun:
		e.line = AppendFileLine(e.line[:0], r)
		_, _ = e.Out.Write(e.line)
	case e.Verbose:
		e.line = AppendFileLine(e.line[:0], r)
		_, _ = e.ErrOut.Write(e.line)
	}
}

// Counted passes the counting walk's totals on to the display, when it
// takes them (see upload.Counter).
func (e *Events) Counted(c upload.Count) {
	if cn, ok := e.Progress.(upload.Counter); ok {
		cn.Counted(c)
	}
}

// Results returns the outcomes kept so far.
func (e *Events) Results() []upload.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]upload.Result(nil), e.results...)
}

// logFile writes a file's JSON record; names stay exact there.
func logFile(l *slog.Logger, r upload.Result) {
	level := slog.LevelInfo
	switch {
	case r.Outcome.Spec().Failure:
		level = slog.LevelError
	case r.Warning != "":
		level = slog.LevelWarn
	}
	attrs := []any{slog.String("path", r.Rel), slog.String("outcome", r.Outcome.String()), slog.Int64("size", r.Size)}
	if r.From != "" {
		attrs = append(attrs, slog.String("from", r.From))
	}
	if r.Reason != "" {
		attrs = append(attrs, slog.String("reason", r.Reason))
	}
	if r.Warning != "" {
		attrs = append(attrs, slog.String("warning", r.Warning))
	}
	if r.DocumentID != 0 {
		attrs = append(attrs, slog.Int64("document_id", r.DocumentID), slog.String("upload_session_uuid", r.UploadSessionUUID))
	}
	if r.Attempts > 0 {
		attrs = append(attrs, slog.Int("attempts", r.Attempts), slog.Int64("duration_ms", r.Duration.Milliseconds()))
	}
	l.Log(context.Background(), level, "file", attrs...)
}
