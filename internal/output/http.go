package output

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HTTPLog is a RoundTripper that reports every HTTP exchange for --verbose:
// method, path and query, status and time — as a line on W, or a debug
// record on Log. Headers are never shown, so the key cannot be.
type HTTPLog struct {
	Next http.RoundTripper
	W    io.Writer
	Log  *slog.Logger // JSON records instead of lines, when set
	mu   sync.Mutex
}

// RoundTrip sends req and reports the exchange.
func (t *HTTPLog) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.Next.RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.emit(req.Method, req.URL.RequestURI(), status, time.Since(start), err)
	return resp, err
}

func (t *HTTPLog) emit(method, target string, status int, d time.Duration, err error) {
	if t.Log != nil {
		attrs := []any{slog.String("method", method), slog.String("target", target), slog.Int("status", status),
			slog.Int64("duration_ms", d.Milliseconds())}
		if err != nil {
			attrs = append(attrs, slog.String("error", OneLine(err.Error())))
		}
		t.Log.Debug("http", attrs...)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		fmt.Fprintf(t.W, "http %s %s: %s (%s)\n", method, Text(target), Text(OneLine(err.Error())), d.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(t.W, "http %s %s: %d (%s)\n", method, Text(target), status, d.Round(time.Millisecond))
}

// OneLine collapses runs of white space, line breaks included, to one space.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// LogRetry reports, for --verbose, a request about to be tried again: as a
// line on w, or a debug record on l.
func LogRetry(w io.Writer, l *slog.Logger, op string, try int, err error, wait time.Duration) {
	if l != nil {
		l.Debug("retry", slog.String("op", op), slog.Int("try", try), slog.String("error", OneLine(err.Error())),
			slog.Int64("wait_ms", wait.Milliseconds()))
		return
	}
	fmt.Fprintf(w, "retry %s (try %d, in %s): %s\n", op, try, wait.Round(time.Millisecond), Text(OneLine(err.Error())))
}
