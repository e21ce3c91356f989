package cmd

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/paradigm-upload/paradigm-upload/internal/buildinfo"
	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/run"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
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
	AllowEmpty        bool
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
		Retries: int64(pace.DefaultPolicy().Retries), ProgressInterval: 5 * time.Second,
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
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "accept a --files-dir that holds no file at all (otherwise exit 2: an unmounted share?)")
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
	shard   scan.Shard
	filter  scan.Filter
	tags    []int64
	retries int
}

func (o *uploadOptions) validate(getenv func(string) string) (*settings, error) {
	s := &settings{}
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
	err := o.conn.resolve(c, streams)
	streams.format.json = o.LogFormat == "json"
	if err != nil {
		return err
	}
	s, err := o.validate(streams.Getenv)
	if err != nil {
		return err
	}
	conn, err := o.conn.conn(o.conn.BaseURL, int(o.BatchSize), streams)
	if err != nil {
		return err
	}
	pol := pace.DefaultPolicy()
	pol.Retries = s.retries
	version, _, _ := buildinfo.Info()
	return run.Upload(sig.Ctx, run.UploadOptions{
		Conn: conn,
		Upload: upload.Options{
			Root: o.FilesDir, Filter: s.filter, Shard: s.shard, WorkspaceID: o.WorkspaceID, Tags: s.tags,
			Parser: o.Parser, BatchSize: int(o.BatchSize), MaxFails: int(o.MaxFails), NoExternalID: o.NoExternalID,
			Checksum: o.Checksum, DryRun: o.DryRun,
		},
		Policy: pol, RateLimit: o.RateLimit, StateFile: o.StateFile,
		Wait: o.Wait, WaitTimeout: o.WaitTimeout, Report: o.Report, Tool: "paradigm-upload " + version,
		Quiet: o.Quiet, Verbose: o.Verbose, NoProgress: o.NoProgress, JSONLog: o.LogFormat == "json",
		ProgressInterval: o.ProgressInterval, Stop: sig.Stop, Grace: sig.Grace, Abandon: sig.Abandon, Info: sig.Info,
		AllowEmpty: o.AllowEmpty,
	}, streams.run())
}
