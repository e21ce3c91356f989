package run

import (
	"errors"
	"fmt"

	"github.com/paradigm-upload/paradigm-upload/internal/output"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// closeState closes the state file at the end of a run and returns the
// error that ends the run: runErr, or else what closing found. A state file
// that could not be written, during the run or at its close, ends it with
// one line that names the file and the flag. A compaction that failed is a
// warning: the journal is whole, only larger.
func closeState(store *state.Store, runErr error, notices output.Notices) error {
	err := store.Close()
	var ce *state.CompactError
	if errors.As(err, &ce) {
		notices.Warn(ce.Error())
		err = nil
	}
	if runErr == nil {
		runErr = err
	}
	var we *state.WriteError
	if errors.As(runErr, &we) {
		// What it could not record, the service recognises by its external
		// id on the next run: the summary's last line says to rerun.
		return fmt.Errorf("--state-file: %w: no upload was started after it; make room (or mend the disk), then run the same command again", we)
	}
	return runErr
}
