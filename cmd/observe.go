package cmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// observer receives every file's outcome for what the display does not
// show: dry-run lines, --verbose lines, JSON log records, and the results
// kept for --report and --wait.
type observer struct {
	upload.Progress
	out, errOut io.Writer
	dryRun      bool
	verbose     bool
	log         *slog.Logger // JSON log records; nil in text mode
	keep        bool

	mu      sync.Mutex
	results []upload.Result

	line []byte // dry run: the line being written
}

func (o *observer) Done(r upload.Result) {
	o.Progress.Done(r)
	if o.keep {
		o.mu.Lock()
		o.results = append(o.results, r)
		o.mu.Unlock()
	}
	if o.log != nil {
		if o.verbose || r.Outcome == upload.Failed || r.Warning != "" {
			o.logJSON(r)
		}
		return
	}
	switch {
	case o.dryRun:
		o.mu.Lock()
		o.line = appendFileLine(o.line[:0], r)
		_, _ = o.out.Write(o.line)
		o.mu.Unlock()
	case o.verbose:
		o.mu.Lock()
		_, _ = o.errOut.Write(appendFileLine(nil, r))
		o.mu.Unlock()
	}
}

// appendFileLine appends the one-line account of a file for people, and a
// newline, without fmt: a dry run prints one per file.
func appendFileLine(b []byte, r upload.Result) []byte {
	switch r.Outcome {
	case upload.WouldUpload:
		b = append(b, "would upload  "...)
		b = append(b, r.Rel...)
		b = append(b, " ("...)
		b = scan.AppendSize(b, r.Size)
		if r.Changed {
			b = append(b, ", changed since its recorded upload"...)
		}
		b = append(b, ')')
	case upload.Uploaded:
		what := "uploaded"
		if r.Changed {
			what = "changed"
		}
		b = fmt.Appendf(b, "%-12s  %s (document %d, %s, %d attempt%s, %s)", what, r.Rel, r.DocumentID,
			scan.FormatSize(r.Size), r.Attempts, plural(r.Attempts), r.Duration.Round(time.Millisecond))
		if r.Warning != "" {
			b = append(b, ": "...)
			b = append(b, r.Warning...)
		}
	case upload.AlreadyDone:
		b = append(b, "already done  "...)
		b = append(b, r.Rel...)
		b = append(b, " (document "...)
		b = strconv.AppendInt(b, r.DocumentID, 10)
		b = append(b, ')')
	case upload.Skipped:
		b = append(b, "skipped       "...)
		b = append(b, r.Rel...)
		b = append(b, ": "...)
		b = append(b, r.Reason...)
	default:
		b = append(b, "failed        "...)
		b = append(b, r.Rel...)
		b = append(b, ": "...)
		b = append(b, r.Reason...)
	}
	return append(b, '\n')
}

func (o *observer) logJSON(r upload.Result) {
	level := slog.LevelInfo
	if r.Outcome == upload.Failed {
		level = slog.LevelError
	} else if r.Warning != "" {
		level = slog.LevelWarn
	}
	attrs := []any{slog.String("path", r.Rel), slog.String("outcome", string(r.Outcome)), slog.Int64("size", r.Size)}
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
	o.log.Log(context.Background(), level, "file", attrs...)
}

// Results returns the outcomes kept so far.
func (o *observer) Results() []upload.Result {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]upload.Result(nil), o.results...)
}

// logTransport logs every HTTP exchange for --verbose: method, path and
// query, status and time. Headers are never logged, so the key cannot be.
type logTransport struct {
	next http.RoundTripper
	emit func(method, target string, status int, d time.Duration, err error)
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.emit(req.Method, req.URL.RequestURI(), status, time.Since(start), err)
	return resp, err
}
