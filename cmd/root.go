package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/buildinfo"
	"github.com/paradigm-upload/paradigm-upload/internal/progress"
	"github.com/paradigm-upload/paradigm-upload/internal/report"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// DefaultBaseURL is the public Paradigm instance.
const DefaultBaseURL = "https://paradigm.lighton.ai"

// uploadOptions are the root command's settings, as flags bind them.
type uploadOptions struct {
	conn              connOptions
	FilesDir          string
	WorkspaceID       int64
	BatchSize         int64
	MaxFails          int64
	Tags              string
	StateFile         string
	IncludeExtensions string
	ExcludeExtensions string
	Parser            string
	MaxFileSize       string
	Retries           int64
	RateLimit         float64
	NoExternalID      bool
	Checksum          bool
	Shard             string
	Include           []string
	Exclude           []string
	MinSize           string
	NewerThan         string
	SkipHidden        bool
	FollowSymlinks    bool
	Quiet             bool
	Verbose           bool
	LogFormat         string
	NoProgress        bool
	DryRun            bool
	Report            string
	Wait              bool
	WaitTimeout       time.Duration

	// ProgressInterval is the period of plain progress lines.
	ProgressInterval time.Duration
}

// newUploadOptions returns the defaults of the script's flags and ours.
func newUploadOptions() *uploadOptions {
	return &uploadOptions{
		BatchSize: 10, MaxFails: 1, MaxFileSize: "100MB",
		Retries: int64(retry.Default().Retries), ProgressInterval: 5 * time.Second,
		LogFormat: "text", WaitTimeout: 30 * time.Minute,
	}
}

func newRootCmd(sig Signals, streams IOStreams) *cobra.Command {
	o := newUploadOptions()
	version, commit, date := buildinfo.Info()
	c := &cobra.Command{
		Version: fmt.Sprintf("%s (commit %s, built %s)", version, commit, date),
		Use:     "paradigm-upload --files-dir DIR --workspace-id ID [flags]",
		Short:   "Upload a directory tree of documents into a LightOn Paradigm workspace",
		Long: `paradigm-upload uploads every supported document under --files-dir (recursively)
into a Paradigm workspace through the V3 Files API, with concurrent uploads,
retries, and a state file that lets an interrupted run resume.

It takes the flags of Paradigm's batch_upload_v3.py. Every flag can also be
set with the environment variable PARADIGM_<FLAG> (PARADIGM_API_KEY,
PARADIGM_BASE_URL, PARADIGM_WORKSPACE_ID, PARADIGM_BATCH_SIZE, ...) or in a
config file (--config); a flag wins over the environment, which wins over the
config file.

` + exitCodesHelp,
		Example: `  export PARADIGM_API_KEY=...   # from your instance's /settings/api-key
  paradigm-upload --files-dir ./contracts --workspace-id 42
  paradigm-upload --files-dir ./docs --workspace-id 42 --batch-size 20 --tags 1,2 --state-file upload_state.json`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, _ []string) error {
			return uploadRun(c, o, sig, streams)
		},
	}
	c.SetOut(streams.Out)
	c.SetErr(streams.ErrOut)
	c.SetFlagErrorFunc(flagError)
	c.SetVersionTemplate("paradigm-upload {{.Version}}\n")
	o.bind(c.Flags())
	c.AddCommand(newDevserverCmd(sig, streams), newStatusCmd(sig, streams), newWorkspacesCmd(sig, streams),
		newConfigCmd(streams), newVersionCmd(streams))
	return c
}

// bind defines the upload flags on f.
func (o *uploadOptions) bind(f *pflag.FlagSet) {
	f.SortFlags = false
	o.conn.bind(f, true)
	f.StringVar(&o.FilesDir, "files-dir", "", "directory of files to upload, scanned recursively (required)")
	f.Var(intValue{&o.WorkspaceID}, "workspace-id", "workspace to store the documents in (required; see `paradigm-upload workspaces`)")
	f.Var(intValue{&o.BatchSize}, "batch-size", "number of concurrent uploads, 1 to 50")
	f.Var(intValue{&o.MaxFails}, "max-fails", "stop starting uploads after this many failures (at least 1)")
	f.StringVar(&o.Tags, "tags", "", "comma-separated tag ids to apply to every document")
	f.StringVar(&o.StateFile, "state-file", "", "file recording completed uploads, so a rerun resumes")
	f.StringVar(&o.IncludeExtensions, "include-extensions", "", "only upload these extensions or file names (e.g. pdf,docx,txt)")
	f.StringVar(&o.ExcludeExtensions, "exclude-extensions", "", "skip these extensions or file names (e.g. tmp,log,.DS_Store)")
	f.StringVar(&o.Parser, "parser", "", "ingestion pipeline to use (e.g. v2.2.1); automatic when empty")
	f.StringVar(&o.MaxFileSize, "max-file-size", o.MaxFileSize, "skip files larger than this (e.g. 25MB, 2GiB, 1048576)")
	f.StringArrayVar(&o.Include, "include", nil, "only files whose relative path matches this glob (repeatable; ** for any folders, e.g. 'contracts/**/*.pdf')")
	f.StringArrayVar(&o.Exclude, "exclude", nil, "skip files whose relative path matches this glob (repeatable; wins over --include)")
	f.StringVar(&o.MinSize, "min-size", "", "skip files smaller than this (e.g. 1KB)")
	f.StringVar(&o.NewerThan, "newer-than", "", "only files modified after this: a duration (24h, 7d) or a date (2026-11-01)")
	f.BoolVar(&o.SkipHidden, "skip-hidden", false, "skip files and folders whose name starts with a dot")
	f.BoolVar(&o.FollowSymlinks, "follow-symlinks", false, "follow symbolic links (loops are detected and skipped)")
	f.Var(intValue{&o.Retries}, "retries", "retries of an upload after a transient error (throttling, 5xx, dropped connection)")
	f.Var(floatValue{&o.RateLimit}, "rate-limit", "maximum requests per second across all workers (0: no limit)")
	f.BoolVar(&o.NoExternalID, "no-external-id", false, "do not send external_metadata (for instances that reject it); lost answers then cannot be reconciled")
	f.BoolVar(&o.Checksum, "checksum", false, "compare files with the state file by content (sha256), not size and modification time")
	f.StringVar(&o.Shard, "shard", "", "upload only shard K of N (K/N, K from 1; auto/N takes K from JOB_COMPLETION_INDEX), to split a tree across machines")
	f.BoolVar(&o.DryRun, "dry-run", false, "scan, filter and consult the state file; print what would be uploaded or skipped; send nothing")
	f.BoolVar(&o.Wait, "wait", false, "after uploading, follow processing until every document is embedded or failed (exit 3 if any failed)")
	f.DurationVar(&o.WaitTimeout, "wait-timeout", o.WaitTimeout, "longest time --wait follows processing")
	f.StringVar(&o.Report, "report", "", "write a JSON report of every file and the totals to this file")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only errors and a one-line summary")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "print a line per file and per HTTP request (never the key)")
	f.StringVar(&o.LogFormat, "log-format", o.LogFormat, "text, or json for structured log lines on stderr (log/slog)")
	f.BoolVar(&o.NoProgress, "no-progress", false, "do not show progress")
	f.DurationVar(&o.ProgressInterval, "progress-interval", o.ProgressInterval, "period of the plain progress lines printed when stderr is not a terminal")
}

// settings is the validated form of uploadOptions.
type settings struct {
	shard    scan.Shard
	filter   scan.Filter
	tags     []int64
	baseURL  string
	retries  int
	interval time.Duration
}

func (o *uploadOptions) validate(getenv func(string) string) (*settings, error) {
	s := &settings{interval: o.ProgressInterval}
	if o.FilesDir == "" {
		return nil, usageErrorf("--files-dir is required: the folder to upload")
	}
	if err := scan.CheckRoot(o.FilesDir); err != nil {
		return nil, usageErrorf("--files-dir: %v", err)
	}
	if o.WorkspaceID <= 0 {
		if o.WorkspaceID == 0 {
			return nil, usageErrorf("--workspace-id is required (list yours with: paradigm-upload workspaces)")
		}
		return nil, usageErrorf("--workspace-id must be a positive whole number (got %d)", o.WorkspaceID)
	}
	if o.BatchSize < 1 || o.BatchSize > 50 {
		return nil, usageErrorf("--batch-size must be between 1 and 50 (got %d)", o.BatchSize)
	}
	if o.MaxFails < 1 {
		return nil, usageErrorf("--max-fails must be at least 1 (got %d)", o.MaxFails)
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return nil, usageErrorf("--log-format must be text or json (got %q)", o.LogFormat)
	}
	if o.Quiet && o.Verbose {
		return nil, usageErrorf("--quiet and --verbose cannot be used together")
	}
	if o.WaitTimeout <= 0 {
		return nil, usageErrorf("--wait-timeout must be positive (got %s)", o.WaitTimeout)
	}
	if o.DryRun && o.Wait {
		return nil, usageErrorf("--dry-run and --wait cannot be used together: a dry run uploads nothing")
	}
	if o.ProgressInterval < 100*time.Millisecond {
		return nil, usageErrorf("--progress-interval must be at least 100ms (got %s)", o.ProgressInterval)
	}
	if o.Retries < 0 || o.Retries > 100 {
		return nil, usageErrorf("--retries must be between 0 and 100 (got %d)", o.Retries)
	}
	s.retries = int(o.Retries)
	for _, t := range strings.Split(o.Tags, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		id, err := strconv.ParseInt(t, 10, 64)
		if err != nil || id <= 0 {
			return nil, usageErrorf("--tags: %q is not a tag id (tag ids are positive whole numbers, e.g. --tags 1,2,3)", t)
		}
		s.tags = append(s.tags, id)
	}
	var err error
	if s.filter.Include, err = scan.ParseNameList(o.IncludeExtensions); err != nil {
		return nil, usageErrorf("--include-extensions: %v", err)
	}
	if s.filter.Exclude, err = scan.ParseNameList(o.ExcludeExtensions); err != nil {
		return nil, usageErrorf("--exclude-extensions: %v", err)
	}
	if s.filter.MaxSize, err = scan.ParseSize(o.MaxFileSize); err != nil {
		return nil, usageErrorf("--max-file-size: %v", err)
	}
	if o.MinSize != "" {
		if s.filter.MinSize, err = scan.ParseSize(o.MinSize); err != nil {
			return nil, usageErrorf("--min-size: %v", err)
		}
	}
	if s.filter.IncludeGlobs, err = scan.ParseGlobs(o.Include); err != nil {
		return nil, usageErrorf("--include: %v", err)
	}
	if s.filter.ExcludeGlobs, err = scan.ParseGlobs(o.Exclude); err != nil {
		return nil, usageErrorf("--exclude: %v", err)
	}
	if s.filter.NewerThan, err = scan.ParseNewerThan(o.NewerThan, time.Now()); err != nil {
		return nil, usageErrorf("--newer-than: %v", err)
	}
	s.filter.SkipHidden, s.filter.FollowSymlinks = o.SkipHidden, o.FollowSymlinks
	if s.shard, err = scan.ParseShard(o.Shard, getenv); err != nil {
		return nil, usageErrorf("--shard: %v", err)
	}
	return s, nil
}

func uploadRun(c *cobra.Command, o *uploadOptions, sig Signals, streams IOStreams) error {
	if err := o.conn.resolve(c, streams); err != nil {
		return err
	}
	s, err := o.validate(streams.Getenv)
	if err != nil {
		return err
	}
	startedAt := time.Now()
	var jsonLog *slog.Logger
	if o.LogFormat == "json" {
		level := slog.LevelInfo
		if o.Verbose {
			level = slog.LevelDebug
		}
		jsonLog = slog.New(slog.NewJSONHandler(streams.ErrOut, &slog.HandlerOptions{Level: level}))
	}
	var wrap func(http.RoundTripper) http.RoundTripper
	if o.Verbose {
		wrap = func(next http.RoundTripper) http.RoundTripper {
			return &logTransport{next: next, emit: httpLogger(streams.ErrOut, jsonLog)}
		}
	}
	client, err := o.conn.client(o.conn.BaseURL, int(o.BatchSize), streams, wrap)
	if err != nil {
		return err
	}
	s.baseURL = client.BaseURL()

	var store *state.Store
	var recorded upload.Recorded
	if o.StateFile != "" {
		hdr := state.Header{BaseURL: s.baseURL, WorkspaceID: o.WorkspaceID}
		if o.DryRun {
			// A dry run reads the state file without locking or writing it.
			snap, err := state.Read(o.StateFile)
			switch {
			case err == nil && !snap.Header.SameTarget(hdr):
				return withCode(ExitUsage, &state.MismatchError{Path: o.StateFile, Have: snap.Header, Want: hdr})
			case err == nil:
				recorded = snap
			case !errors.Is(err, os.ErrNotExist):
				return withCode(ExitUsage, err)
			}
		} else {
			store, err = state.Open(o.StateFile, hdr, state.Options{})
			if err != nil {
				return withCode(ExitUsage, err)
			}
		}
	}

	display, closeDisplay := newProgress(o, streams)
	// A dry run prints a line per file: buffered, or a tree of a million
	// files costs a million writes.
	lines := bufio.NewWriterSize(streams.Out, 64<<10)
	obs := &observer{Progress: display, out: lines, errOut: streams.ErrOut, dryRun: o.DryRun,
		verbose: o.Verbose, log: jsonLog, keep: o.Report != "" || o.Wait}

	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sig.Stop:
			fmt.Fprintf(streams.ErrOut, "\nInterrupted: no new uploads; finishing those in flight (up to %s). Interrupt again to abandon them.\n", sig.Grace)
		case <-finished:
		}
	}()
	pol := retry.Default()
	pol.Retries = s.retries
	opts := upload.Options{
		Root: o.FilesDir, Filter: s.filter, Shard: s.shard, WorkspaceID: o.WorkspaceID, Tags: s.tags, Parser: o.Parser,
		BatchSize: int(o.BatchSize), MaxFails: int(o.MaxFails), NoExternalID: o.NoExternalID,
		Checksum: o.Checksum, Retry: pol, RateLimit: o.RateLimit, Client: client, Progress: obs, Stop: sig.Stop,
		DryRun: o.DryRun, Recorded: recorded, State: store,
	}
	sum, runErr := upload.Run(sig.Ctx, opts)
	closeDisplay()
	_ = lines.Flush()
	if store != nil {
		if err := store.Close(); err != nil && runErr == nil {
			runErr = withCode(ExitUsage, err)
		}
	}
	if runErr != nil {
		// A rejected key, an unverifiable certificate, a state file that
		// cannot be written: the run as a whole could not go on.
		return withCode(ExitUsage, runErr)
	}

	// --wait: follow processing of this run's documents.
	var docs []track.Doc
	var waitErr error
	if o.Wait && sum.Uploaded > 0 && sig.Ctx.Err() == nil && sum.Stopped != upload.StopInterrupted {
		docs, waitErr = waitProcessing(sig, streams, o, client, obs.Results(), jsonLog)
	}

	if o.Quiet {
		writeOneLine(streams.Out, sum)
		for _, f := range sum.Failures {
			fmt.Fprintf(streams.ErrOut, "failed: %s: %s\n", f.Rel, f.Reason)
		}
	} else {
		sum.WriteSummary(streams.Out)
	}
	processingFailed := writeProcessing(streams, o.Quiet, docs, waitErr)
	if jsonLog != nil {
		jsonLog.Info("summary", slog.Int("found", sum.Found), slog.Int("uploaded", sum.Uploaded),
			slog.Int("skipped", sum.Skipped), slog.Int("failed", sum.Failed), slog.Int("already_done", sum.AlreadyDone),
			slog.Int64("bytes", sum.Bytes), slog.Int64("duration_ms", sum.Duration.Milliseconds()),
			slog.Any("upload_sessions", sum.Sessions), slog.Bool("processing_failed", processingFailed))
	}
	if o.Report != "" {
		v, _, _ := buildinfo.Info()
		rep := report.Build(report.Meta{Tool: "paradigm-upload " + v, BaseURL: s.baseURL, WorkspaceID: o.WorkspaceID,
			FilesDir: o.FilesDir, StartedAt: startedAt}, sum, obs.Results(), docs)
		if err := report.Write(o.Report, rep); err != nil {
			return withCode(ExitUsage, fmt.Errorf("--report: %w", err))
		}
	}
	switch {
	case sum.Stopped == upload.StopInterrupted || sig.Ctx.Err() != nil || errors.Is(waitErr, context.Canceled):
		return withCode(ExitInterrupted, errSilent)
	case sum.Failed > 0:
		return withCode(ExitFailures, errSilent)
	case waitErr != nil && !errors.Is(waitErr, track.ErrTimeout):
		return withCode(ExitProcessing, fmt.Errorf("--wait: %w", waitErr))
	case processingFailed:
		return withCode(ExitProcessing, errSilent)
	}
	return nil
}

// waitProcessing follows the processing of the documents this run uploaded.
func waitProcessing(sig Signals, streams IOStreams, o *uploadOptions, client *api.Client, results []upload.Result, jsonLog *slog.Logger) ([]track.Doc, error) {
	req := track.Request{WorkspaceID: o.WorkspaceID, Paths: map[int64]string{}}
	seen := map[string]bool{}
	for _, r := range results {
		if r.Outcome != upload.Uploaded || r.DocumentID == 0 {
			continue
		}
		req.Paths[r.DocumentID] = r.Rel
		if s := r.UploadSessionUUID; s != "" && !seen[s] {
			seen[s] = true
			req.Sessions = append(req.Sessions, s)
		}
	}
	show := func([]track.Doc) {}
	closeShow := func() {}
	if !o.Quiet && !o.NoProgress && jsonLog == nil {
		if streams.ErrIsTTY {
			b := progress.NewProcessingBar(streams.ErrOut, len(req.Paths))
			show, closeShow = b.Update, b.Close
		} else {
			last := time.Time{}
			show = func(docs []track.Doc) {
				if time.Since(last) >= o.ProgressInterval {
					last = time.Now()
					fmt.Fprintf(streams.ErrOut, "processing: %s\n", progress.CountsLine(track.Counts(docs)))
				}
			}
		}
	}
	docs, err := track.Wait(sig.Ctx, client, req, track.WaitOptions{Timeout: o.WaitTimeout, Update: show})
	closeShow()
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return docs, fmt.Errorf("the API key was rejected (%s)", ae.Error())
	}
	return docs, err
}

// writeProcessing prints the outcome of --wait and reports whether any
// document failed processing (or was still processing at the timeout).
func writeProcessing(streams IOStreams, quiet bool, docs []track.Doc, waitErr error) bool {
	if docs == nil && waitErr == nil {
		return false
	}
	failed := false
	if !quiet {
		fmt.Fprintf(streams.Out, "Processing:   %s\n", progress.CountsLine(track.Counts(docs)))
	}
	for _, d := range docs {
		if track.IsFailed(d.Status) || d.Status == "missing" {
			failed = true
			fmt.Fprintf(streams.ErrOut, "processing failed: %s (document %d): %s: %s\n", d.Path, d.DocumentID, d.Status, d.StatusDetail)
		}
	}
	if errors.Is(waitErr, track.ErrTimeout) {
		pending := 0
		for _, d := range docs {
			if !track.IsFinal(d.Status) {
				pending++
			}
		}
		fmt.Fprintf(streams.ErrOut, "processing: %d document%s still in progress after --wait-timeout\n", pending, plural(pending))
		failed = true
	}
	return failed
}

// httpLogger prints one line per HTTP exchange, or a JSON record.
func httpLogger(w io.Writer, jsonLog *slog.Logger) func(string, string, int, time.Duration, error) {
	var mu sync.Mutex
	return func(method, target string, status int, d time.Duration, err error) {
		if jsonLog != nil {
			attrs := []any{slog.String("method", method), slog.String("target", target), slog.Int("status", status),
				slog.Int64("duration_ms", d.Milliseconds())}
			if err != nil {
				attrs = append(attrs, slog.String("error", oneLine(err.Error())))
			}
			jsonLog.Debug("http", attrs...)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			fmt.Fprintf(w, "http %s %s: %s (%s)\n", method, target, oneLine(err.Error()), d.Round(time.Millisecond))
			return
		}
		fmt.Fprintf(w, "http %s %s: %d (%s)\n", method, target, status, d.Round(time.Millisecond))
	}
}

func writeOneLine(w io.Writer, s *upload.Summary) {
	fmt.Fprintf(w, "paradigm-upload: uploaded %d, skipped %d, failed %d, already done %d (%s in %s)\n",
		s.Uploaded, s.Skipped, s.Failed, s.AlreadyDone, scan.FormatSize(s.Bytes), s.Duration.Round(time.Millisecond))
}

// newProgress picks the display: a bar on a terminal, plain periodic lines
// otherwise, nothing when asked for quiet, for a dry run (whose lines are
// the output), or with JSON logs (which own stderr).
func newProgress(o *uploadOptions, streams IOStreams) (upload.Progress, func()) {
	switch {
	case o.Quiet || o.NoProgress || o.DryRun || o.LogFormat == "json":
		return upload.Nop{}, func() {}
	case streams.ErrIsTTY:
		b := progress.NewBar(streams.ErrOut)
		return b, b.Close
	default:
		l := progress.NewLines(streams.ErrOut, o.ProgressInterval)
		return l, l.Close
	}
}
