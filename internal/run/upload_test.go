package run

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/paradigm-upload/paradigm-upload/internal/output"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// summaryOf adds n results of outcome o for each pair.
func summaryOf(stopped upload.StopReason, counts map[upload.Outcome]int) *upload.Summary {
	s := &upload.Summary{Stopped: stopped}
	for o, n := range counts {
		for range n {
			s.Add(upload.Result{Rel: "f", Outcome: o})
		}
	}
	return s
}

// Two Ctrl-C on a tree of 3,008 files: 100 uploaded, 10 abandoned in
// flight, the 1,025 queued ended as not attempted, and the scan stopped
// before the other 1,873. Every number says the same: found is the tree,
// and not attempted counts each file never reached once.
func TestFilesNeverReachedAreCountedOnceAsNotAttempted(t *testing.T) {
	sum := summaryOf(upload.StopInterrupted, map[upload.Outcome]int{
		upload.Uploaded: 100, upload.Interrupted: 10, upload.NotAttempted: 1025})
	snap := output.Snapshot{Done: 110, Total: 3008, TotalKnown: true}
	countUnreached(sum, snap)
	assert.Equal(t, 3008, sum.Found, "found: every file of the tree")
	assert.Equal(t, 3008-110, sum.Count(upload.NotAttempted))
	total := 0
	for _, o := range upload.Outcomes() {
		total += sum.Count(o)
	}
	assert.Equal(t, sum.Found, total, "found is the sum of the outcomes")

	// A run that did not stop early reached every file it found.
	sum = summaryOf(upload.StopNone, map[upload.Outcome]int{upload.Uploaded: 5})
	countUnreached(sum, output.Snapshot{Done: 5, Total: 7, TotalKnown: true})
	assert.Equal(t, 5, sum.Found)
	assert.Zero(t, sum.Count(upload.NotAttempted))

	// A single Ctrl-C: the scan went on and every file ended; none is
	// counted twice.
	sum = summaryOf(upload.StopInterrupted, map[upload.Outcome]int{upload.Uploaded: 460, upload.NotAttempted: 2548})
	countUnreached(sum, output.Snapshot{Done: 460, Total: 3008, TotalKnown: true})
	assert.Equal(t, 3008, sum.Found)
	assert.Equal(t, 2548, sum.Count(upload.NotAttempted))
}
