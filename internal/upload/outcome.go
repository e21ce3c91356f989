package upload

import (
	"fmt"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/pace"
)

// Outcome is how a file ended. Every file the run considers ends as exactly
// one; the table below says how each is named, shown and counted.
type Outcome uint8

// The outcomes. To add one: a constant here, a row in outcomes, and the code
// that produces it. Summary, progress, per-file lines, JSON logs, the report
// and the exit code read the table.
const (
	Uploaded Outcome = iota
	Replaced
	Updated
	Moved
	Adopted
	Deleted
	Unchanged
	Present
	AlreadyDone
	WouldUpload
	WouldReplace
	WouldUpdate
	WouldMove
	WouldAdopt
	WouldDelete
	Skipped
	Vanished
	Failed
	Interrupted
	NotAttempted
	numOutcomes
)

// Detail says what the summary shows under an outcome's count.
type Detail uint8

// The details the summary can show.
const (
	DetailNone     Detail = iota
	DetailByReason        // counts by reason (skips)
	DetailEachFile        // every file with its reason (failures)
)

// Spec describes an outcome.
type Spec struct {
	// Name is the outcome in the report, the JSON logs and the status JSON.
	Name string
	// Label heads its line in the summary.
	Label string
	// Verb starts a per-file line (--verbose, --dry-run).
	Verb string
	// Note follows the count in the summary.
	Note string
	// Failure makes it count toward --max-fails and exit code 1.
	Failure bool
	// Sends marks outcomes whose content went to the service: their files
	// and bytes make the "files/s" of the summary.
	Sends bool
	// DryRun marks what a dry run reports instead of doing.
	DryRun bool
	// Always shows it in the summary and progress even at zero (in a run
	// of its kind: dry or not).
	Always bool
	// Progress names it in the progress counts; empty: not shown there.
	Progress string
	Detail   Detail
}

var outcomes = [numOutcomes]Spec{
	Uploaded: {Name: "uploaded", Label: "Uploaded", Verb: "uploaded", Sends: true, Always: true,
		Progress: "uploaded"},
	Replaced: {Name: "replaced", Label: "Replaced", Verb: "replaced", Sends: true,
		Note: "edited since their upload: new content, same document", Progress: "replaced"},
	Updated: {Name: "updated", Label: "Updated", Verb: "updated",
		Note: "same content; tags or identity brought up to date", Progress: "updated"},
	Moved: {Name: "moved", Label: "Moved", Verb: "moved",
		Note: "moved or renamed: their document re-keyed in place (same id, tags; nothing sent)", Progress: "moved"},
	Adopted: {Name: "adopted", Label: "Adopted", Verb: "adopted",
		Note:     "uploaded before this tool (batch_upload_v3.py, the web interface): taken over in place, nothing sent",
		Progress: "adopted"},
	Deleted: {Name: "deleted", Label: "Deleted", Verb: "deleted",
		Note: "their file is gone from the folder; --delete", Progress: "deleted"},
	Unchanged: {Name: "unchanged", Label: "Unchanged", Verb: "unchanged",
		Note: "same content under a new modification time: nothing sent", Progress: "unchanged"},
	Present: {Name: "already_on_service", Label: "Already there", Verb: "already there",
		Note: "the service already had them: nothing new stored", Progress: "already there"},
	AlreadyDone: {Name: "already_done", Label: "Already done", Verb: "already done",
		Note: "up to date on the service: nothing sent", Progress: "already done"},
	WouldUpload: {Name: "would_upload", Label: "Would upload", Verb: "would upload", DryRun: true, Always: true},
	WouldReplace: {Name: "would_replace", Label: "Would replace", Verb: "would replace", DryRun: true,
		Note: "edited since their upload"},
	WouldUpdate: {Name: "would_update", Label: "Would update", Verb: "would update", DryRun: true,
		Note: "tags or identity out of date"},
	WouldMove: {Name: "would_move", Label: "Would move", Verb: "would move", DryRun: true,
		Note: "moved or renamed: their document would be re-keyed"},
	WouldAdopt: {Name: "would_adopt", Label: "Would adopt", Verb: "would adopt", DryRun: true,
		Note: "documents uploaded before this tool, of their name and size"},
	WouldDelete: {Name: "would_delete", Label: "Would delete", Verb: "would delete", DryRun: true,
		Note: "their file is gone (--delete)"},
	Skipped: {Name: "skipped", Label: "Skipped", Verb: "skipped", Always: true, Progress: "skipped",
		Detail: DetailByReason},
	Vanished: {Name: "vanished", Label: "Vanished", Verb: "vanished", Progress: "vanished",
		Note: "gone between the scan and their upload: nothing sent; the next run sees the truth"},
	Failed: {Name: "failed", Label: "Failed", Verb: "failed", Failure: true, Always: true, Progress: "failed",
		Detail: DetailEachFile},
	Interrupted: {Name: "interrupted", Label: "Interrupted", Verb: "interrupted",
		Note: "abandoned before the service answered; the next run checks them", Progress: "interrupted",
		Detail: DetailEachFile},
	NotAttempted: {Name: "not_attempted", Label: "Not attempted", Verb: "not attempted",
		Note: "the run stopped before it reached them; a rerun picks them up"},
}

// Spec returns the outcome's row of the table.
func (o Outcome) Spec() Spec { return outcomes[o] }

// String returns the outcome's name.
func (o Outcome) String() string { return outcomes[o].Name }

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) {
	if o >= numOutcomes {
		return nil, fmt.Errorf("outcome %d out of range", o)
	}
	return []byte(outcomes[o].Name), nil
}

// Outcomes returns every outcome, in the order the summary shows them.
func Outcomes() []Outcome {
	all := make([]Outcome, numOutcomes)
	for i := range all {
		all[i] = Outcome(i)
	}
	return all
}

// Result is the outcome of one file.
type Result struct {
	Rel string
	// From is the path a moved file had.
	From    string
	Size    int64
	Outcome Outcome
	// Reason says why a file was skipped, failed or left as it was.
	Reason string
	// Warning is set on an upload that succeeded with a reservation (207).
	Warning           string
	DocumentID        int64
	UploadSessionUUID string
	Attempts          int
	Duration          time.Duration
}

// StopReason says why a run ended before it had considered every file.
type StopReason string

// Why a run stopped early.
const (
	StopNone        StopReason = ""
	StopMaxFails    StopReason = "max-fails"
	StopInterrupted StopReason = "interrupted"
	// StopFatal: an error that concerns the run as a whole (a rejected key,
	// a state file that cannot be written); Run returns it.
	StopFatal StopReason = "error"
)

// Pacing is what a run met of the service's capacity: the pacer's status
// at the end of the run (the requests refused for the quota, the answers
// of an unavailable service, the time held, the learned rate), filled in
// by whoever ran it.
type Pacing = pace.Status

// Summary is what a run did.
type Summary struct {
	// Found counts the files the run considered.
	Found  int
	counts [numOutcomes]int
	bytes  [numOutcomes]int64
	// Reasons counts, for outcomes detailed by reason, their files by
	// reason.
	Reasons map[Outcome]map[string]int
	// Listed holds, for outcomes detailed file by file, every such file in
	// the order they ended.
	Listed []Result
	// Warnings lists uploads that succeeded with a reservation.
	Warnings []Result
	Duration time.Duration
	// Sessions are the upload sessions the service put this run's files in.
	Sessions []string
	Stopped  StopReason
	DryRun   bool
	// Notes are what the run decided not to do, and why.
	Notes []string
	// Pacing is what the run met of the service's quota and outages
	// (filled in by whoever ran it, from the pacer).
	Pacing Pacing

	seen map[string]struct{}
}

// Count returns how many files ended as o.
func (s *Summary) Count(o Outcome) int { return s.counts[o] }

// Bytes returns the bytes of the files that ended as o.
func (s *Summary) Bytes(o Outcome) int64 { return s.bytes[o] }

// Failures counts the files whose outcome is a failure.
func (s *Summary) Failures() int {
	n := 0
	for o, spec := range outcomes {
		if spec.Failure {
			n += s.counts[o]
		}
	}
	return n
}

// Sent returns the files and bytes whose content went to the service.
func (s *Summary) Sent() (files int, bytes int64) {
	for o, spec := range outcomes {
		if spec.Sends {
			files += s.counts[o]
			bytes += s.bytes[o]
		}
	}
	return files, bytes
}

// Add counts a result.
func (s *Summary) Add(r Result) {
	spec := outcomes[r.Outcome]
	s.Found++
	s.counts[r.Outcome]++
	s.bytes[r.Outcome] += r.Size
	switch spec.Detail {
	case DetailByReason:
		if s.Reasons == nil {
			s.Reasons = map[Outcome]map[string]int{}
		}
		if s.Reasons[r.Outcome] == nil {
			s.Reasons[r.Outcome] = map[string]int{}
		}
		s.Reasons[r.Outcome][r.Reason]++
	case DetailEachFile:
		s.Listed = append(s.Listed, r)
	}
	if r.Warning != "" {
		s.Warnings = append(s.Warnings, r)
	}
	if u := r.UploadSessionUUID; u != "" && spec.Sends {
		if s.seen == nil {
			s.seen = map[string]struct{}{}
		}
		if _, ok := s.seen[u]; !ok {
			s.seen[u] = struct{}{}
			s.Sessions = append(s.Sessions, u)
		}
	}
}
