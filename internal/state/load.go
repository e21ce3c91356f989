package state

// Loading a state file: its header, its records (a torn last line cut
// off), the tables they fill.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/paradigm-upload/paradigm-upload/internal/compact"
)

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
	ss, tags := compact.NewStrings(), compact.NewStrings()
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
