package state

// A state file read without lock, for a dry run or an inspection.

import (
	"fmt"
	"os"
)

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

// Started returns the unconfirmed upload recorded for path, if any.
func (s *Snapshot) Started(path string) (Entry, bool) { return s.store.Started(path) }

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
