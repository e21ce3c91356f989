package state

// Compaction: the file rewritten with one record per path.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

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
	s.done.eachSorted(func(p string, c packed) {
		e := s.done.entry(p, c)
		enc(Record{Op: OpDone, Path: p, Size: e.Size, ModTime: e.ModTime, ExternalID: e.ExternalID, SHA256: e.SHA256,
			DocumentID: e.DocumentID, UploadSessionUUID: e.UploadSessionUUID, Tags: e.Tags, At: e.UploadedAt})
	})
	s.started.eachSorted(func(p string, c packed) {
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
