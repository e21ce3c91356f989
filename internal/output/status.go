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
// and the failed documents and a timeout to errOut — each failed document
// when they fit in maxListed lines, else grouped by what the service said,
// the largest groups first, then how many are not named (the report has
// each). (--quiet says it in its one line.)
func WriteProcessing(out, errOut io.Writer, docs []track.Doc, timedOut bool, o SummaryOptions) {
	fmt.Fprintf(out, "Processing:   %s\n", CountsLine(track.Counts(docs)))
	failed := track.Failed(docs)
	if len(failed) <= maxListed {
		for _, d := range failed {
			fmt.Fprintf(errOut, "processing failed: %s\n", docLine(d))
		}
	} else {
		writeFailedGroups(errOut, failed, o)
	}
	if timedOut {
		pending := len(docs) - len(track.Final(docs))
		fmt.Fprintf(errOut, "processing: %d document%s still in progress after --wait-timeout\n", pending, plural(pending))
	}
}

// writeFailedGroups writes documents whose processing failed grouped by
// status and detail, in at most maxListed lines (capGroups).
func writeFailedGroups(w io.Writer, failed []track.Doc, o SummaryOptions) {
	named := 0
	for _, g := range capGroups(failed, func(d track.Doc) string { return Text(d.Status) + ": " + Text(d.StatusDetail) }) {
		fmt.Fprintf(w, "processing failed: %s: %d document%s\n", g.note, g.all, plural(g.all))
		for _, d := range g.shown {
			fmt.Fprintf(w, "  %s (document %d)\n", Text(d.Path), d.DocumentID)
			named++
		}
	}
	fmt.Fprintf(w, "processing failed: … and %d more %s\n", len(failed)-named, o.seeReport())
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
