package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
)

// apiFailure maps an error of a read-only command to its exit code.
func apiFailure(err error) error {
	if api.IsCertificateError(err) {
		return withCode(ExitUsage, fmt.Errorf("%v: if the instance uses a private certificate authority, pass --ca-cert", err))
	}
	if ae, ok := api.AsError(err); ok && ae.IsAuth() {
		return withCode(ExitUsage, fmt.Errorf("the API key was rejected (%s): check --api-key or PARADIGM_API_KEY", ae.Error()))
	}
	return withCode(ExitFailures, err)
}

type statusOptions struct {
	conn      connOptions
	JSON      bool
	StateFile string
	Session   string
}

func newStatusCmd(sig Signals, streams IOStreams) *cobra.Command {
	o := &statusOptions{}
	c := &cobra.Command{
		Use:   "status --state-file FILE",
		Short: "Show the processing status of the documents a state file records",
		Long: `status asks the service how far processing has got for every document that a
state file records as uploaded (one list request per page of each upload
session), and prints counts by status and every failed document with the
service's detail. It exits 3 when processing failed for any document.

The instance and workspace are those the state file belongs to.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return statusRun(c, o, sig, streams) },
	}
	c.Flags().StringVar(&o.StateFile, "state-file", "", "the state file of the uploads (required)")
	c.Flags().StringVar(&o.Session, "session", "", "only the documents of this upload session")
	c.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	o.conn.bind(c.Flags(), false)
	return c
}

func statusRun(c *cobra.Command, o *statusOptions, sig Signals, streams IOStreams) error {
	if err := o.conn.resolve(c, streams); err != nil {
		return err
	}
	if o.StateFile == "" {
		return usageErrorf("--state-file is required")
	}
	snap, err := state.Read(o.StateFile)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	client, err := o.conn.client(snap.Header.BaseURL, 2, streams, nil)
	if err != nil {
		return err
	}
	req := track.Request{WorkspaceID: snap.Header.WorkspaceID, Paths: map[int64]string{}}
	seen := map[string]bool{}
	snap.Each(func(p string, e state.Entry) {
		if o.Session != "" && e.UploadSessionUUID != o.Session {
			return
		}
		req.Paths[e.DocumentID] = p
		if s := e.UploadSessionUUID; s != "" && !seen[s] {
			seen[s] = true
			req.Sessions = append(req.Sessions, s)
		}
	})
	slices.Sort(req.Sessions)
	docs, err := track.Collect(sig.Ctx, client, req)
	if err != nil {
		return apiFailure(err)
	}
	if o.JSON {
		writeStatusJSON(streams.Out, snap.Header, docs)
	} else {
		writeStatus(streams.Out, o.StateFile, snap.Header, docs)
	}
	for _, d := range docs {
		if track.IsFailed(d.Status) || d.Status == "missing" {
			return withCode(ExitProcessing, errSilent)
		}
	}
	return nil
}

func writeStatus(w io.Writer, file string, h state.Header, docs []track.Doc) {
	fmt.Fprintf(w, "%d document%s recorded in %s (workspace %d at %s)\n", len(docs), plural(len(docs)), file, h.WorkspaceID, h.BaseURL)
	counts := track.Counts(docs)
	statuses := make([]string, 0, len(counts))
	for s := range counts {
		statuses = append(statuses, s)
	}
	slices.Sort(statuses)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range statuses {
		fmt.Fprintf(tw, "  %s\t%d\n", s, counts[s])
	}
	_ = tw.Flush()
	var failed []track.Doc
	for _, d := range docs {
		if track.IsFailed(d.Status) || d.Status == "missing" {
			failed = append(failed, d)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "Processing failed for %d document%s:\n", len(failed), plural(len(failed)))
		for _, d := range failed {
			fmt.Fprintf(w, "  %s (document %d): %s: %s\n", d.Path, d.DocumentID, d.Status, d.StatusDetail)
		}
	}
}

func writeStatusJSON(w io.Writer, h state.Header, docs []track.Doc) {
	out := struct {
		BaseURL     string         `json:"base_url"`
		WorkspaceID int64          `json:"workspace_id"`
		Counts      map[string]int `json:"counts"`
		Documents   []track.Doc    `json:"documents"`
	}{h.BaseURL, h.WorkspaceID, track.Counts(docs), docs}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newWorkspacesCmd(sig Signals, streams IOStreams) *cobra.Command {
	o := &connOptions{}
	var asJSON bool
	c := &cobra.Command{
		Use:   "workspaces",
		Short: "List the workspaces the API key can use (to find --workspace-id)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.resolve(c, streams); err != nil {
				return err
			}
			client, err := o.client(o.BaseURL, 2, streams, nil)
			if err != nil {
				return err
			}
			ws, err := client.Workspaces(sig.Ctx)
			if err != nil {
				return apiFailure(err)
			}
			if asJSON {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(ws)
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTYPE")
			for _, w := range ws {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", w.ID, w.Name, w.WorkspaceType)
			}
			return tw.Flush()
		},
	}
	o.bind(c.Flags(), true)
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
