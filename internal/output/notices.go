package output

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// NewJSONLog returns the logger of --log-format json: one JSON object per
// line on w; debug records (HTTP exchanges, every file) with verbose.
func NewJSONLog(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Notices prints the tool's one-line messages — errors, warnings, notices —
// on stderr: as text, or as JSON records when Log is set, so that with
// --log-format json every line of stderr is JSON.
type Notices struct {
	W   io.Writer
	Log *slog.Logger
}

// Error reports what ends the command, with its exit code.
func (n Notices) Error(msg string, code int) {
	if n.Log != nil {
		n.Log.Error(msg, slog.Int("exit_code", code))
		return
	}
	fmt.Fprintf(n.W, "paradigm-upload: %s\n", Text(OneLine(msg)))
}

// Warn reports something the user should know and may want to change.
func (n Notices) Warn(msg string) {
	if n.Log != nil {
		n.Log.Warn(msg)
		return
	}
	fmt.Fprintf(n.W, "paradigm-upload: warning: %s\n", Text(OneLine(msg)))
}

// Notice reports an event of the run (an interruption), as a line of its
// own.
func (n Notices) Notice(msg string) {
	if n.Log != nil {
		n.Log.Warn(msg)
		return
	}
	fmt.Fprintf(n.W, "%s\n", Text(OneLine(msg)))
}

// RunInfo describes an upload for its JSON start and summary records.
type RunInfo struct {
	Tool        string
	BaseURL     string
	WorkspaceID int64
	FilesDir    string
	DryRun      bool
}

func (i RunInfo) attrs() []any {
	host := i.BaseURL
	if u, err := url.Parse(i.BaseURL); err == nil && u.Host != "" {
		host = u.Host
	}
	return []any{slog.Int64("workspace_id", i.WorkspaceID), slog.String("instance", host),
		slog.String("base_url", i.BaseURL)}
}

// LogStart writes the record that opens an upload in the JSON log.
func LogStart(l *slog.Logger, i RunInfo) {
	attrs := append(i.attrs(), slog.String("tool", i.Tool), slog.String("files_dir", i.FilesDir),
		slog.Bool("dry_run", i.DryRun))
	l.Info("start", attrs...)
}

// Final is how an upload ended, for the summary record.
type Final struct {
	ExitCode int
	// Err is what ended the run as a whole, if anything did.
	Err error
	// Docs are the documents followed by --wait; TimedOut when it gave up.
	Docs     []track.Doc
	TimedOut bool
}

// LogSummary writes the record that closes an upload in the JSON log: what
// a log collector needs to alert on, from the outcome table.
func LogSummary(l *slog.Logger, i RunInfo, s *upload.Summary, f Final) {
	outcomes := map[string]int{}
	var reasons []any
	for _, oc := range upload.Outcomes() {
		outcomes[oc.String()] = s.Count(oc)
		if oc.Spec().Detail == upload.DetailByReason {
			r := s.Reasons[oc]
			if r == nil {
				r = map[string]int{}
			}
			reasons = append(reasons, slog.Any(oc.String()+"_by_reason", r))
		}
	}
	_, bytes := s.Sent()
	stop := string(s.Stopped)
	if stop == "" {
		stop = "none"
	}
	if f.Err != nil && s.Stopped == upload.StopNone {
		stop = "error"
	}
	attrs := append(i.attrs(), slog.Int("found", s.Found), slog.Any("outcomes", outcomes))
	attrs = append(attrs, reasons...)
	attrs = append(attrs, slog.Int("failures", s.Failures()), slog.Int("not_attempted", s.Count(upload.NotAttempted)),
		slog.Int64("bytes", bytes), slog.Int64("duration_ms", s.Duration.Milliseconds()),
		slog.Any("upload_sessions", nonNil(s.Sessions)), slog.String("stop_reason", stop),
		slog.Bool("dry_run", s.DryRun), slog.Int64("throttled", s.Pacing.Throttled),
		slog.Int64("unavailable", s.Pacing.Unavailable), slog.Int64("waited_ms", s.Pacing.Waited.Milliseconds()),
		slog.Float64("learned_rate_per_min", s.Pacing.Rate*60))
	if f.Docs != nil {
		attrs = append(attrs, slog.Any("processing", track.Counts(f.Docs)),
			slog.Int("processing_failed", len(track.Failed(f.Docs))), slog.Bool("processing_timed_out", f.TimedOut))
	}
	if f.Err != nil {
		attrs = append(attrs, slog.String("error", f.Err.Error()))
	}
	attrs = append(attrs, slog.Int("exit_code", f.ExitCode))
	level := slog.LevelInfo
	if f.ExitCode != 0 {
		level = slog.LevelError
	}
	l.Log(context.Background(), level, "summary", attrs...)
}

// LogProgress writes a progress record (the JSON form of the SIGUSR1 line).
func LogProgress(l *slog.Logger, s Snapshot) {
	outcomes := map[string]int64{}
	for _, oc := range upload.Outcomes() {
		outcomes[oc.String()] = s.By[oc]
	}
	attrs := []any{slog.Int64("done", s.Done), slog.Int64("total", s.Total), slog.Bool("total_known", s.TotalKnown),
		slog.Int64("bytes_sent", s.Sent), slog.Any("outcomes", outcomes),
		slog.Float64("files_per_second", s.FilesPerSec), slog.Int64("elapsed_ms", s.Elapsed.Milliseconds())}
	if s.TotalKnown && s.WorkBytes > 0 {
		attrs = append(attrs, slog.Int64("bytes_total", s.WorkBytes))
	}
	if s.ETA > 0 {
		attrs = append(attrs, slog.Int64("eta_ms", s.ETA.Round(time.Second).Milliseconds()))
	}
	if p := paceText(s); p != "" {
		attrs = append(attrs, slog.String("pace", p))
	}
	l.Info("progress", attrs...)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// LogProcessing writes a record for each document whose processing failed,
// and one for a --wait that timed out.
func LogProcessing(l *slog.Logger, docs []track.Doc, timedOut bool) {
	for _, d := range track.Failed(docs) {
		l.Error("processing failed", slog.String("path", d.Path), slog.Int64("document_id", d.DocumentID),
			slog.String("status", d.Status), slog.String("status_detail", d.StatusDetail))
	}
	if timedOut {
		l.Warn("processing still in progress after --wait-timeout",
			slog.Int("documents", len(docs)-len(track.Final(docs))))
	}
}
