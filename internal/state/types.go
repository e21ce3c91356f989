package state

// The file's records and what a store remembers of a path; the errors a
// store returns; its options.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Format identifies a state file in its header.
const Format = "paradigm-upload-state"

// Version is the version of the format this package writes. Version 2
// added the header's source, the records' tags and the "deleted" record;
// version 3 the "checkpoint" record. Older files are read as they are.
const Version = 3

// Header is the first line of a state file.
type Header struct {
	Format      string `json:"format"`
	Version     int    `json:"version"`
	BaseURL     string `json:"base_url"`
	WorkspaceID int64  `json:"workspace_id"`
	// Source names the tree the file records (--source), within which
	// paths identify documents; empty for the default.
	Source    string    `json:"source,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Op is the kind of a record.
type Op string

// Record kinds.
const (
	OpStarted Op = "started" // an upload was sent; its outcome is not yet known
	OpDone    Op = "done"    // the service confirmed the upload
	OpAborted Op = "aborted" // a started upload is known not to have created a document
	OpDeleted Op = "deleted" // the document was deleted (its file is gone)
	// OpCheckpoint records what a run saw of the workspace as a whole
	// (Checkpoint): its ModTime is Checkpoint.At, its Size the Count, its
	// DocumentID the Newest, its At the Since; it has no path.
	OpCheckpoint Op = "checkpoint"
)

// Checkpoint is what a run saw of the workspace, so that the next run can
// tell with one request whether documents it did not see go away: At is a
// moment on the service's clock, Count how many documents of the workspace
// (of every source) were created before it, Newest the id of the newest
// of them. The documents created before At change count only when some are
// deleted; after a restore from backup, the newest of them changes too.
// Since is when the run that recorded it began to look (what others changed
// after it, the next run lists). A Count below 0 is no checkpoint: a run
// that started records one, so that a run killed halfway leaves none.
type Checkpoint struct {
	At     time.Time
	Count  int64
	Newest int64
	Since  time.Time
}

// Record is one line of the journal after the header.
type Record struct {
	Op   Op     `json:"op"`
	Path string `json:"path"` // relative to the uploaded folder, forward slashes
	Size int64  `json:"size"`
	// ModTime is the file's modification time when it was uploaded.
	ModTime    time.Time `json:"mtime"`
	ExternalID string    `json:"external_id,omitempty"`
	// SHA256 is the content's hash (hex; the whole of it or its first 32
	// digits), when known.
	SHA256            string `json:"sha256,omitempty"`
	DocumentID        int64  `json:"document_id,omitempty"`
	UploadSessionUUID string `json:"upload_session_uuid,omitempty"`
	// Tags are the tag ids this tool applied, as "1,2".
	Tags string `json:"tags,omitempty"`
	// At is when the event happened (the upload time for OpDone).
	At time.Time `json:"at"`
}

// Entry is what the store remembers of one path.
type Entry struct {
	Size              int64
	ModTime           time.Time
	ExternalID        string
	SHA256            string
	DocumentID        int64
	UploadSessionUUID string
	Tags              string
	// UploadedAt is when it was recorded, to the second.
	UploadedAt time.Time
	// Fresh is set when this run recorded it.
	Fresh bool
}

// ErrLocked is returned when another run holds the state file.
var ErrLocked = errors.New("state file is in use by another run")

// CorruptError reports a state file that cannot be loaded. The file is left
// as it is.
type CorruptError struct {
	Path string
	Line int
	Msg  string
}

func (e *CorruptError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("state file %s is damaged at line %d: %s; it was left untouched (move it away to start afresh)", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("state file %s: %s; it was left untouched", e.Path, e.Msg)
}

// MismatchError reports a state file that belongs to another instance or
// workspace.
type MismatchError struct {
	Path       string
	Have, Want Header
}

func (e *MismatchError) Error() string {
	if e.Have.Source != e.Want.Source && e.Have.WorkspaceID == e.Want.WorkspaceID {
		return fmt.Sprintf("state file %s records the source %q, not %q; use another --state-file or the same --source",
			e.Path, e.Have.Source, e.Want.Source)
	}
	return fmt.Sprintf("state file %s belongs to %s workspace %d, not %s workspace %d; use another --state-file",
		e.Path, e.Have.BaseURL, e.Have.WorkspaceID, e.Want.BaseURL, e.Want.WorkspaceID)
}

// Options tunes a Store.
type Options struct {
	// FlushInterval bounds how long a record can wait before it is written.
	FlushInterval time.Duration
	// NoSync skips fsync (tests and benchmarks of the format only).
	NoSync bool
	// Now stamps the header of a new file.
	Now func() time.Time
	// ExternalID, when set, returns the external id a path implies: the
	// entries that carry it keep one bit instead of the id.
	ExternalID func(path string) string

	// Faults of the disk, injected by tests: wrap stands between the store
	// and the journal it appends to, rename replaces os.Rename.
	wrap   func(*os.File) journal
	rename func(oldpath, newpath string) error
	// Sizes of the tables, made small by tests (0: the defaults).
	mergeMin, segMax int
}

// journal is the open state file as the store appends to it: an *os.File,
// or in tests one that fails as a full disk does.
type journal interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// WriteError reports a state file that could not be written (a full disk,
// an I/O error): the store accepts no record after it.
type WriteError struct {
	Path string
	Err  error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("state file %s cannot be written (%v)", e.Path, underlying(e.Err))
}

func (e *WriteError) Unwrap() error { return e.Err }

// CompactError reports that the file could not be rewritten compactly when
// it was closed. Nothing is lost: the journal stays whole as it was
// appended, only larger, and the next run tries again. It is a warning, not
// a failure of the run.
type CompactError struct {
	Path string
	Err  error
}

func (e *CompactError) Error() string {
	return fmt.Sprintf("state file %s was not compacted (%v); it is whole and still in use, only larger than it needs to be",
		e.Path, underlying(e.Err))
}

func (e *CompactError) Unwrap() error { return e.Err }

// underlying returns the system's error inside a path error, whose path the
// messages above already name.
func underlying(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// SameTarget reports whether two headers name the same instance and
// workspace.
func (h Header) SameTarget(o Header) bool {
	return h.WorkspaceID == o.WorkspaceID && strings.TrimRight(h.BaseURL, "/") == strings.TrimRight(o.BaseURL, "/") &&
		h.Source == o.Source
}
