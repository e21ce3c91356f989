package state

// The group-commit writer: records go to disk in groups, one fsync each.

import (
	"errors"
	"time"

	"github.com/paradigm-upload/paradigm-upload/internal/clock"
)

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
