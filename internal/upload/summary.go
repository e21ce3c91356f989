package upload

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/scan"
)

// WriteSummary prints what the run did, for a person: counts by outcome,
// skips by reason, every failure with its reason, and the upload sessions.
func (s *Summary) WriteSummary(w io.Writer) {
	rate := 0.0
	if secs := s.Duration.Seconds(); secs > 0 {
		rate = float64(s.Uploaded) / secs
	}
	if s.DryRun {
		fmt.Fprintf(w, "Would upload: %d file%s, %s (dry run: nothing was sent)\n", s.WouldUpload, plural(s.WouldUpload), scan.FormatSize(s.WouldBytes))
	} else {
		fmt.Fprintf(w, "Uploaded:     %d file%s, %s in %s (%.1f files/s)\n",
			s.Uploaded, plural(s.Uploaded), scan.FormatSize(s.Bytes), s.Duration.Round(time.Millisecond), rate)
	}
	if s.Changed > 0 {
		fmt.Fprintf(w, "  of which %d changed since their last upload\n", s.Changed)
	}
	if s.AlreadyDone > 0 {
		fmt.Fprintf(w, "Already done: %d (recorded in the state file)\n", s.AlreadyDone)
	}
	fmt.Fprintf(w, "Skipped:      %d\n", s.Skipped)
	for _, reason := range s.SortedSkipReasons() {
		fmt.Fprintf(w, "  %6d  %s\n", s.SkippedBy[reason], reason)
	}
	fmt.Fprintf(w, "Failed:       %d\n", s.Failed)
	for _, f := range s.Failures {
		fmt.Fprintf(w, "  %s: %s\n", f.Rel, f.Reason)
	}
	if len(s.Warnings) > 0 {
		fmt.Fprintf(w, "Warnings:     %d\n", len(s.Warnings))
		for _, f := range s.Warnings {
			fmt.Fprintf(w, "  %s: %s\n", f.Rel, f.Warning)
		}
	}
	switch len(s.Sessions) {
	case 0:
	case 1:
		fmt.Fprintf(w, "Upload session: %s\n", s.Sessions[0])
	default:
		fmt.Fprintf(w, "Upload sessions: %s\n", strings.Join(s.Sessions, ", "))
	}
	switch s.Stopped {
	case StopMaxFails:
		fmt.Fprintf(w, "Stopped early: --max-fails reached (%d failure%s); rerun (with the same --state-file) to resume.\n",
			s.Failed, plural(s.Failed))
	case StopInterrupted:
		fmt.Fprintln(w, "Interrupted: rerun (with the same --state-file) to resume.")
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
