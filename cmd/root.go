package cmd

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/buildinfo"
	"github.com/paradigm-upload/paradigm-upload/internal/progress"
	"github.com/paradigm-upload/paradigm-upload/internal/retry"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// DefaultBaseURL is the public Paradigm instance.
const DefaultBaseURL = "https://paradigm.lighton.ai"

// uploadOptions are the root command's settings, as flags bind them.
type uploadOptions struct {
	APIKey            string
	BaseURL           string
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
	Quiet             bool
	NoProgress        bool
	Config            string

	// ProgressInterval is the period of plain progress lines.
	ProgressInterval time.Duration
}

func newRootCmd(sig Signals, streams IOStreams) *cobra.Command {
	o := &uploadOptions{
		BaseURL: DefaultBaseURL, BatchSize: 10, MaxFails: 1, MaxFileSize: "100MB",
		Retries: int64(retry.Default().Retries), ProgressInterval: 5 * time.Second,
	}
	c := &cobra.Command{
		Use:   "paradigm-upload --files-dir DIR --workspace-id ID [flags]",
		Short: "Upload a directory tree of documents into a LightOn Paradigm workspace",
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
	c.CompletionOptions.HiddenDefaultCmd = true

	f := c.Flags()
	f.SortFlags = false
	f.StringVar(&o.APIKey, "api-key", "", "Paradigm API key (or PARADIGM_API_KEY)")
	f.StringVar(&o.BaseURL, "base-url", o.BaseURL, "Paradigm instance URL (or PARADIGM_BASE_URL)")
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
	f.Var(intValue{&o.Retries}, "retries", "retries of an upload after a transient error (throttling, 5xx, dropped connection)")
	f.Var(floatValue{&o.RateLimit}, "rate-limit", "maximum requests per second across all workers (0: no limit)")
	f.BoolVar(&o.NoExternalID, "no-external-id", false, "do not send external_metadata (for instances that reject it); lost answers then cannot be reconciled")
	f.BoolVar(&o.Checksum, "checksum", false, "compare files with the state file by content (sha256), not size and modification time")
	f.BoolVarP(&o.Quiet, "quiet", "q", false, "print only errors and a one-line summary")
	f.BoolVar(&o.NoProgress, "no-progress", false, "do not show progress")
	f.DurationVar(&o.ProgressInterval, "progress-interval", o.ProgressInterval, "period of the plain progress lines printed when stderr is not a terminal")
	f.StringVar(&o.Config, "config", "", "config file (default $XDG_CONFIG_HOME/paradigm-upload/config.yaml when present)")

	c.AddCommand(newDevserverCmd(sig, streams), newStatusCmd(sig, streams), newWorkspacesCmd(sig, streams))
	return c
}

// settings is the validated form of uploadOptions.
type settings struct {
	filter   scan.Filter
	tags     []int64
	baseURL  string
	retries  int
	interval time.Duration
}

func (o *uploadOptions) validate() (*settings, error) {
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
	u, err := api.ParseBaseURL(o.BaseURL)
	if err != nil {
		return nil, usageErrorf("--base-url: %v", err)
	}
	s.baseURL = u.String()
	if strings.TrimSpace(o.APIKey) == "" {
		return nil, usageErrorf("no API key: set PARADIGM_API_KEY or pass --api-key (create one at %s/settings/api-key)", s.baseURL)
	}
	o.APIKey = strings.TrimSpace(o.APIKey)
	return s, nil
}

func uploadRun(c *cobra.Command, o *uploadOptions, sig Signals, streams IOStreams) error {
	cfgFile, explicit := o.Config, o.Config != ""
	if !explicit {
		cfgFile = defaultConfigFile(streams.Getenv)
	}
	if _, err := resolveSettings(c.Flags(), cfgFile, explicit, streams.Getenv); err != nil {
		return err
	}
	s, err := o.validate()
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: api.NewTransport(api.TransportOptions{MaxConns: int(o.BatchSize)})}
	client, err := api.NewClient(s.baseURL, o.APIKey, hc)
	if err != nil {
		return usageErrorf("--base-url: %v", err)
	}
	client.UserAgent = buildinfo.UserAgent()

	var store *state.Store
	if o.StateFile != "" {
		store, err = state.Open(o.StateFile, state.Header{BaseURL: s.baseURL, WorkspaceID: o.WorkspaceID}, state.Options{})
		if err != nil {
			return withCode(ExitUsage, err)
		}
	}

	prog, closeProg := newProgress(o, streams)
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
	sum, runErr := upload.Run(sig.Ctx, upload.Options{
		Root: o.FilesDir, Filter: s.filter, WorkspaceID: o.WorkspaceID, Tags: s.tags, Parser: o.Parser,
		BatchSize: int(o.BatchSize), MaxFails: int(o.MaxFails), NoExternalID: o.NoExternalID,
		Checksum: o.Checksum, Retry: pol, RateLimit: o.RateLimit, Client: client, State: store, Progress: prog, Stop: sig.Stop,
	})
	closeProg()
	if store != nil {
		if err := store.Close(); err != nil && runErr == nil {
			runErr = withCode(ExitUsage, err)
		}
	}
	if runErr != nil && errors.Is(runErr, upload.ErrAuth) {
		return withCode(ExitUsage, runErr)
	}
	if sum != nil {
		if o.Quiet {
			writeOneLine(streams.Out, sum)
			for _, f := range sum.Failures {
				fmt.Fprintf(streams.ErrOut, "failed: %s: %s\n", f.Rel, f.Reason)
			}
		} else {
			sum.WriteSummary(streams.Out)
		}
	}
	switch {
	case runErr != nil:
		return withCode(ExitUsage, runErr)
	case sum.Stopped == upload.StopInterrupted || sig.Ctx.Err() != nil:
		return withCode(ExitInterrupted, errSilent)
	case sum.Failed > 0:
		return withCode(ExitFailures, errSilent)
	}
	return nil
}

func writeOneLine(w io.Writer, s *upload.Summary) {
	fmt.Fprintf(w, "paradigm-upload: uploaded %d, skipped %d, failed %d, already done %d (%s in %s)\n",
		s.Uploaded, s.Skipped, s.Failed, s.AlreadyDone, scan.FormatSize(s.Bytes), s.Duration.Round(time.Millisecond))
}

// newProgress picks the display: a bar on a terminal, plain periodic lines
// otherwise, nothing when asked for quiet.
func newProgress(o *uploadOptions, streams IOStreams) (upload.Progress, func()) {
	switch {
	case o.Quiet || o.NoProgress:
		return upload.Nop{}, func() {}
	case streams.ErrIsTTY:
		b := progress.NewBar(streams.ErrOut)
		return b, b.Close
	default:
		l := progress.NewLines(streams.ErrOut, o.ProgressInterval)
		return l, l.Close
	}
}
