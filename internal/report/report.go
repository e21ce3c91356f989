// Package report builds the machine-readable account of a run: every file
// the run considered with its outcome, and the totals. Its JSON shape is
// versioned by SchemaVersion; fields are only ever added within a version.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/track"
	"github.com/paradigm-upload/paradigm-upload/internal/upload"
)

// SchemaVersion is the version of the report's JSON shape. Version 2 counts
// outcomes in totals.outcomes, one key per outcome of the outcome table.
const SchemaVersion = 2

// File is one file the run considered.
type File struct {
	Path string `json:"path"`
	// From is the path a moved file had.
	From string `json:"from,omitempty"`
	Size int64  `json:"size"`
	// Outcome is the name of an outcome of the table in internal/upload.
	Outcome           string `json:"outcome"`
	Reason            string `json:"reason,omitempty"`
	Warning           string `json:"warning,omitempty"`
	DocumentID        int64  `json:"document_id,omitempty"`
	UploadSessionUUID string `json:"upload_session_uuid,omitempty"`
	Attempts          int    `json:"attempts,omitempty"`
	DurationMS        int64  `json:"duration_ms,omitempty"`
	// ProcessingStatus and ProcessingDetail are set with --wait.
	ProcessingStatus string `json:"processing_status,omitempty"`
	ProcessingDetail string `json:"processing_detail,omitempty"`
}

// Totals counts the files by outcome.
type Totals struct {
	Found int `json:"found"`
	// Outcomes has a count for every outcome, zero included.
	Outcomes map[string]int `json:"outcomes"`
	// Bytes is the content sent to the service.
	Bytes     int64          `json:"bytes"`
	SkippedBy map[string]int `json:"skipped_by_reason"`
	// Throttled counts requests the service refused for its quota (all
	// sent again), Unavailable its answers while it was down; WaitedMS is
	// the time requests waited for either; LearnedRatePerMin the rate the
	// run learned the service sustains (0: never throttled).
	Throttled         int64   `json:"throttled"`
	Unavailable       int64   `json:"unavailable"`
	WaitedMS          int64   `json:"waited_ms"`
	LearnedRatePerMin float64 `json:"learned_rate_per_min"`
	// Processing counts this run's documents by processing status (--wait).
	Processing map[string]int `json:"processing,omitempty"`
}

// Report is the whole document.
type Report struct {
	SchemaVersion  int       `json:"schema_version"`
	Tool           string    `json:"tool"`
	BaseURL        string    `json:"base_url"`
	WorkspaceID    int64     `json:"workspace_id"`
	FilesDir       string    `json:"files_dir"`
	DryRun         bool      `json:"dry_run"`
	StartedAt      time.Time `json:"started_at"`
	DurationMS     int64     `json:"duration_ms"`
	Stopped        string    `json:"stopped,omitempty"`
	UploadSessions []string  `json:"upload_sessions"`
	Totals         Totals    `json:"totals"`
	Files          []File    `json:"files"`
}

// Meta describes the run.
type Meta struct {
	Tool        string
	BaseURL     string
	WorkspaceID int64
	FilesDir    string
	StartedAt   time.Time
}

// Build assembles the report from the run's summary, every file's result,
// and (with --wait) the documents' processing statuses.
func Build(m Meta, sum *upload.Summary, results []upload.Result, docs []track.Doc) Report {
	byID := map[int64]track.Doc{}
	for _, d := range docs {
		byID[d.DocumentID] = d
	}
	files := make([]File, 0, len(results))
	for _, r := range results {
		f := File{
			Path: r.Rel, From: r.From, Size: r.Size, Outcome: r.Outcome.String(), Reason: r.Reason, Warning: r.Warning,
			DocumentID: r.DocumentID, UploadSessionUUID: r.UploadSessionUUID, Attempts: r.Attempts,
			DurationMS: r.Duration.Milliseconds(),
		}
		if d, ok := byID[r.DocumentID]; ok && r.DocumentID != 0 && r.Outcome.Spec().Sends {
			f.ProcessingStatus, f.ProcessingDetail = d.Status, d.StatusDetail
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	sessions := append([]string{}, sum.Sessions...)
	sort.Strings(sessions)
	_, sent := sum.Sent()
	t := Totals{Found: sum.Found, Outcomes: map[string]int{}, Bytes: sent, SkippedBy: sum.Reasons[upload.Skipped],
		Throttled: sum.Pacing.Throttled, Unavailable: sum.Pacing.Unavailable, WaitedMS: sum.Pacing.Waited.Milliseconds(),
		LearnedRatePerMin: math.Round(sum.Pacing.Rate*60*10) / 10}
	for _, o := range upload.Outcomes() {
		t.Outcomes[o.String()] = sum.Count(o)
	}
	if t.SkippedBy == nil {
		t.SkippedBy = map[string]int{}
	}
	if len(docs) > 0 {
		t.Processing = track.Counts(docs)
	}
	return Report{
		SchemaVersion: SchemaVersion, Tool: m.Tool, BaseURL: m.BaseURL, WorkspaceID: m.WorkspaceID,
		FilesDir: m.FilesDir, DryRun: sum.DryRun, StartedAt: m.StartedAt.UTC(), DurationMS: sum.Duration.Milliseconds(),
		Stopped: string(sum.Stopped), UploadSessions: sessions, Totals: t, Files: files,
	}
}

// Write writes the report as indented JSON, through a temporary file and a
// rename, so that a reader never sees half a report. A symbolic link at path
// stays a link: the file it points to is replaced. Where no new file can
// take the report's place (a file bind-mounted into a container, a folder
// the run may not write to), the existing file is rewritten in place. Any of
// secrets (the API key) found in it — quoted back by a server in an error,
// say — is replaced by [REDACTED].
func Write(path string, r Report, secrets ...string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if s != "" {
			b = bytes.ReplaceAll(b, []byte(s), []byte("[REDACTED]"))
		}
	}
	b = append(b, '\n')
	target := linkTarget(path)
	err = replace(target, b)
	if err == nil {
		return nil
	}
	if noNewFile(err) {
		if fi, serr := os.Stat(target); serr == nil && fi.Mode().IsRegular() {
			if werr := os.WriteFile(target, b, 0o644); werr == nil { //nolint:gosec // a report is meant to be read
				return nil
			}
		}
	}
	return fmt.Errorf("report %s: %w", path, err)
}

// noNewFile reports the failures of a replacement that writing the file in
// place may avoid: no new file allowed in the folder, or a rename refused
// over a mount point. A full disk is not one: the old report stays whole.
func noNewFile(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EXDEV)
}

// linkTarget is the file a symbolic link at path points to (resolved even
// when that file does not exist yet), or path itself.
func linkTarget(path string) string {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return path
	}
	if t, err := filepath.EvalSymlinks(path); err == nil {
		return t
	}
	// A chain that ends at a file not written yet: followed link by link.
	for range 40 {
		link, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
		if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path
		}
	}
	return path
}

// replace puts b at path through a temporary file in its folder and a
// rename.
func replace(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
