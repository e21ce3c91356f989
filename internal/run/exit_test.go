package run

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// Every way an upload can end, and its exit code: one table.
func TestExitForEveryEnding(t *testing.T) {
	ok := &upload.Summary{}
	failed := &upload.Summary{}
	failed.Add(upload.Result{Rel: "a", Outcome: upload.Failed})
	warned := &upload.Summary{}
	warned.Add(upload.Result{Rel: "a", Outcome: upload.Uploaded, Warning: "uploaded, but the tags were not applied"})
	stopped := &upload.Summary{Stopped: upload.StopInterrupted}
	vanished := &upload.Summary{}
	vanished.Add(upload.Result{Rel: "a", Outcome: upload.Vanished})
	for _, tc := range []struct {
		name string
		e    ending
		code int
		says string // "" when the summary says it all
	}{
		{"all well", ending{sum: ok}, ExitOK, ""},
		{"a vanished file is not a failure", ending{sum: vanished}, ExitOK, ""},
		{"--max-delete refused", ending{sum: ok, runErr: fmt.Errorf("%w: 9 of 10", upload.ErrDeleteRefused)}, ExitUsage, "9 of 10"},
		{"a budget ran out", ending{sum: ok, runErr: &pace.BudgetError{What: "unavailable", Flag: "--outage-budget"}}, ExitFailures, "--outage-budget"},
		{"the service did not answer", ending{sum: ok, runErr: fmt.Errorf("%w: x", upload.ErrUnavailable)}, ExitFailures, "did not answer"},
		{"a listing that loops", ending{sum: ok, runErr: fmt.Errorf("%w: next", upload.ErrUntrustedListing)}, ExitFailures, "next"},
		{"interrupted inside the run", ending{sum: ok, runErr: fmt.Errorf("list: %w", context.Canceled)}, ExitInterrupted, ""},
		{"a rejected key", ending{sum: ok, runErr: fmt.Errorf("%w (401)", upload.ErrAuth)}, ExitUsage, "rejected"},
		{"no external metadata kept", ending{sum: ok, runErr: fmt.Errorf("%w: x", upload.ErrNoExternalMetadata)}, ExitUsage, "external metadata"},
		{"stopped by Ctrl-C", ending{sum: stopped}, ExitInterrupted, ""},
		{"the context cancelled", ending{sum: ok, interrupted: true}, ExitInterrupted, ""},
		{"--wait interrupted", ending{sum: ok, waitErr: context.Canceled}, ExitInterrupted, ""},
		{"a failure", ending{sum: failed}, ExitFailures, ""},
		{"a 207", ending{sum: warned}, ExitFailures, ""},
		{"a failure wins over processing", ending{sum: failed, processingFailed: true}, ExitFailures, ""},
		{"--wait failed to poll", ending{sum: ok, waitErr: errors.New("poll")}, ExitProcessing, "--wait: poll"},
		{"--wait timed out, processing unfinished", ending{sum: ok, waitErr: errors.New("timeout"), timedOut: true, processingFailed: true}, ExitProcessing, ""},
		{"processing failed", ending{sum: ok, processingFailed: true}, ExitProcessing, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exitFor(tc.e)
			assert.Equal(t, tc.code, Code(err))
			if tc.says == "" {
				assert.True(t, err == nil || Silent(err), "%v", err)
			} else {
				assert.ErrorContains(t, err, tc.says)
			}
		})
	}
}
