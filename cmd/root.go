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
	ThrottleBudget    time.Duration
	OutageBudget      time.Duration
	NoExternalID      bool
	Checksum          bool
	Source            string
	Reconcile         bool
	Delete            bool
	MaxDelete         string
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
		LogFormat: "text", WaitTimeout: 30 * time.Minute, MaxDelete: "25%", ThrottleBudget: 12 * time.Hour, OutageBudget: 5 * time.Minute,
	}
}

// newRootCmd is the upload command, the root of the tree. Its flags,
// environment and config file resolved, it calls runF with the options —
// a test's seam, as gh's NewCmdX(f, runF) — or, when runF is nil, uploads.
func newRootCmd(f *Factory, runF func(*uploadOptions) error) *cobra.Command {
	f.complete()
	o := newUploadOptions()
	version, commit, date := buildinfo.Info()
	c := &cobra.Command{
		Version: fmt.Sprintf("%s (commit %s, built %s)", version, commit, date),
		Use:     "paradigm-upload [--files-dir] DIR --workspace-id ID [flags]",
		Short:   "Upload a directory tree of documents into a LightOn Paradigm workspace",
		Long: `paradigm-upload uploads every supported document under a folder, at any
depth, into a Paradigm workspace through the V3 Files API: concurrent uploads,
retries that ride out throttling and outages, and a state file that lets an
interrupted run resume. It takes the flags of Paradigm's batch_upload_v3.py.`,
		Example: `  export PARADIGM_API_KEY=...   # from your instance's /settings/api-key
  paradigm-upload workspaces    # which workspaces can the key use?
  paradigm-upload --files-dir ./contracts --workspace-id 42
  paradigm-upload ./docs --workspace-id 42 --batch-size 20 --tags 1,2 \
      --state-file upload_state.json
  # Nightly sync (crontab): new files up, edited ones replaced in place,
  # documents of removed files deleted; silent unless something is wrong.
  paradigm-upload --files-dir /srv/contracts --workspace-id 42 \
      --source contracts --state-file /var/lib/paradigm/contracts.state \
      --delete --quiet
  # What would it do? The plan, file by file; nothing sent but a listing:
  paradigm-upload --files-dir /srv/contracts --workspace-id 42 \
      --source contracts --state-file /var/lib/paradigm/contracts.state \
      --delete --dry-run`,
		Annotations: map[string]string{"footer": `Every flag can also be set in the environment as PARADIGM_<FLAG>
(PARADIGM_API_KEY, PARADIGM_BASE_URL, PARADIGM_BATCH_SIZE, ...) or in the
config file (--config): a flag wins over the environment, which wins over the
config file, which wins over the default.

` + exitCodesHelp},
		Args:          rootArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, _ []string) error {
			err := o.conn.resolve(c, f)
			f.format.json.Store(o.LogFormat == "json")
			switch {
			case err != nil:
				return err
			case runF != nil:
				return runF(o)
			}
			return uploadRun(f, o)
		},
	}
	c.SetOut(f.IOStreams.Out)
	c.SetErr(f.IOStreams.ErrOut)
	c.SetFlagErrorFunc(flagError)
	c.SetVersionTemplate("paradigm-upload {{.Version}}\n")
	c.CompletionOptions.DisableDefaultCmd = true
	o.bind(c.Flags())
	c.AddCommand(newWorkspacesCmd(f), newStatusCmd(f, nil), newConfigCmd(f), newVersionCmd(f), newCompletionCmd(f),
		newDevserverCmd(f))
	installHelp(c)
	return c
}

// bind defines the upload flags on f, each in its group of --help.
func (o *uploadOptions) bind(f *pflag.FlagSet) {
	f.SortFlags = false
	conn, sel, beh, out := in(f, groupConnection), in(f, groupSelection), in(f, groupBehaviour), in(f, groupOutput)
	conn.Value(intValue{&o.WorkspaceID}, "workspace-id", "ID", "workspace to store the documents in (required; list them with: paradigm-upload workspaces)")
	o.conn.bind(f, true)

	sel.String(&o.FilesDir, "files-dir", "DIR", "folder to upload, at any depth (required; may also be given alone, without the flag)")
	sel.String(&o.IncludeExtensions, "include-extensions", "LIST", "only these extensions or file names (e.g. pdf,docx,Thumbs.db)")
	sel.String(&o.ExcludeExtensions, "exclude-extensions", "LIST", "skip these extensions or file names (e.g. tmp,log,.DS_Store)")
	sel.StringArray(&o.Include, "include", "GLOB", "only files whose relative path matches (repeatable; ** for any folders, e.g. 'contracts/**/*.pdf')")
	sel.StringArray(&o.Exclude, "exclude", "GLOB", "skip files whose relative path matches (repeatable; wins over --include)")
	sel.String(&o.MaxFileSize, "max-file-size", "SIZE", "skip larger files (e.g. 25MB, 2GiB, 1048576)")
	sel.String(&o.MinSize, "min-size", "SIZE", "skip smaller files (e.g. 1KB)")
	sel.String(&o.NewerThan, "newer-than", "WHEN", "only files modified after a duration ago (24h, 7d) or a date (2026-11-01)")
	sel.Bool(&o.SkipHidden, "skip-hidden", "skip files and folders whose name starts with a dot")
	sel.Bool(&o.FollowSymlinks, "follow-symlinks", "follow symbolic links (loops are detected and skipped)")
	sel.String(&o.Shard, "shard", "K/N", "upload only shard K of N, to split a tree across machines (auto/N: K from JOB_COMPLETION_INDEX)")
	sel.Bool(&o.AllowEmpty, "allow-empty", "accept a folder that holds no file at all (otherwise exit 2: an unmounted share?)")

	beh.Value(intValue{&o.BatchSize}, "batch-size", "N", "concurrent uploads, 1 to 50")
	beh.Value(intValue{&o.MaxFails}, "max-fails", "N", "after this many failures no new upload starts (those in flight finish)")
	beh.String(&o.StateFile, "state-file", "FILE", "records completed uploads, so that a rerun resumes")
	beh.Bool(&o.Checksum, "checksum", "compare every file with its document by content (sha256), not size and time")
	beh.String(&o.Source, "source", "NAME", "name of this tree in the workspace, when several trees share one")
	beh.Bool(&o.Reconcile, "reconcile", "list the workspace's documents and compare, even with a state file")
	beh.Bool(&o.Delete, "delete", "delete the documents this tool uploaded from this tree whose file is gone")
	beh.String(&o.MaxDelete, "max-delete", "N|P%", "with --delete, refuse (exit 2) to delete more than this (count, share, all)")
	beh.String(&o.Tags, "tags", "IDS", "comma-separated tag ids applied to every document (checked first: an unknown id is exit 2); none: take back those this tool applied; without it, documents' tags are left as they are")
	beh.String(&o.Parser, "parser", "NAME", "ingestion pipeline (e.g. v2.2.1); automatic when empty")
	beh.Value(intValue{&o.Retries}, "retries", "N", "retries of any request after a transient error (5xx, dropped connection, timeout); a 429 or an outage uses none")
	beh.Value(floatValue{&o.RateLimit}, "rate-limit", "N", "requests per second at most, for a known quota (0: learn it from the service)")
	beh.Duration(&o.ThrottleBudget, "throttle-budget", "stop (exit 1, resumable) after the quota refused every request this long")
	beh.Duration(&o.OutageBudget, "outage-budget", "stop (exit 1, resumable) after the service was unavailable this long")
	beh.Bool(&o.NoExternalID, "no-external-id", "do not send external_metadata (for instances that reject it); lost answers then cannot be reconciled")
	beh.Bool(&o.DryRun, "dry-run", "print what would be uploaded or skipped, and why; send nothing")
	beh.Bool(&o.Wait, "wait", "then follow processing until every document is embedded or failed (exit 3 if any failed)")
	beh.Duration(&o.WaitTimeout, "wait-timeout", "longest time --wait follows processing")

	out.String(&o.Report, "report", "FILE", "write a JSON report of every file and the totals")
	out.BoolP(&o.Quiet, "quiet", "q", "nothing when every file ended well, else one line on stderr saying what went wrong (for cron)")
	out.BoolP(&o.Verbose, "verbose", "v", "a line per file and per HTTP request (never the key)")
	out.String(&o.LogFormat, "log-format", "FORMAT", "text, or json: every line of stderr a JSON record, nothing on stdout")
	out.Bool(&o.NoProgress, "no-progress", "no progress display")
	out.Duration(&o.ProgressInterval, "progress-interval", "period of the plain progress lines when stderr is not a terminal")
}

// settings is the validated form of uploadOptions.
type settings struct {
	shard     scan.Shard
	filter    scan.Filter
	tags      []int64
	retries   int
	maxDelete upload.DeleteCap
}

// validate checks the settings as an upload takes them; with required
// false (the config command), the folder and the workspace may be unset.
func (o *uploadOptions) validate(getenv func(string) string, required bool) (*settings, error) {
	s := &settings{}
	switch {
	case o.FilesDir == "" && required:
		return nil, usageErrorf("--files-dir is required: the folder to upload")
	case o.FilesDir != "":
		if err := scan.CheckRoot(o.FilesDir); err != nil {
			return nil, usageErrorf("--files-dir: %v", err)
		}
	}
	switch {
	case o.WorkspaceID == 0 && required:
		return nil, usageErrorf("--workspace-id is required (list yours with: paradigm-upload workspaces)")
	case o.WorkspaceID < 0:
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
	if o.ThrottleBudget <= 0 {
		return nil, usageErrorf("--throttle-budget must be positive (got %s)", o.ThrottleBudget)
	}
	if o.OutageBudget <= 0 {
		return nil, usageErrorf("--outage-budget must be positive (got %s)", o.OutageBudget)
	}
	if o.Retries < 0 || o.Retries > 100 {
		return nil, usageErrorf("--retries must be between 0 and 100 (got %d)", o.Retries)
	}
	s.retries = int(o.Retries)
	// No --tags: the documents' tags are left as they are (nil). --tags
	// none: this tool applies none, and takes back those it applied.
	if strings.EqualFold(strings.TrimSpace(o.Tags), "none") {
		s.tags = []int64{}
	}
	for _, t := range strings.Split(o.Tags, ",") {
		t = strings.TrimSpace(t)
		if t == "" || s.tags != nil && len(s.tags) == 0 {
			continue
		}
		if strings.EqualFold(t, "none") {
			return nil, usageErrorf("--tags: none means no tags, and cannot be given with tag ids (%q)", o.Tags)
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
	if s.maxDelete, err = upload.ParseDeleteCap(o.MaxDelete); err != nil {
		return nil, usageErrorf("--max-delete: %v", err)
	}
	if o.Delete && o.NoExternalID {
		return nil, usageErrorf("--delete needs the external ids that --no-external-id leaves out")
	}
	if strings.ContainsAny(o.Source, "\x00\n\r") {
		return nil, usageErrorf("--source must be one line of text")
	}
	if s.shard, err = scan.ParseShard(o.Shard, getenv); err != nil {
		return nil, usageErrorf("--shard: %v", err)
	}
	return s, nil
}

// uploadRun checks the upload's options, resolves the connection and
// uploads.
func uploadRun(f *Factory, o *uploadOptions) error {
	s, err := o.validate(f.Getenv, true)
	if err != nil {
		return err
	}
	conn, err := o.conn.conn(o.conn.BaseURL, int(o.BatchSize), f)
	if err != nil {
		return err
	}
	pol := pace.DefaultPolicy()
	pol.Retries = s.retries
	version, _, _ := buildinfo.Info()
	return run.Upload(f.Signals.Ctx, run.UploadOptions{
		Conn: conn,
		Upload: upload.Options{
			Root: o.FilesDir, Filter: s.filter, Shard: s.shard, WorkspaceID: o.WorkspaceID, Tags: s.tags,
			Parser: o.Parser, BatchSize: int(o.BatchSize), MaxFails: int(o.MaxFails), NoExternalID: o.NoExternalID,
			Checksum: o.Checksum, DryRun: o.DryRun, Source: o.Source, Reconcile: o.Reconcile, Delete: o.Delete,
			MaxDelete: s.maxDelete,
		},
		Pace:      pace.Options{Policy: pol, RateLimit: o.RateLimit, ThrottleBudget: o.ThrottleBudget, OutageBudget: o.OutageBudget},
		StateFile: o.StateFile,
		Wait:      o.Wait, WaitTimeout: o.WaitTimeout, Report: o.Report, Tool: "paradigm-upload " + version,
		Quiet: o.Quiet, Verbose: o.Verbose, NoProgress: o.NoProgress, JSONLog: o.LogFormat == "json",
		ProgressInterval: o.ProgressInterval, Stop: f.Signals.Stop, Grace: f.Signals.Grace, Abandon: f.Signals.Abandon, Info: f.Signals.Info,
		AllowEmpty: o.AllowEmpty,
	}, f.IOStreams)
}
