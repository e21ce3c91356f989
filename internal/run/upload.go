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
	Upload upload.Options
	// Pace is the pacer's policy, ceiling and budgets, as the flags set
	// them; the pacer built from it is the run's one clock.
	Pace      pace.Options
	StateFile string
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
// carries the exit code (see Code). It runs in three phases: prepare (the
// client, the pacer, the local checks, the state file that exists, the
// preflight started), execute (the uploader, which starts its first upload
// once the preflight said yes) and finish (the state closed, --wait, the
// summary, the report, the exit code).
func Upload(ctx context.Context, o UploadOptions, streams *iostreams.IOStreams) error {
	j, err := prepare(ctx, o, streams)
	if err != nil {
		return err
	}
	stopRelay := j.relaySignals()
	defer stopRelay()
	sum, runErr, setupErr := j.execute(ctx)
	if setupErr != nil {
		// The setup is wrong (or the run was interrupted before anything
		// was sent): its one line, nothing else.
		return setupErr
	}
	return j.finish(ctx, sum, runErr)
}

// job is one upload command between its phases.
type job struct {
	o         UploadOptions
	streams   *iostreams.IOStreams
	startedAt time.Time
	jsonLog   *slog.Logger
	// errOut is stderr, or the live display while it is up (everything
	// written to stderr then goes above the live line).
	errOut  *switchWriter
	notices output.Notices
	pacer   *pace.Pacer
	svc     *retry.Service
	baseURL string
	info    output.RunInfo

	hdr      state.Header
	existed  bool
	store    *state.Store
	snapshot *state.Snapshot // a dry run's state file, read without lock
	// pre carries the preflight's verdict; nil when none runs.
	pre chan error

	meter  *output.Meter
	events *output.Events
	lines  *bufio.Writer
	// infoLine is what SIGUSR1 prints: the upload's progress, then --wait's.
	infoLine     atomic.Pointer[func()]
	closeDisplay func()
}

// prepare builds what the run needs and starts the preflight; nothing is
// sent to the service but the preflight's reads.
func prepare(ctx context.Context, o UploadOptions, streams *iostreams.IOStreams) (*job, error) {
	pacer := pace.New(clock.Real{}, o.Pace)
	j := &job{o: o, streams: streams, pacer: pacer, startedAt: pacer.Clock().Now(),
		errOut: &switchWriter{w: streams.ErrOut}, closeDisplay: func() {}}
	if o.JSONLog {
		j.jsonLog = output.NewJSONLog(streams.ErrOut, o.Verbose)
	}
	j.notices = output.Notices{W: j.errOut, Log: j.jsonLog}
	var wrap func(http.RoundTripper) http.RoundTripper
	var onRetry func(retry.Retry)
	if o.Verbose {
		// --verbose shows each exchange (every 429 too) and each retry.
		wrap = func(next http.RoundTripper) http.RoundTripper {
			return &output.HTTPLog{Next: next, W: j.errOut, Log: j.jsonLog}
		}
		onRetry = func(rt retry.Retry) { output.LogRetry(j.errOut, j.jsonLog, rt.Op, rt.Try, rt.Err, rt.Wait) }
	}
	client, err := o.Conn.client(pacer, wrap)
	if err != nil {
		return nil, err
	}
	// Every request of the run is tried under one policy (internal/retry).
	retrier := retry.New(pacer, retry.Options{OnRetry: onRetry})
	j.svc = retry.Wrap(client, retrier)
	j.baseURL = client.BaseURL()
	if err := checkLocal(ctx, o); err != nil {
		return nil, err
	}
	// A state file that exists is opened before the preflight (a damaged
	// one, or one of another workspace, is found without a request); a new
	// one only after it, so that a run refused by the preflight leaves
	// none behind.
	j.hdr = state.Header{BaseURL: j.baseURL, WorkspaceID: o.Upload.WorkspaceID, Source: o.Upload.Source}
	_, statErr := os.Stat(o.StateFile)
	j.existed = o.StateFile != "" && statErr == nil
	if j.existed || o.Upload.DryRun {
		if j.store, j.snapshot, err = openState(o.StateFile, j.hdr, o.Upload.DryRun); err != nil {
			return nil, err
		}
	}
	// A dry run sends nothing — but the listing it needs when no state file
	// says what the service has: then the setup is checked first, too.
	lists := !o.Upload.NoExternalID && (j.snapshot == nil || j.snapshot.Len() == 0 || o.Upload.Reconcile)
	if !o.Upload.DryRun || lists {
		j.pre = j.startPreflight(ctx, client, retrier)
	}
	j.info = output.RunInfo{Tool: o.Tool, BaseURL: j.baseURL, WorkspaceID: o.Upload.WorkspaceID, FilesDir: o.Upload.Root,
		DryRun: o.Upload.DryRun}
	j.meter = output.NewMeter()
	j.meter.Pacing(pacer.Status)
	// A dry run prints a line per file: buffered, or a tree of a million
	// files costs a million writes.
	j.lines = bufio.NewWriterSize(streams.Out, 64<<10)
	j.events = &output.Events{Progress: j.meter, Out: j.lines, ErrOut: j.errOut, DryRun: o.Upload.DryRun,
		Verbose: o.Verbose, Log: j.jsonLog, Keep: o.Report != "" || o.Wait}
	uploadInfo := func() {
		if j.jsonLog != nil {
			output.LogProgress(j.jsonLog, j.meter.Snapshot())
			return
		}
		fmt.Fprintln(j.errOut, output.PlainLine(j.meter.Snapshot()))
	}
	j.infoLine.Store(&uploadInfo)
	return j, nil
}

// startPreflight runs the preflight beside the uploader's first reads
// (what the service holds): the first upload waits for both, not for one
// then the other. Trouble is ridden out for as long as an outage would be
// in the run, up to preflightTimeout; a first interruption ends it
// (nothing has started).
func (j *job) startPreflight(ctx context.Context, client *api.Client, retrier *retry.Retrier) chan error {
	pre := make(chan error, 1)
	pctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-j.o.Stop:
			cancel()
		case <-pctx.Done():
		}
	}()
	notify := func(msg string) { j.notices.Warn(msg) }
	if j.o.Quiet {
		notify = nil
	}
	window := preflightTimeout
	if b := j.o.Pace.OutageBudget; b > 0 {
		window = min(window, b)
	}
	go func() {
		defer cancel()
		err := preflight(pctx, client, retrier, j.o.Upload.WorkspaceID, window, notify)
		if err == nil {
			err = checkTags(pctx, client, retrier, j.o.Upload.Tags, window)
		}
		pre <- err
	}()
	return pre
}

// relaySignals says what an interruption does and answers SIGUSR1 until
// the returned function is called.
func (j *job) relaySignals() (stop func()) {
	finished := make(chan struct{})
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		defer done.Done()
		stop := j.o.Stop
		for {
			select {
			case <-stop:
				stop = nil
				j.notices.Notice(fmt.Sprintf("Interrupted: no new uploads; finishing those in flight (up to %s). Interrupt again to abandon them.", j.o.Grace))
			case msg := <-j.o.Abandon:
				j.notices.Notice(msg)
			case <-j.o.Info:
				(*j.infoLine.Load())()
			case <-finished:
				return
			}
		}
	}()
	return func() {
		close(finished)
		done.Wait()
	}
}

// execute runs the uploader. setupErr is the preflight's refusal (or a new
// state file that could not be made): the run sent no upload.
func (j *job) execute(ctx context.Context) (sum *upload.Summary, runErr, setupErr error) {
	uo := j.o.Upload
	uo.Service, uo.Progress, uo.Stop = j.svc, j.events, j.o.Stop
	// One handle on the state file: the store, or a dry run's snapshot (an
	// interface holds no nil pointer).
	switch {
	case j.store != nil:
		uo.State = j.store
	case j.snapshot != nil:
		uo.State = j.snapshot
	}
	// Ready is called by the uploader once it knows what the service
	// holds, before its first upload: the preflight's verdict, then the
	// new state file, the start record and the display.
	uo.Ready = func(rctx context.Context) (*state.Store, error) {
		if j.pre != nil {
			select {
			case setupErr = <-j.pre:
			case <-rctx.Done():
				return nil, rctx.Err()
			}
			if setupErr != nil {
				return nil, setupErr
			}
		}
		var opened *state.Store
		if j.store == nil && !j.existed && !j.o.Upload.DryRun && j.o.StateFile != "" {
			s, _, err := openState(j.o.StateFile, j.hdr, false)
			if err != nil {
				setupErr = err
				return nil, err
			}
			j.store, opened = s, s
		}
		if j.jsonLog != nil {
			output.LogStart(j.jsonLog, j.info)
		}
		display, closeD := newDisplay(j.o, j.streams, j.meter)
		j.errOut.set(display)
		j.closeDisplay = closeD
		return opened, nil
	}
	sum, runErr = upload.Run(ctx, uo)
	if setupErr != nil && j.store != nil {
		_ = j.store.Close()
	}
	return sum, runErr, setupErr
}

// finish closes the state, follows processing with --wait, prints the
// summary, writes the report and returns the exit.
func (j *job) finish(ctx context.Context, sum *upload.Summary, runErr error) error {
	o := j.o
	sum.Pacing = j.pacer.Status()
	j.closeDisplay()
	j.errOut.set(j.streams.ErrOut)
	_ = j.lines.Flush()
	if j.store != nil {
		runErr = closeState(j.store, runErr, j.notices)
	}
	countUnreached(sum, j.meter.Snapshot())

	var docs []track.Doc
	var waitErr error
	if o.Wait && runErr == nil && ctx.Err() == nil && sum.Stopped != upload.StopInterrupted {
		docs, waitErr = j.wait(ctx)
	}
	timedOut := errors.Is(waitErr, track.ErrTimeout)

	summaryOpts := output.SummaryOptions{StateFile: o.StateFile != "", Report: o.Report}
	switch {
	case j.jsonLog != nil:
		output.LogProcessing(j.jsonLog, docs, timedOut)
	case o.Quiet: // one line, below, once the exit code is known
	default:
		output.WriteSummary(j.streams.Out, sum, summaryOpts)
		if docs != nil || waitErr != nil {
			output.WriteProcessing(j.streams.Out, j.streams.ErrOut, docs, timedOut, summaryOpts)
		}
	}
	exit := j.writeReport(sum, docs, runErr)
	if exit == nil {
		exit = exitFor(ending{runErr: runErr, sum: sum, interrupted: ctx.Err() != nil, waitErr: waitErr,
			timedOut: timedOut, processingFailed: len(track.Failed(docs)) > 0 || timedOut})
	}
	switch {
	case o.Quiet && j.jsonLog == nil:
		// Cron mails whatever is printed: nothing when all went well,
		// else one line on stderr that says what went wrong — the error
		// that ended the run included, not on a line of its own.
		if exit == nil {
			return nil
		}
		output.WriteOneLine(j.streams.ErrOut, sum, output.OneLineOptions{SummaryOptions: summaryOpts, Docs: docs,
			TimedOut: timedOut, Err: exitErr(exit)})
		return Exit(Code(exit), nil)
	case j.jsonLog != nil:
		final := output.Final{Docs: docs, TimedOut: timedOut, ExitCode: Code(exit), Err: exitErr(exit)}
		output.LogSummary(j.jsonLog, j.info, sum, final)
		if exit != nil {
			// The summary record carries the error and the exit code.
			return Exit(final.ExitCode, nil)
		}
	}
	return exit
}

// exitErr is the error an exit carries to print (nil for none).
func exitErr(exit error) error {
	var ee *ExitError
	if errors.As(exit, &ee) {
		return ee.Err
	}
	return nil
}

// wait follows the processing of the documents this run sent. A first
// interruption ends it at once: nothing is in flight that would need
// finishing.
func (j *job) wait(ctx context.Context) ([]track.Doc, error) {
	tr := newTrackRequest(j.o.Upload.WorkspaceID)
	for _, r := range j.events.Results() {
		if r.Outcome.Spec().Sends {
			tr.add(r.DocumentID, r.Rel, r.UploadSessionUUID)
		}
	}
	if len(tr.req.Paths) == 0 {
		return nil, nil
	}
	wctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-j.o.Stop:
			cancel()
		case <-wctx.Done():
		}
	}()
	docs, err := waitProcessing(wctx, j.o, j.streams, j.svc, tr.req, j.jsonLog, &j.infoLine)
	cancel()
	<-stopped
	return docs, err
}

// writeReport writes --report; its error, when it fails, is the exit (exit
// 2), with what stopped the run, if anything, not lost: a full disk takes
// both files.
func (j *job) writeReport(sum *upload.Summary, docs []track.Doc, runErr error) error {
	if j.o.Report == "" {
		return nil
	}
	rep := report.Build(report.Meta{Tool: j.o.Tool, BaseURL: j.baseURL, WorkspaceID: j.o.Upload.WorkspaceID,
		FilesDir: j.o.Upload.Root, StartedAt: j.startedAt}, sum, j.events.Results(), docs)
	err := report.Write(j.o.Report, rep, j.o.Conn.Key)
	switch {
	case err == nil:
		return nil
	case runErr != nil:
		return Exitf(ExitUsage, "%w; and --report: %w", runErr, err)
	}
	return Exitf(ExitUsage, "--report: %w", err)
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
func openState(path string, hdr state.Header, dryRun bool) (*state.Store, *state.Snapshot, error) {
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
