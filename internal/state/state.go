// Package state owns the state file that makes runs resumable: which files
// were uploaded (and as which document), and which uploads were started but
// not confirmed. It knows nothing of HTTP or the command line.
//
// The file is JSON Lines: a header object naming the instance and workspace
// it belongs to, then one record per event, appended. Appending one record
// costs the same whatever the file holds; records are written in groups with
// one fsync per group. The file is rewritten compactly (temporary file,
// fsync, rename) when a run opens or closes it and holds many superseded
// records; when its folder cannot take the temporary file, it is appended
// to as it is, and the failure is a warning. After a crash, the only damage
// possible is a partly written last line, which loading cuts off; anything
// else that does not parse is an error, and the file is then left
// untouched. A state file that is a symbolic link is written through: the
// link stays, its target is updated (and compacted in its own folder).
package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/clock"
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

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	path string
	// real is the file written: path with its symbolic links resolved, so
	// that a link is written through, never replaced by a regular file.
	real string
	hdr  Header
	opts Options
	lock *fileLock

	mu      sync.Mutex
	cond    *sync.Cond
	done    *table
	started *table
	// checkpoint is the last one recorded, nil when none.
	checkpoint *Checkpoint
	records    int // records in the file, for compaction
	f          journal
	buf        []byte // encoded records not yet handed to the writer
	batch      uint64 // id of the batch buf belongs to
	durable    uint64 // every batch below this is on disk
	werr       error  // first write error; the store is unusable after it
	closed     bool

	kick    chan struct{} // records are pending
	urgent  chan struct{} // Flush or Close waits for them
	stopped chan struct{}
}

// Open loads (or creates) the state file at path for the instance and
// workspace in want, locks it against other runs, and starts its writer. A
// path that is a symbolic link is written through (see Resolve).
func Open(path string, want Header, opts Options) (*Store, error) {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.rename == nil {
		opts.rename = os.Rename
	}
	want.Format, want.Version = Format, Version
	file, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	// The lock sits beside the file written, so that two runs given two
	// links to one file exclude each other.
	lock, err := acquireLock(file + ".lock")
	if err != nil {
		return nil, err
	}
	s := &Store{
		path: path, real: file, opts: opts, lock: lock,
		kick: make(chan struct{}, 1), urgent: make(chan struct{}, 1), stopped: make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	s.initTables(opts.ExternalID)
	if err := s.load(want); err != nil {
		if s.f != nil {
			_ = s.f.Close()
		}
		lock.release()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// Resolve returns the file that the state file path designates: path
// itself, or the file a symbolic link at path points to. The store writes
// that file, and compacts it with a temporary file renamed in that file's
// folder, so that a link stays a link. A link to nothing, or anything but a
// regular file, is refused: a named pipe would block the run on its first
// read.
func Resolve(path string) (string, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path, nil
	case err != nil:
		return "", fmt.Errorf("state file %s: %w", path, err)
	case fi.Mode()&fs.ModeSymlink == 0:
		if !fi.Mode().IsRegular() {
			return "", notRegular(path, fi)
		}
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		link, _ := os.Readlink(path)
		return "", fmt.Errorf("state file %s is a symbolic link to %s, which does not exist; create that file (empty will do) or give the path of the file itself",
			path, link)
	}
	if err != nil {
		return "", fmt.Errorf("state file %s: %w", path, err)
	}
	if fi, err = os.Stat(target); err != nil {
		return "", fmt.Errorf("state file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", notRegular(path, fi)
	}
	return target, nil
}

// notRegular refuses a state file that is not a regular file.
func notRegular(path string, fi fs.FileInfo) error {
	kind := "not a regular file"
	switch m := fi.Mode(); {
	case m.IsDir():
		kind = "a folder"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("state file %s is %s; give the path of a regular file (or of one to create)", path, kind)
}

// load reads the file if it exists, then leaves it open for appending. A new
// file is written first; a file that holds many superseded records is
// rewritten compactly when its folder allows (otherwise it is appended to
// as it is); a torn last line is cut off.
func (s *Store) load(want Header) error {
	f, err := os.Open(s.real)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.hdr = want
		s.hdr.CreatedAt = s.opts.Now().UTC()
		return s.rewrite()
	case err != nil:
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if st.Size() == 0 {
		f.Close()
		s.hdr = want
		s.hdr.CreatedAt = s.opts.Now().UTC()
		if s.rewrite() == nil {
			return nil
		}
		// No new file can take its place (a read-only folder; a file bind
		// mount, as `docker -v state.json:/state.json` makes): the header
		// is written into the file itself.
		return s.writeHeaderInPlace()
	}
	s.done.beginLoad()
	whole, torn, err := s.parse(f, st.Size())
	s.done.endLoad()
	f.Close()
	if err != nil {
		return err
	}
	if !s.hdr.SameTarget(want) {
		return &MismatchError{Path: s.path, Have: s.hdr, Want: want}
	}
	superseded := s.records - s.done.len() - s.started.len()
	if superseded > 1000 && superseded > s.records/2 && s.rewrite() == nil {
		// (The rewrite keeps every whole record, and drops a torn tail.)
		return nil
	}
	// Not compacted — not needed, or the folder cannot take a new file: the
	// journal is whole, appended to as it is; closing tries again.
	if err := s.openAppend(); err != nil {
		return err
	}
	if torn {
		// A torn last line, the trace of a crash mid-write, must go before
		// anything is appended after it: the file is cut after its last
		// whole record (in place: no new file needed in the folder).
		if err := s.f.Truncate(whole); err != nil {
			return fmt.Errorf("state file %s: cut its torn last line: %w", s.path, err)
		}
		if !s.opts.NoSync {
			if err := s.f.Sync(); err != nil {
				return fmt.Errorf("state file %s: %w", s.path, err)
			}
		}
	}
	return nil
}

// writeHeaderInPlace writes the header into the empty file at hand.
func (s *Store) writeHeaderInPlace() error {
	if err := s.openAppend(); err != nil {
		return err
	}
	hb, _ := json.Marshal(s.hdr)
	if _, err := s.f.Write(append(hb, '\n')); err != nil {
		return &WriteError{Path: s.path, Err: err}
	}
	if !s.opts.NoSync {
		if err := s.f.Sync(); err != nil {
			return &WriteError{Path: s.path, Err: err}
		}
	}
	s.records = 0
	return nil
}

// openAppend opens the file for appending records.
func (s *Store) openAppend() error {
	f, err := os.OpenFile(s.real, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if s.opts.wrap != nil {
		s.f = s.opts.wrap(f)
	} else {
		s.f = f
	}
	return nil
}

// SameTarget reports whether two headers name the same instance and
// workspace.
func (h Header) SameTarget(o Header) bool {
	return h.WorkspaceID == o.WorkspaceID && strings.TrimRight(h.BaseURL, "/") == strings.TrimRight(o.BaseURL, "/") &&
		h.Source == o.Source
}

// parse reads the header and the records. It reports the length of the
// whole records (the header included), and whether a partial last line (the
// trace of a crash mid-write) followed them. Lines are read and decoded on
// a goroutine of their own while this one files the records away (a state
// of a million records loads in little more than the time of either half).
func (s *Store) parse(r io.Reader, size int64) (whole int64, torn bool, err error) {
	type batch struct {
		recs   []Record
		expect float64 // > 0: size the tables once these are filed
	}
	const batchLen = 512
	full := make(chan *batch, 4)
	free := make(chan *batch, 6)
	for range cap(free) {
		free <- &batch{recs: make([]Record, 0, batchLen)}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(full)
		b := <-free
		send := func(expect float64) {
			b.expect = expect
			full <- b
			b = <-free
			b.recs, b.expect = b.recs[:0], 0
		}
		whole, torn, err = s.read(r, size, func() *Record {
			if len(b.recs) == batchLen {
				send(0)
			}
			b.recs = append(b.recs, Record{})
			return &b.recs[len(b.recs)-1]
		}, send)
		if len(b.recs) > 0 {
			send(0)
		}
	}()
	for b := range full {
		for i := range b.recs {
			s.records++
			s.applyRecord(b.recs[i])
		}
		if b.expect > 0 {
			s.done.expect(b.expect)
		}
		b.recs = b.recs[:0]
		select {
		case free <- b:
		default:
		}
	}
	<-done
	return whole, torn, err
}

// read reads the header and decodes the records into next() (the reading
// side of parse). After expectAfter lines it calls expect with the
// fraction of the file read.
func (s *Store) read(r io.Reader, size int64, next func() *Record, expect func(read float64)) (whole int64, torn bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	line := 0
	var rec Record // decoded here, filed only when whole and valid
	for {
		if line == expectAfter && size > 0 && whole > 0 {
			expect(float64(whole) / float64(size))
		}
		b, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole.
			full := append([]byte(nil), b...)
			for rerr == bufio.ErrBufferFull {
				b, rerr = br.ReadSlice('\n')
				full = append(full, b...)
			}
			b = full
		}
		if rerr == io.EOF {
			if len(b) == 0 {
				return whole, false, nil
			}
			// No newline: the last write was cut short by a crash.
			if line == 0 {
				return 0, false, &CorruptError{Path: s.path, Line: 1, Msg: "the header is incomplete"}
			}
			return whole, true, nil
		}
		if rerr != nil {
			return 0, false, fmt.Errorf("state file %s: %w", s.path, rerr)
		}
		line++
		content := bytes.TrimSpace(b)
		if line == 1 {
			if err := s.parseHeader(content); err != nil {
				return 0, false, err
			}
		} else if len(content) > 0 {
			rec = Record{}
			if err := decodeValid(content, &rec); err != nil {
				if isZeros(content) {
					// A crash can leave a zero-filled block at the end.
					if rest, _ := io.ReadAll(br); isZeros(bytes.TrimSpace(rest)) {
						return whole, true, nil
					}
				}
				return 0, false, &CorruptError{Path: s.path, Line: line, Msg: err.Error()}
			}
			*next() = rec
		}
		whole += int64(len(b))
	}
}

// expectAfter is the number of lines after which a load sizes its tables
// for the whole file.
const expectAfter = 4096

func isZeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (s *Store) parseHeader(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var h Header
		if err := json.Unmarshal(b, &h); err == nil && h.Format == Format {
			if h.Version > Version {
				return &CorruptError{Path: s.path, Msg: fmt.Sprintf("it was written by a newer paradigm-upload (format version %d)", h.Version)}
			}
			s.hdr = h
			return nil
		}
	}
	return &CorruptError{Path: s.path, Msg: "it is not a paradigm-upload state file (its first line is not a state header)"}
}

// decodeValid decodes one record into r and checks it is one of ours.
func decodeValid(b []byte, r *Record) error {
	if err := decodeRecord(b, r); err != nil {
		return fmt.Errorf("not a JSON record (%v)", err)
	}
	if r.Path == "" && r.Op != OpCheckpoint {
		return errors.New("record without a path")
	}
	if r.Op != OpDone && r.Op != OpStarted && r.Op != OpAborted && r.Op != OpDeleted && r.Op != OpCheckpoint {
		return fmt.Errorf("unknown record kind %q", r.Op)
	}
	return nil
}

// applyRecord updates the in-memory state with one record. s.mu must be
// held (or the store not yet shared).
func (s *Store) applyRecord(r Record) {
	switch r.Op {
	case OpDone:
		s.done.put(r.Path, Entry{
			Size: r.Size, ModTime: r.ModTime, ExternalID: r.ExternalID, SHA256: r.SHA256, DocumentID: r.DocumentID,
			UploadSessionUUID: r.UploadSessionUUID, Tags: r.Tags, UploadedAt: r.At,
		})
		if s.started.sameExternalID(r.Path, r.ExternalID) {
			s.started.del(r.Path)
		}
	case OpStarted:
		s.started.put(r.Path, Entry{Size: r.Size, ModTime: r.ModTime, ExternalID: r.ExternalID, SHA256: r.SHA256, UploadedAt: r.At})
	case OpAborted:
		if s.started.sameExternalID(r.Path, r.ExternalID) {
			s.started.del(r.Path)
		}
	case OpDeleted:
		s.done.del(r.Path)
		s.started.del(r.Path)
	case OpCheckpoint:
		s.checkpoint = &Checkpoint{At: r.ModTime, Count: r.Size, Newest: r.DocumentID, Since: r.At}
	}
}

// initTables makes the empty tables, sharing the lists of session ids and
// of tags.
func (s *Store) initTables(expected func(string) string) {
	ss, tags := newSessions(), newSessions()
	s.done, s.started = newTable(ss, tags, expected), newTable(ss, tags, expected)
	for _, t := range []*table{s.done, s.started} {
		if s.opts.mergeMin > 0 {
			t.mergeMin = s.opts.mergeMin
		}
		if s.opts.segMax > 0 {
			t.segMax = s.opts.segMax
		}
	}
}

// rewrite writes the whole state compactly to a temporary file in the
// folder of the file written and renames it over that file (a symbolic
// link to it stays), then opens the result for appending. When it fails,
// the file is as it was.
func (s *Store) rewrite() error {
	dir := filepath.Dir(s.real)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.real)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	s.hdr.Format, s.hdr.Version = Format, Version // the records below are of this version
	hb, _ := json.Marshal(s.hdr)
	w.Write(hb)
	w.WriteByte('\n')
	n := 0
	var line []byte
	enc := func(r Record) {
		line = append(appendRecord(line[:0], r), '\n')
		w.Write(line)
		n++
	}
	s.done.eachSorted(func(p string, c compact) {
		e := s.done.entry(p, c)
		enc(Record{Op: OpDone, Path: p, Size: e.Size, ModTime: e.ModTime, ExternalID: e.ExternalID, SHA256: e.SHA256,
			DocumentID: e.DocumentID, UploadSessionUUID: e.UploadSessionUUID, Tags: e.Tags, At: e.UploadedAt})
	})
	s.started.eachSorted(func(p string, c compact) {
		e := s.started.entry(p, c)
		enc(Record{Op: OpStarted, Path: p, Size: e.Size, ModTime: e.ModTime, ExternalID: e.ExternalID, SHA256: e.SHA256,
			At: e.UploadedAt})
	})
	if cp := s.checkpoint; cp != nil {
		enc(Record{Op: OpCheckpoint, Size: cp.Count, ModTime: cp.At, DocumentID: cp.Newest, At: cp.Since})
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if !s.opts.NoSync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return fmt.Errorf("state file %s: %w", s.path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if s.f != nil {
		// Closed before the rename, which Windows refuses over an open
		// file. (Only Close rewrites an open store: nothing is appended
		// after.)
		_ = s.f.Close()
		s.f = nil
	}
	if err := s.opts.rename(tmp.Name(), s.real); err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	if !s.opts.NoSync {
		syncDir(dir)
	}
	s.records = n
	return s.openAppend()
}

// Snapshot is the content of a state file read without opening it for a
// run: no lock is taken and nothing is written.
type Snapshot struct {
	Header Header
	store  *Store
}

// Read loads the state file at path for reading only, so that it can be
// inspected while a run is using it. expected is as Options.ExternalID.
func Read(path string, expected func(path string) string) (*Snapshot, error) {
	file, err := Resolve(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	defer f.Close()
	s := &Store{path: path, real: file}
	s.initTables(expected)
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	s.done.beginLoad()
	_, _, err = s.parse(f, size)
	s.done.endLoad()
	if err != nil {
		return nil, err
	}
	if s.hdr.Format == "" {
		return nil, &CorruptError{Path: path, Msg: "it is empty"}
	}
	return &Snapshot{Header: s.hdr, store: s}, nil
}

// Done returns what is recorded as uploaded for path.
func (s *Snapshot) Done(path string) (Entry, bool) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return s.store.done.get(path)
}

// Each calls fn for every uploaded path, in no particular order.
func (s *Snapshot) Each(fn func(path string, e Entry)) {
	s.store.Each(fn)
}

// Len returns the number of paths recorded as uploaded.
func (s *Snapshot) Len() int { return s.store.Len() }

// MarkSeen notes, in memory only, that a scan found path (see
// Store.MarkSeen).
func (s *Snapshot) MarkSeen(path string) bool { return s.store.MarkSeen(path) }

// EachUnseen calls fn for every uploaded path not marked seen.
func (s *Snapshot) EachUnseen(fn func(path string, e Entry)) { s.store.EachUnseen(fn) }

// EachUnseenStarted lists the unconfirmed uploads the scan did not find.
func (s *Snapshot) EachUnseenStarted(fn func(path string, e Entry)) { s.store.EachUnseenStarted(fn) }

// Checkpoint returns the last checkpoint the file records, if any.
func (s *Snapshot) Checkpoint() (Checkpoint, bool) { return s.store.Checkpoint() }

// RecordKnown notes what the service holds for a path, in memory only: a
// snapshot writes nothing (see Store.RecordKnown).
func (s *Snapshot) RecordKnown(r Record, found bool) error {
	r.Op = OpDone
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.applyRecord(r)
	if found {
		s.store.done.mark(r.Path, seen)
	}
	return nil
}

// Forget drops a path, in memory only (see Store.Forget).
func (s *Snapshot) Forget(path string) error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.applyRecord(Record{Op: OpDeleted, Path: path})
	return nil
}

// Header returns the header of the open file.
func (s *Store) Header() Header { return s.hdr }

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Done returns what is recorded as uploaded for path.
func (s *Store) Done(path string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done.get(path)
}

// Started returns the unconfirmed upload recorded for path, if any.
func (s *Store) Started(path string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started.get(path)
}

// Len returns the number of paths recorded as uploaded.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done.len()
}

// Each calls fn for every uploaded path, in no particular order.
func (s *Store) Each(fn func(path string, e Entry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done.eachEntry(fn)
}

// append encodes r into the pending batch and returns the batch's id.
func (s *Store) append(r Record) (uint64, error) {
	// Only times the file can hold and the table read back are recorded.
	r.ModTime, r.At = clock.Clamp(r.ModTime), clock.Clamp(r.At)
	// Encoded before taking the lock, which every worker shares.
	line := append(appendRecord(make([]byte, 0, 256), r), '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.appendLocked(line); err != nil {
		return 0, err
	}
	s.applyRecord(r)
	switch r.Op {
	case OpDone:
		// What this run records, it found.
		s.done.mark(r.Path, seen|fresh)
	case OpStarted:
		// An upload this run starts is of a file it found: not an earlier
		// run's unconfirmed upload of a removed file.
		s.started.mark(r.Path, seen)
	}
	s.kickWriter()
	return s.batch, nil
}

// appendLocked adds an encoded record to the pending batch. s.mu must be
// held.
func (s *Store) appendLocked(line []byte) error {
	if s.werr != nil {
		return s.werr
	}
	if s.closed {
		return errors.New("state file is closed")
	}
	s.buf = append(s.buf, line...)
	s.records++
	return nil
}

// kickWriter wakes the writer. s.mu must be held.
func (s *Store) kickWriter() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// RecordStarted records that an upload is about to be sent, so that the
// next run asks the service about it before sending it again. It does not
// wait for the disk: the record goes out with the next group, and an upload
// whose record a crash lost is still recognised by the service through its
// external id. Waiting for an fsync before every upload would add its
// latency to each one, and so divide the throughput of the pool.
func (s *Store) RecordStarted(r Record) error {
	r.Op = OpStarted
	_, err := s.append(r)
	return err
}

// RecordDone records a confirmed upload. It returns at once; the record is
// written with the next group.
func (s *Store) RecordDone(r Record) error {
	r.Op = OpDone
	_, err := s.append(r)
	return err
}

// RecordKnown records what the service holds for path, learnt from it (a
// listing) rather than done by this run: unlike RecordDone, it does not
// count as the run's work, and notes the file found by the scan only when
// found says so (a document whose file is gone stays a candidate for
// --delete).
func (s *Store) RecordKnown(r Record, found bool) error {
	r.Op = OpDone
	r.ModTime, r.At = clock.Clamp(r.ModTime), clock.Clamp(r.At)
	line := append(appendRecord(make([]byte, 0, 256), r), '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.appendLocked(line); err != nil {
		return err
	}
	s.applyRecord(r)
	if found {
		s.done.mark(r.Path, seen)
	}
	s.kickWriter()
	return nil
}

// Forget records that the service no longer holds a document of path as
// this tool's (it was deleted, or given another identity, by someone else).
func (s *Store) Forget(path string) error { return s.RecordDeleted(path, s.opts.Now().UTC()) }

// RecordCheckpoint records what the run saw of the workspace (see
// Checkpoint).
func (s *Store) RecordCheckpoint(c Checkpoint) error {
	r := Record{Op: OpCheckpoint, Size: c.Count, ModTime: clock.Clamp(c.At), DocumentID: c.Newest, At: clock.Clamp(c.Since)}
	line := append(appendRecord(make([]byte, 0, 128), r), '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.appendLocked(line); err != nil {
		return err
	}
	s.applyRecord(r)
	s.kickWriter()
	return nil
}

// Checkpoint returns the last checkpoint recorded, if any.
func (s *Store) Checkpoint() (Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checkpoint == nil || s.checkpoint.Count < 0 {
		return Checkpoint{}, false
	}
	return *s.checkpoint, true
}

// RecordAborted records that a started upload created no document.
func (s *Store) RecordAborted(r Record) error {
	r.Op = OpAborted
	_, err := s.append(r)
	return err
}

// RecordDeleted records that the document of a path was deleted.
func (s *Store) RecordDeleted(path string, at time.Time) error {
	_, err := s.append(Record{Op: OpDeleted, Path: path, At: at})
	return err
}

// MarkSeen notes that this run's scan found path; it reports whether the
// state records it as uploaded. EachUnseen then lists the others.
func (s *Store) MarkSeen(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started.mark(path, seen)
	return s.done.mark(path, seen)
}

// EachUnseen calls fn for every uploaded path the scan did not find, in no
// particular order. fn must not call the store.
func (s *Store) EachUnseen(fn func(path string, e Entry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done.eachUnseen(fn)
}

// EachUnseenStarted calls fn for every unconfirmed upload whose path the
// scan did not find, in no particular order. fn must not call the store.
func (s *Store) EachUnseenStarted(fn func(path string, e Entry)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started.eachUnseen(fn)
}

func (s *Store) waitDurable(b uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.durable <= b && s.werr == nil && !s.closed {
		s.cond.Wait()
	}
	if s.werr != nil {
		return s.werr
	}
	if s.durable <= b {
		return errors.New("state file closed before the record was written")
	}
	return nil
}

// Flush writes every pending record and waits until it is on disk.
func (s *Store) Flush() error {
	s.mu.Lock()
	b := s.batch
	empty := len(s.buf) == 0
	s.mu.Unlock()
	if empty {
		return s.err()
	}
	select {
	case s.urgent <- struct{}{}:
	default:
	}
	return s.waitDurable(b)
}

func (s *Store) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.werr
}

// groupEvery is the least time between two groups of records (two fsyncs)
// unless a Flush or Close waits: a pool of 50 uploads records two lines an
// upload, and an fsync for each group as soon as the last one ended made
// thousands a minute (28,000 in a run of 200,000 files), whose time on a
// shared disk was the spread of the run's speed with a state file.
const groupEvery = 50 * time.Millisecond

// writer writes pending records in groups: whatever accumulated while the
// previous group was being written, and for groupEvery after it, goes out
// in one write and one fsync.
func (s *Store) writer() {
	defer close(s.stopped)
	t := time.NewTicker(s.opts.FlushInterval)
	defer t.Stop()
	wait := time.NewTimer(time.Hour)
	defer wait.Stop()
	every := min(groupEvery, s.opts.FlushInterval)
	var last time.Time
	for {
		select {
		case <-s.kick:
			if d := time.Until(last.Add(every)); d > 0 {
				wait.Reset(d)
				select {
				case <-wait.C:
				case <-s.urgent:
				}
			}
		case <-s.urgent:
		case <-t.C:
		}
		last = time.Now()
		if s.writeBatch() {
			return
		}
	}
}

// writeBatch writes the pending batch. It reports whether the store is
// closed and the writer should stop.
func (s *Store) writeBatch() bool {
	s.mu.Lock()
	buf, b, closed := s.buf, s.batch, s.closed
	s.buf = nil
	if len(buf) > 0 {
		s.batch++
	}
	f := s.f
	s.mu.Unlock()
	if len(buf) == 0 {
		return closed
	}
	_, err := f.Write(buf)
	if err == nil && !s.opts.NoSync {
		err = f.Sync()
	}
	s.mu.Lock()
	if err != nil && s.werr == nil {
		s.werr = &WriteError{Path: s.path, Err: err}
	}
	if err == nil {
		s.durable = b + 1
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	return closed
}

// Close writes what is pending, compacts the file when it holds many
// superseded records, and releases the lock. It returns a *WriteError when
// a record could not be written, and a *CompactError — a warning: the file
// is whole — when only the compaction failed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	select {
	case s.urgent <- struct{}{}:
	default:
	}
	<-s.stopped
	s.writeBatch() // anything appended after the writer's last look
	s.mu.Lock()
	s.cond.Broadcast()
	werr := s.werr
	superseded := s.records - s.done.len() - s.started.len()
	s.mu.Unlock()
	var compactErr error
	if werr == nil && superseded > 0 && superseded >= s.records/4 {
		// Under the lock: the rewrite merges the tables, and a reader the
		// run did not wait for may still look something up.
		s.mu.Lock()
		err := s.rewrite()
		s.mu.Unlock()
		if err != nil {
			compactErr = &CompactError{Path: s.path, Err: err}
		}
	}
	var closeErr error
	if s.f != nil {
		if err := s.f.Close(); err != nil {
			closeErr = &WriteError{Path: s.path, Err: err}
		}
	}
	s.lock.release()
	switch {
	case werr != nil:
		return werr
	case closeErr != nil:
		return closeErr
	}
	return compactErr
}
