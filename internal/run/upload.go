package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock"
	"github.com/paradigm-upload/paradigm-upload/internal/iostreams"
	"github.com/paradigm-upload/paradigm-upload/internal/output"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/report"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
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
	// AllowEmpty accepts a --files-dir that holds no file at all.
	AllowEmpty bool

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
	// Abandon carries the notice that the uploads in flight are being
	// abandoned (a second interruption, or the grace period over).
	Abandon <-chan string
	// Info asks for one progress line (SIGUSR1, SIGINFO).
	Info <-chan struct{}
}

// Upload uploads a tree, and with Wait follows its processing. The error
// carries the exit code (see Code).
func Upload(ctx context.Context, o UploadOptions, streams *iostreams.IOStreams) error {
	startedAt := time.Now()
	var jsonLog *slog.Logger
	if o.JSONLog {
		jsonLog = output.NewJSONLog(streams.ErrOut, o.Verbose)
	}
	// Everything written to stderr while a live line is shown goes above
	// it; errOut follows whichever display is up.
	errOut := &switchWriter{w: streams.ErrOut}
	var wrap func(http.RoundTripper) http.RoundTripper
	if o.Verbose {
		wrap = func(next http.RoundTripper) http.RoundTripper {
			return &output.HTTPLog{Next: next, W: errOut, Log: jsonLog}
		}
	}
	pacer := pace.New(clock.Real{}, pace.Options{Policy: o.Policy, RateLimit: o.RateLimit,
		ThrottleBudget: o.ThrottleBudget, OutageBudget: o.OutageBudget})
	client, err := o.Conn.client(pacer, wrap)
	if err != nil {
		return err
	}
	// Every request of the run is tried under one policy (internal/retry);
	// --verbose shows each retry.
	var onRetry func(retry.Retry)
	if o.Verbose {
		onRetry = func(rt retry.Retry) { output.LogRetry(errOut, jsonLog, rt.Op, rt.Try, rt.Err, rt.Wait) }
	}
	retrier := retry.New(pacer, retry.Options{OnRetry: onRetry})
	svc := retry.Wrap(client, retrier)
	baseURL := client.BaseURL()
	if err := checkLocal(ctx, o); err != nil {
		return err
	}
	// A state file that exists is opened before the preflight (a damaged
	// one, or one of another workspace, is found without a request); a new
	// one only after it, so that a run refused by the preflight leaves
	// none behind.
	hdr := state.Header{BaseURL: baseURL, WorkspaceID: o.Upload.WorkspaceID, Source: o.Upload.Source}
	var store *state.Store
	var recorded upload.Recorded
	_, statErr := os.Stat(o.StateFile)
	existed := o.StateFile != "" && statErr == nil
	if existed || o.Upload.DryRun {
		if store, recorded, err = openState(o.StateFile, hdr, o.Upload.DryRun); err != nil {
			return err
		}
	}
	// A dry run sends nothing — but the listing it needs when no state file
	// says what the service has: then the setup is checked first, too. The
	// preflight runs beside the uploader's first reads (what the service
	// holds): the first upload waits for both, not for one then the other.
	lists := !o.Upload.NoExternalID && (recorded == nil || recorded.Len() == 0 || o.Upload.Reconcile)
	var pre chan error
	if !o.Upload.DryRun || lists {
		pre = make(chan error, 1)
		// A first interruption during the preflight ends it: nothing has
		// started.
		pctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-o.Stop:
				cancel()
			case <-pctx.Done():
			}
		}()
		notify := func(msg string) { output.Notices{W: errOut, Log: jsonLog}.Warn(msg) }
		if o.Quiet {
			notify = nil
		}
		// Trouble is ridden out for as long as an outage would be in the
		// run, up to preflightTimeout.
		window := preflightTimeout
		if o.OutageBudget > 0 {
			window = min(window, o.OutageBudget)
		}
		go func() {
			defer cancel()
			err := preflight(pctx, client, retrier, o.Upload.WorkspaceID, window, notify)
			if err == nil {
				err = checkTags(pctx, client, retrier, o.Upload.Tags, window)
			}
			pre <- err
		}()
	}
	info := output.RunInfo{Tool: o.Tool, BaseURL: baseURL, WorkspaceID: o.Upload.WorkspaceID, FilesDir: o.Upload.Root,
		DryRun: o.Upload.DryRun}

	meter := output.NewMeter()
	meter.Pacing(pacer.Status)
	closeDisplay := func() {}
	notices := output.Notices{W: errOut, Log: jsonLog}
	// A dry run prints a line per file: buffered, or a tree of a million
	// files costs a million writes.
	lines := bufio.NewWriterSize(streams.Out, 64<<10)
	events := &output.Events{Progress: meter, Out: lines, ErrOut: errOut, DryRun: o.Upload.DryRun,
		Verbose: o.Verbose, Log: jsonLog, Keep: o.Report != "" || o.Wait}

	// What SIGUSR1 prints: the upload's progress, then --wait's.
	var infoLine atomic.Pointer[func()]
	uploadInfo := func() {
		if jsonLog != nil {
			output.LogProgress(jsonLog, meter.Snapshot())
			return
		}
		fmt.Fprintln(errOut, output.PlainLine(meter.Snapshot()))
	}
	infoLine.Store(&uploadInfo)
	finished := make(chan struct{})
	var signalsDone sync.WaitGroup
	signalsDone.Add(1)
	go func() {
		defer signalsDone.Done()
		stop := o.Stop
		for {
			select {
			case <-stop:
				stop = nil
				notices.Notice(fmt.Sprintf("Interrupted: no new uploads; finishing those in flight (up to %s). Interrupt again to abandon them.", o.Grace))
			case msg := <-o.Abandon:
				notices.Notice(msg)
			case <-o.Info:
				(*infoLine.Load())()
			case <-finished:
				return
			}
		}
	}()
	defer func() {
		close(finished)
		signalsDone.Wait()
	}()

	uo := o.Upload
	uo.Service, uo.State, uo.Progress, uo.Stop = svc, store, events, o.Stop
	if recorded != nil {
		uo.Recorded = recorded
	}
	// Ready is called by the uploader once it knows what the service
	// holds, before its first upload: the preflight's verdict, then the
	// new state file, the start record and the display.
	var preErr error
	uo.Ready = func(rctx context.Context) (*state.Store, error) {
		if pre != nil {
			select {
			case preErr = <-pre:
			case <-rctx.Done():
				return nil, rctx.Err()
			}
			if preErr != nil {
				return nil, preErr
			}
		}
		var opened *state.Store
		if store == nil && !existed && !o.Upload.DryRun && o.StateFile != "" {
			s, _, err := openState(o.StateFile, hdr, false)
			if err != nil {
				preErr = err
				return nil, err
			}
			store, opened = s, s
		}
		if jsonLog != nil {
			output.LogStart(jsonLog, info)
		}
		display, closeD := newDisplay(o, streams, meter)
		errOut.set(display)
		closeDisplay = closeD
		return opened, nil
	}
	sum, runErr := upload.Run(ctx, uo)
	if preErr != nil {
		// The setup is wrong (or the run was interrupted before anything
		// was sent): its one line, nothing else.
		if store != nil {
			_ = store.Close()
		}
		return preErr
	}
	ps := pacer.Status()
	sum.Pacing = ps
	closeDisplay()
	errOut.set(streams.ErrOut)
	_ = lines.Flush()
	if store != nil {
		runErr = closeState(store, runErr, notices)
	}
	countUnreached(sum, meter.Snapshot())
	var final output.Final

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
			// A first interruption ends the wait at once: nothing is in
			// flight that would need finishing.
			wctx, cancel := context.WithCancel(ctx)
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				select {
				case <-o.Stop:
					cancel()
				case <-wctx.Done():
				}
			}()
			docs, waitErr = waitProcessing(wctx, o, streams, svc, tr.req, jsonLog, &infoLine)
			cancel()
			<-stopped
		}
	}
	timedOut := errors.Is(waitErr, track.ErrTimeout)
	final.Docs, final.TimedOut = docs, timedOut

	summaryOpts := output.SummaryOptions{StateFile: o.StateFile != "", Report: o.Report}
	switch {
	case jsonLog != nil:
		output.LogProcessing(jsonLog, docs, timedOut)
	case o.Quiet: // one line, below, once the exit code is known
	default:
		output.WriteSummary(streams.Out, sum, summaryOpts)
		if docs != nil || waitErr != nil {
			output.WriteProcessing(streams.Out, streams.ErrOut, docs, timedOut)
		}
	}
	processingFailed := len(track.Failed(docs)) > 0 || timedOut
	var err2 error
	if o.Report != "" {
		rep := report.Build(report.Meta{Tool: o.Tool, BaseURL: baseURL, WorkspaceID: o.Upload.WorkspaceID,
			FilesDir: o.Upload.Root, StartedAt: startedAt}, sum, events.Results(), docs)
		if err := report.Write(o.Report, rep, o.Conn.Key); err != nil {
			err2 = Exitf(ExitUsage, "--report: %w", err)
			if runErr != nil {
				// What stopped the run (the summary's last line points
				// at it) is not lost: a full disk takes both files.
				err2 = Exitf(ExitUsage, "%w; and --report: %w", runErr, err)
			}
		}
	}
	if err2 == nil {
		err2 = exitFor(ending{runErr: runErr, sum: sum, interrupted: ctx.Err() != nil, waitErr: waitErr,
			timedOut: timedOut, processingFailed: processingFailed})
	}
	if o.Quiet && jsonLog == nil {
		// Cron mails whatever is printed: nothing when all went well,
		// else one line on stderr that says what went wrong — the error
		// that ended the run included, not on a line of its own.
		if err2 == nil {
			return nil
		}
		line := output.OneLineOptions{SummaryOptions: summaryOpts, Docs: docs, TimedOut: timedOut}
		var ee *ExitError
		if errors.As(err2, &ee) {
			line.Err = ee.Err
		}
		output.WriteOneLine(streams.ErrOut, sum, line)
		return Exit(Code(err2), nil)
	}
	if jsonLog != nil {
		final.ExitCode = Code(err2)
		var ee *ExitError
		if errors.As(err2, &ee) {
			final.Err = ee.Err
		}
		output.LogSummary(jsonLog, info, sum, final)
		if err2 != nil {
			// The summary record carries the error and the exit code.
			return Exit(final.ExitCode, nil)
		}
	}
	return err2
}

// countUnreached counts, in the summary, the files of the tree that a run
// stopped early never reached (the scan stopped before them too): the
// count walk found them, and they end as not attempted like those it
// drained from its queue. Found is then the tree, and every figure —
// summary, one line, report, JSON — counts each file once.
func countUnreached(sum *upload.Summary, s output.Snapshot) {
	if sum.Stopped == upload.StopNone {
		return
	}
	for n := s.Total - int64(sum.Found); n > 0; n-- {
		sum.Add(upload.Result{Outcome: upload.NotAttempted})
	}
}

// switchWriter writes to the writer of the moment: the live display while
// it is up, stderr itself before and after.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

// openState opens the state file for the run: locked for writing, or, for a
// dry run, read without lock as a snapshot (nil when it does not exist).
func openState(path string, hdr state.Header, dryRun bool) (*state.Store, upload.Recorded, error) {
	if path == "" {
		return nil, nil, nil
	}
	// The external id a path implies, so that the state keeps a bit for it.
	implied := func(p string) string { return upload.ExternalID(hdr.Source, p) }
	if !dryRun {
		store, err := state.Open(path, hdr, state.Options{ExternalID: implied})
		if err != nil {
			return nil, nil, Exit(ExitUsage, stateFileError(err))
		}
		return store, nil, nil
	}
	snap, err := state.Read(path, implied)
	switch {
	case err == nil && !snap.Header.SameTarget(hdr):
		return nil, nil, Exit(ExitUsage, &state.MismatchError{Path: path, Have: snap.Header, Want: hdr})
	case err == nil:
		return nil, snap, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, nil
	}
	return nil, nil, Exit(ExitUsage, stateFileError(err))
}

// stateFileError names the flag in an error of the state file, unless the
// message already does.
func stateFileError(err error) error {
	if strings.Contains(err.Error(), "--state-file") {
		return err
	}
	return fmt.Errorf("--state-file: %w", err)
}

// waitProcessing follows the processing of the documents this run uploaded.
func waitProcessing(ctx context.Context, o UploadOptions, streams *iostreams.IOStreams, client track.Service, req track.Request,
	jsonLog *slog.Logger, infoLine *atomic.Pointer[func()]) ([]track.Doc, error) {
	var mu sync.Mutex
	var latest []track.Doc
	show := func([]track.Doc) {}
	closeShow := func() {}
	errOut := streams.ErrOut
	if !o.Quiet && !o.NoProgress && jsonLog == nil {
		if streams.ErrIsTTY {
			b := output.NewProcessingBar(streams.ErrOut, len(req.Paths), streams.Width)
			show, closeShow, errOut = b.Update, b.Close, b
		} else {
			last := time.Time{}
			show = func(docs []track.Doc) {
				if time.Since(last) >= o.ProgressInterval {
					last = time.Now()
					fmt.Fprintln(streams.ErrOut, output.ProcessingLine(len(track.Final(docs)), len(req.Paths), track.Counts(docs)))
				}
			}
		}
	}
	waitInfo := func() {
		mu.Lock()
		docs := latest
		mu.Unlock()
		if jsonLog != nil {
			jsonLog.Info("processing", slog.Any("counts", track.Counts(docs)), slog.Int("documents", len(req.Paths)))
			return
		}
		fmt.Fprintln(errOut, output.ProcessingLine(len(track.Final(docs)), len(req.Paths), track.Counts(docs)))
	}
	infoLine.Store(&waitInfo)
	update := func(docs []track.Doc) {
		mu.Lock()
		latest = docs
		mu.Unlock()
		show(docs)
	}
	docs, err := track.Wait(ctx, client, req, track.WaitOptions{Timeout: o.WaitTimeout, Update: update})
	closeShow()
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return docs, fmt.Errorf("the API key was rejected (%s)", ae.Error())
	}
	return docs, err
}

// newDisplay picks the display: a live line on a terminal, plain periodic
// lines otherwise, nothing when asked for quiet, for a dry run (whose lines
// are the output), or with JSON logs (which own stderr). It returns the
// writer for anything else printed on stderr while it is up.
func newDisplay(o UploadOptions, streams *iostreams.IOStreams, m *output.Meter) (io.Writer, func()) {
	switch {
	case o.Quiet || o.NoProgress || o.Upload.DryRun || o.JSONLog:
		return streams.ErrOut, func() {}
	case streams.ErrIsTTY:
		b := output.NewBar(streams.ErrOut, m, streams.Width)
		return b, b.Close
	default:
		l := output.NewLines(streams.ErrOut, m, o.ProgressInterval)
		return streams.ErrOut, l.Close
	}
}
