package run

import (
	"context"
	"errors"

	"github.com/paradigm-upload/paradigm-upload/internal/pace"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// ending is how an upload command ended, as its exit code reads it.
type ending struct {
	// runErr is what ended the run as a whole (upload.Run's error).
	runErr error
	sum    *upload.Summary
	// interrupted is set when the command's context was cancelled.
	interrupted bool
	// waitErr is how --wait ended; timedOut and processingFailed what it
	// found.
	waitErr                    error
	timedOut, processingFailed bool
}

// exitFor is the one table from how an upload ended to its exit: nil for 0,
// else an *ExitError (with the error to print, or none when the summary
// already said it). The first row that applies wins.
func exitFor(e ending) error {
	switch {
	case errors.Is(e.runErr, upload.ErrDeleteRefused):
		// A --delete refused (--max-delete): a decision to make, exit 2.
		return Exit(ExitUsage, e.runErr)
	case errors.Is(e.runErr, pace.ErrBudget), errors.Is(e.runErr, upload.ErrUnavailable),
		errors.Is(e.runErr, upload.ErrUntrustedListing):
		// The service was throttling or down for longer than allowed, or
		// listed its documents in a way that cannot be trusted: the rerun
		// will do.
		return Exit(ExitFailures, e.runErr)
	case errors.Is(e.runErr, context.Canceled):
		return Exit(ExitInterrupted, nil)
	case e.runErr != nil:
		// A rejected key, an unverifiable certificate, a base URL that
		// redirects, a state file that cannot be written, an instance that
		// drops external metadata: the run as a whole could not go on.
		return Exit(ExitUsage, e.runErr)
	case e.sum.Stopped == upload.StopInterrupted || e.interrupted || errors.Is(e.waitErr, context.Canceled):
		return Exit(ExitInterrupted, nil)
	case e.sum.Failures() > 0, len(e.sum.Warnings) > 0:
		// A failure, or a document stored without what was asked (its
		// tags: 207): the run did not do all it was asked.
		return Exit(ExitFailures, nil)
	case e.waitErr != nil && !e.timedOut:
		return Exitf(ExitProcessing, "--wait: %w", e.waitErr)
	case e.processingFailed:
		return Exit(ExitProcessing, nil)
	}
	return nil
}
