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
	"os"
	"sync"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/clock"
)

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
