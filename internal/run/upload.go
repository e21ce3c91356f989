package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/output"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/report"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// UploadOptions configure an upload command.
type UploadOptions struct {
	Conn Conn
	// Upload holds what the uploader takes from the command line; the
	// service, state, pacer, progress and stop are set here.
	Upload    upload.Options
	Policy    pace.Policy
	RateLimit float64
	// ThrottleBudget and OutageBudget bound how long the run waits on a
	// throttling or unavailable service (see pace.Options).
	ThrottleBudget, OutageBudget time.Duration
	StateFile                    string

	Wait        bool
	WaitTimeout time.Duration
	Report      string
	// Tool names the tool and its version in the report.
	Tool string

	Quiet, Verbose, NoProgress, JSONLog bool
	ProgressInterval                    time.Duration

	// Stop is closed by a first interruption: no new upload starts. Grace
	// is how long uploads in flight then have before they are abandoned.
	Stop  <-chan struct{}
	Grace time.Duration
}

// Upload uploads a tree, and with Wait follows its processing. The error
// carries the exit code (see Code).
func Upload(ctx context.Context, o UploadOptions, streams Streams) error {
	startedAt := time.Now()
	var jsonLog *slog.Logger
	if o.JSONLog {
		level := slog.LevelInfo
		if o.Verbose {
			level = slog.LevelDebug
		}
		jsonLog = slog.New(slog.NewJSONHandler(streams.ErrOut, &slog.HandlerOptions{Level: level}))
	}
	var wrap func(http.RoundTripper) http.RoundTripper
	if o.Verbose {
		wrap = func(next http.RoundTripper) http.RoundTripper {
			return &output.HTTPLog{Next: next, W: streams.ErrOut, Log: jsonLog}
		}
	}
	pacer := pace.New(clock.Real{}, pace.Options{Policy: o.Policy, RateLimit: o.RateLimit,
		ThrottleBudget: o.ThrottleBudget, OutageBudget: o.OutageBudget})
	client, err := o.Conn.client(pacer, wrap)
	if err != nil {
		return err
	}
	baseURL := client.BaseURL()

	store, recorded, err := openState(o.StateFile, state.Header{BaseURL: baseURL, WorkspaceID: o.Upload.WorkspaceID,
		Source: o.Upload.Source}, o.Upload.DryRun)
	if err != nil {
		return err
	}

	display, closeDisplay := newDisplay(o, streams)
	// A dry run prints a line per file: buffered, or a tree of a million
	// files costs a million writes.
	lines := bufio.NewWriterSize(streams.Out, 64<<10)
	events := &output.Events{Progress: display, Out: lines, ErrOut: streams.ErrOut, DryRun: o.Upload.DryRun,
		Verbose: o.Verbose, Log: jsonLog, Keep: o.Report != "" || o.Wait}

	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-o.Stop:
			fmt.Fprintf(streams.ErrOut, "\nInterrupted: no new uploads; finishing those in flight (up to %s). Interrupt again to abandon them.\n", o.Grace)
		case <-finished:
		}
	}()
	uo := o.Upload
	uo.Service, uo.State, uo.Progress, uo.Stop = client, store, events, o.Stop
	if recorded != nil {
		uo.Recorded = recorded
	}
	uo.Pacer = pacer
	sum, runErr := upload.Run(ctx, uo)
	closeDisplay()
	_ = lines.Flush()
	if store != nil {
		if err := store.Close(); err != nil && runErr == nil {
			runErr = err
		}
	}

	// --wait: follow processing of this run's documents.
	var docs []track.Doc
	var waitErr error
	if o.Wait && runErr == nil && ctx.Err() == nil && sum.Stopped != upload.StopInterrupted {
		tr := newTrackRequest(o.Upload.WorkspaceID)
		for _, r := range events.Results() {
			if r.Outcome.Spec().Sends {
				tr.add(r.DocumentID, r.Rel, r.UploadSessionUUID)
			}
		}
		if len(tr.req.Paths) > 0 {
			docs, waitErr = waitProcessing(ctx, o, streams, client, tr.req, jsonLog != nil)
		}
	}

	if o.Quiet {
		output.WriteOneLine(streams.Out, sum)
		for _, r := range sum.Listed {
			if r.Outcome.Spec().Failure {
				fmt.Fprintf(streams.ErrOut, "failed: %s: %s\n", output.Text(r.Rel), output.Text(r.Reason))
			}
		}
	} else {
		output.WriteSummary(streams.Out, sum, output.SummaryOptions{StateFile: o.StateFile != ""})
	}
	timedOut := errors.Is(waitErr, track.ErrTimeout)
	if docs != nil || waitErr != nil {
		output.WriteProcessing(streams.Out, streams.ErrOut, o.Quiet, docs, timedOut)
	}
	processingFailed := len(track.Failed(docs)) > 0 || timedOut
	if jsonLog != nil {
		_, bytes := sum.Sent()
		attrs := []any{slog.Int("found", sum.Found)}
		for _, oc := range upload.Outcomes() {
			attrs = append(attrs, slog.Int(oc.String(), sum.Count(oc)))
		}
		attrs = append(attrs, slog.Int64("bytes", bytes), slog.Int64("duration_ms", sum.Duration.Milliseconds()),
			slog.Any("upload_sessions", sum.Sessions), slog.Bool("processing_failed", processingFailed))
		jsonLog.Info("summary", attrs...)
	}
	if o.Report != "" {
		rep := report.Build(report.Meta{Tool: o.Tool, BaseURL: baseURL, WorkspaceID: o.Upload.WorkspaceID,
			FilesDir: o.Upload.Root, StartedAt: startedAt}, sum, events.Results(), docs)
		if err := report.Write(o.Report, rep, o.Conn.Key); err != nil {
			return Exitf(ExitUsage, "--report: %w", err)
		}
	}
	switch {
	case errors.Is(runErr, upload.ErrDeleteRefused):
		return Exit(ExitUsage, runErr)
	case errors.Is(runErr, pace.ErrBudget), errors.Is(runErr, upload.ErrUnavailable):
		// The service was throttling or down for longer than allowed.
		return Exit(ExitFailures, runErr)
	case runErr != nil:
		// A rejected key, an unverifiable certificate, a base URL that
		// redirects, a state file that cannot be written: the run as a
		// whole could not go on. The summary above says how far it got.
		return Exit(ExitUsage, runErr)
	case sum.Stopped == upload.StopInterrupted || ctx.Err() != nil || errors.Is(waitErr, context.Canceled):
		return Exit(ExitInterrupted, nil)
	case sum.Failures() > 0:
		return Exit(ExitFailures, nil)
	case waitErr != nil && !timedOut:
		return Exitf(ExitProcessing, "--wait: %w", waitErr)
	case processingFailed:
		return Exit(ExitProcessing, nil)
	}
	return nil
}

// openState opens the state file for the run: locked for writing, or, for a
// dry run, read without lock as a snapshot (nil when it does not exist).
func openState(path string, hdr state.Header, dryRun bool) (*state.Store, upload.Recorded, error) {
	if path == "" {
		return nil, nil, nil
	}
	if !dryRun {
		store, err := state.Open(path, hdr, state.Options{})
		if err != nil {
			return nil, nil, Exit(ExitUsage, err)
		}
		return store, nil, nil
	}
	snap, err := state.Read(path)
	switch {
	case err == nil && !snap.Header.SameTarget(hdr):
		return nil, nil, Exit(ExitUsage, &state.MismatchError{Path: path, Have: snap.Header, Want: hdr})
	case err == nil:
		return nil, snap, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, nil
	}
	return nil, nil, Exit(ExitUsage, err)
}

// waitProcessing follows the processing of the documents this run uploaded.
func waitProcessing(ctx context.Context, o UploadOptions, streams Streams, client *api.Client, req track.Request, jsonLog bool) ([]track.Doc, error) {
	show := func([]track.Doc) {}
	closeShow := func() {}
	if !o.Quiet && !o.NoProgress && !jsonLog {
		if streams.ErrIsTTY {
			b := output.NewProcessingBar(streams.ErrOut, len(req.Paths))
			show, closeShow = b.Update, b.Close
		} else {
			last := time.Time{}
			show = func(docs []track.Doc) {
				if time.Since(last) >= o.ProgressInterval {
					last = time.Now()
					fmt.Fprintf(streams.ErrOut, "processing: %s\n", output.CountsLine(track.Counts(docs)))
				}
			}
		}
	}
	docs, err := track.Wait(ctx, client, req, track.WaitOptions{Timeout: o.WaitTimeout, Update: show})
	closeShow()
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return docs, fmt.Errorf("the API key was rejected (%s)", ae.Error())
	}
	return docs, err
}

// newDisplay picks the display: a bar on a terminal, plain periodic lines
// otherwise, nothing when asked for quiet, for a dry run (whose lines are
// the output), or with JSON logs (which own stderr).
func newDisplay(o UploadOptions, streams Streams) (upload.Progress, func()) {
	switch {
	case o.Quiet || o.NoProgress || o.Upload.DryRun || o.JSONLog:
		return upload.Nop{}, func() {}
	case streams.ErrIsTTY:
		b := output.NewBar(streams.ErrOut)
		return b, b.Close
	default:
		l := output.NewLines(streams.ErrOut, o.ProgressInterval)
		return l, l.Close
	}
}
