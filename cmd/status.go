package cmd

import (
	"github.com/spf13/cobra"

	"github.com/paradigm-upload/paradigm-upload/internal/run"
)

type statusOptions struct {
	conn      connOptions
	JSON      bool
	StateFile string
	Session   string
}

// newStatusCmd is the status command; runF, when not nil, takes the
// resolved options in place of the run (see newRootCmd).
func newStatusCmd(f *Factory, runF func(*statusOptions) error) *cobra.Command {
	f.complete()
	o := &statusOptions{}
	c := &cobra.Command{
		Use:   "status --state-file FILE [flags]",
		Short: "Show the processing status of the documents a state file records",
		Long: `status asks the service how far processing has got for every document that
a state file records as uploaded (one list request per page of each upload
session), and prints counts by status and every failed document with the
service's detail. It exits 3 when processing failed for any document.

The instance and the workspace are those the state file belongs to: status
takes no --base-url or --workspace-id.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.conn.resolve(c, f); err != nil {
				return err
			}
			if o.StateFile == "" {
				return usageErrorf("--state-file is required")
			}
			if runF != nil {
				return runF(o)
			}
			return statusRun(f, o)
		},
	}
	fs := c.Flags()
	fs.SortFlags = false
	o.conn.bind(fs, false)
	in(fs, groupSelection).String(&o.StateFile, "state-file", "FILE", "the state file of the uploads (required)")
	in(fs, groupSelection).String(&o.Session, "session", "UUID", "only the documents of this upload session")
	in(fs, groupOutput).Bool(&o.JSON, "json", "print JSON instead of text")
	return c
}

// statusRun asks the instance the state file names.
func statusRun(f *Factory, o *statusOptions) error {
	connect := func(base string) (run.Conn, error) { return o.conn.conn(base, 2, f) }
	ctx, cancel := f.Signals.StopContext()
	defer cancel()
	return run.Status(ctx, run.StatusOptions{Connect: connect, StateFile: o.StateFile, Session: o.Session,
		JSON: o.JSON}, f.IOStreams)
}

func newWorkspacesCmd(f *Factory) *cobra.Command {
	o := &connOptions{}
	var asJSON bool
	c := &cobra.Command{
		Use:   "workspaces [flags]",
		Short: "List the workspaces the API key can use (to find --workspace-id)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.resolve(c, f); err != nil {
				return err
			}
			conn, err := o.conn(o.BaseURL, 2, f)
			if err != nil {
				return err
			}
			ctx, cancel := f.Signals.StopContext()
			defer cancel()
			return run.Workspaces(ctx, conn, asJSON, f.IOStreams)
		},
	}
	c.Flags().SortFlags = false
	o.bind(c.Flags(), true)
	in(c.Flags(), groupOutput).Bool(&asJSON, "json", "print JSON instead of a table")
	return c
}
