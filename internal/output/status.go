package output

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/track"
)

// StatusHeader names what a status report is about.
type StatusHeader struct {
	StateFile   string
	BaseURL     string
	WorkspaceID int64
}

// WriteStatus prints the processing status of the documents a state file
// records: counts by status, then every failed document with its detail.
func WriteStatus(w io.Writer, h StatusHeader, docs []track.Doc) {
	fmt.Fprintf(w, "%d document%s recorded in %s (workspace %d at %s)\n", len(docs), plural(len(docs)),
		Text(h.StateFile), h.WorkspaceID, Text(h.BaseURL))
	counts := track.Counts(docs)
	statuses := make([]string, 0, len(counts))
	for s := range counts {
		statuses = append(statuses, s)
	}
	slices.Sort(statuses)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range statuses {
		fmt.Fprintf(tw, "  %s\t%d\n", Text(s), counts[s])
	}
	_ = tw.Flush()
	if failed := track.Failed(docs); len(failed) > 0 {
		fmt.Fprintf(w, "Processing failed for %d document%s:\n", len(failed), plural(len(failed)))
		for _, d := range failed {
			fmt.Fprintf(w, "  %s\n", docLine(d))
		}
	}
}

// docLine renders a tracked document and what went wrong with it.
func docLine(d track.Doc) string {
	return fmt.Sprintf("%s (document %d): %s: %s", Text(d.Path), d.DocumentID, Text(d.Status), Text(d.StatusDetail))
}

// WriteStatusJSON prints the same as WriteStatus, as JSON.
func WriteStatusJSON(w io.Writer, h StatusHeader, docs []track.Doc) error {
	out := struct {
		BaseURL     string         `json:"base_url"`
		WorkspaceID int64          `json:"workspace_id"`
		Counts      map[string]int `json:"counts"`
		Documents   []track.Doc    `json:"documents"`
	}{h.BaseURL, h.WorkspaceID, track.Counts(docs), docs}
	return writeJSON(w, out)
}

// WriteProcessing prints the outcome of --wait: the counts line to out,
// and each failed document and a timeout to errOut. (--quiet says it in its
// one line.)
func WriteProcessing(out, errOut io.Writer, docs []track.Doc, timedOut bool) {
	fmt.Fprintf(out, "Processing:   %s\n", CountsLine(track.Counts(docs)))
	for _, d := range track.Failed(docs) {
		fmt.Fprintf(errOut, "processing failed: %s\n", docLine(d))
	}
	if timedOut {
		pending := len(docs) - len(track.Final(docs))
		fmt.Fprintf(errOut, "processing: %d document%s still in progress after --wait-timeout\n", pending, plural(pending))
	}
}

// WriteWorkspaces prints the workspaces a key can use.
func WriteWorkspaces(w io.Writer, ws []api.Workspace) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTYPE")
	for _, x := range ws {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", x.ID, Text(x.Name), Text(x.WorkspaceType))
	}
	return tw.Flush()
}

// WriteJSON prints v as indented JSON.
func WriteJSON(w io.Writer, v any) error { return writeJSON(w, v) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
