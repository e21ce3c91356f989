package state

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Faults of the disk under the state file (#14, item 7), injected: these
// run everywhere, where the e2e tests that make a real full disk or a
// read-only folder need to mount one.

// fullDisk takes room more bytes, then fails as a full disk does: a short
// write and ENOSPC.
type fullDisk struct {
	*os.File
	room int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) <= d.room {
		d.room -= len(p)
		return d.File.Write(p)
	}
	n, _ := d.File.Write(p[:d.room])
	d.room = 0
	return n, &fs.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
}

func withFullDisk(room int) Options {
	return Options{NoSync: true, wrap: func(f *os.File) journal { return &fullDisk{File: f, room: room} }}
}

func TestFullDiskStopsTheJournalAndLosesNothingWritten(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	line := len(appendRecord(nil, Record{Op: OpDone, Path: "a.pdf", Size: 10, ModTime: rec("a.pdf", 1).ModTime,
		ExternalID: "x-a.pdf", DocumentID: 1, UploadSessionUUID: "sess-1", At: rec("a.pdf", 1).At})) + 1
	s, err := Open(p, hdr, withFullDisk(2*line+line/2)) // room for two records and a half
	require.NoError(t, err)
	for i, name := range []string{"a.pdf", "b.pdf"} {
		require.NoError(t, s.RecordDone(rec(name, int64(i+1))))
		require.NoError(t, s.Flush())
	}
	require.NoError(t, s.RecordDone(rec("c.pdf", 3)))
	err = s.Flush()
	var we *WriteError
	require.ErrorAs(t, err, &we, "the record that did not fit")
	require.ErrorIs(t, err, syscall.ENOSPC)
	assert.Equal(t, fmt.Sprintf("state file %s cannot be written (%v)", p, syscall.ENOSPC), err.Error(),
		"one line: the file and the cause")
	assert.ErrorAs(t, s.RecordDone(rec("d.pdf", 4)), &we, "no record is taken after it")
	assert.ErrorAs(t, s.RecordStarted(rec("e.pdf", 0)), &we)
	assert.ErrorAs(t, s.Close(), &we, "Close says so too")

	// What was written is whole; the half record the disk took is cut off
	// by the next run, which can append again.
	s, err = Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	for _, name := range []string{"a.pdf", "b.pdf"} {
		_, ok := s.Done(name)
		assert.True(t, ok, name)
	}
	_, ok := s.Done("c.pdf")
	assert.False(t, ok, "the torn record is not taken for a record")
	require.NoError(t, s.RecordDone(rec("c.pdf", 3)))
	require.NoError(t, s.Close())
	s, err = Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 3, s.Len())
}

// failRename fails every rename as a read-only folder, or a file bind
// mount (docker -v state.json:/state.json), does.
func failRename(err error) Options {
	return Options{NoSync: true, rename: func(oldpath, newpath string) error {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}}
}

// superseded writes a state whose close compacts it: many records of one
// path.
func superseded(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, s.RecordDone(rec("a.pdf", int64(i+1))))
	}
	require.NoError(t, s.RecordDone(rec("b.pdf", 1000)))
}

func TestCompactionThatFailsAtCloseIsAWarningAndTheFileIsWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	s, err := Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = Open(p, hdr, failRename(syscall.EBUSY))
	require.NoError(t, err)
	superseded(t, s, 50)
	err = s.Close()
	var ce *CompactError
	require.ErrorAs(t, err, &ce, "a warning, not a write error")
	var we *WriteError
	assert.NotErrorAs(t, err, &we)
	assert.Equal(t, fmt.Sprintf("state file %s was not compacted (%v); it is whole and still in use, only larger than it needs to be",
		p, syscall.EBUSY), err.Error())
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp-", "temporary file left behind")
	}
	b, _ := os.ReadFile(p)
	assert.Greater(t, strings.Count(string(b), "\n"), 50, "left uncompacted")

	s, err = Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err, "the lock was released, the file loads")
	e, ok := s.Done("a.pdf")
	require.True(t, ok)
	assert.Equal(t, int64(50), e.DocumentID, "the latest record wins")
	_, ok = s.Done("b.pdf")
	assert.True(t, ok)
	require.NoError(t, s.Close(), "compacted where the folder allows it")
	b, _ = os.ReadFile(p)
	assert.Equal(t, 3, strings.Count(string(b), "\n"))
}

// A file that opening would compact, or whose last line is torn, is used
// as it is where no new file can be made beside it.
func TestOpenNeedsNoNewFileBesideAnExistingOne(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	for i := 0; i < 2500; i++ {
		require.NoError(t, s.RecordDone(rec("a.pdf", int64(i+1))))
	}
	require.NoError(t, s.Flush())
	s.mu.Lock()
	s.closed = true // leave without compacting, as a killed run does
	s.mu.Unlock()
	s.kick <- struct{}{}
	<-s.stopped
	s.f.Close()
	s.lock.release()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"op":"done","path":"torn.p`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s, err = Open(p, hdr, failRename(syscall.EROFS))
	require.NoError(t, err, "opened without the rewrite it would have done")
	require.NoError(t, s.RecordDone(rec("b.pdf", 7)))
	var ce *CompactError
	require.ErrorAs(t, s.Close(), &ce)

	s, err = Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err, "the torn line was cut before the new record was appended")
	defer s.Close()
	e, _ := s.Done("a.pdf")
	assert.Equal(t, int64(2500), e.DocumentID)
	_, ok := s.Done("b.pdf")
	assert.True(t, ok)
	assert.Equal(t, 2, s.Len())
}

// symlink makes a symbolic link, or skips where the system will not (a
// Windows account without the privilege).
func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot make a symbolic link here: %v", err)
	}
}

func TestStateFileThatIsASymlinkIsWrittenThrough(t *testing.T) {
	linkDir, targetDir := t.TempDir(), t.TempDir()
	target := filepath.Join(targetDir, "real-state.json")
	link := filepath.Join(linkDir, "state.json")
	s, err := Open(target, hdr, Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	symlink(t, target, link)

	var renamed [][2]string
	s, err = Open(link, hdr, Options{NoSync: true, rename: func(oldpath, newpath string) error {
		renamed = append(renamed, [2]string{oldpath, newpath})
		return os.Rename(oldpath, newpath)
	}})
	require.NoError(t, err)
	assert.Equal(t, link, s.Path(), "messages name the path given")
	superseded(t, s, 50) // so that closing compacts: a temporary file and a rename
	require.NoError(t, s.Close())
	require.Len(t, renamed, 1, "closing compacted the file")
	assert.Equal(t, targetDir, filepath.Dir(renamed[0][0]), "the temporary file is made in the target's folder (a rename cannot cross file systems)")
	assert.Equal(t, target, renamed[0][1], "and renamed over the target")

	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type(), "the link is still a link")
	got, err := os.Readlink(link)
	require.NoError(t, err)
	assert.Equal(t, target, got)
	b, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(b), "\n"), "the target was compacted in place")
	assert.Contains(t, string(b), `"path":"b.pdf"`)
	entries, _ := os.ReadDir(linkDir)
	assert.Len(t, entries, 1, "nothing but the link in the link's folder: the lock and the temporary file go beside the target")
	_, err = os.Stat(target + ".lock")
	assert.NoError(t, err, "the lock is beside the target")

	// Two links to one file: the second run is locked out.
	other := filepath.Join(t.TempDir(), "another-link.json")
	symlink(t, target, other)
	s, err = Open(link, hdr, Options{NoSync: true})
	require.NoError(t, err)
	_, err = Open(other, hdr, Options{NoSync: true})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, s.Close())

	snap, err := Read(link, nil)
	require.NoError(t, err)
	assert.Equal(t, 2, snap.Len())
}

func TestLockFileThatIsASymlinkIsKept(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	lockTarget := filepath.Join(t.TempDir(), "elsewhere.lock")
	symlink(t, lockTarget, p+".lock")
	s, err := Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	_, err = Open(p, hdr, Options{NoSync: true})
	require.ErrorIs(t, err, ErrLocked, "locked through the link")
	require.NoError(t, s.Close())
	fi, err := os.Lstat(p + ".lock")
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type())
	_, err = os.Stat(lockTarget)
	assert.NoError(t, err, "the lock's target was made through the link")
}

func TestStateFileThatIsALinkToNothingIsRefused(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "state.json")
	target := filepath.Join(dir, "missing", "state.json")
	symlink(t, target, link)
	for name, open := range map[string]func() error{
		"open": func() error { _, err := Open(link, hdr, Options{NoSync: true}); return err },
		"read": func() error { _, err := Read(link, nil); return err },
	} {
		err := open()
		require.Error(t, err, name)
		assert.Equal(t, fmt.Sprintf("state file %s is a symbolic link to %s, which does not exist; create that file (empty will do) or give the path of the file itself",
			link, target), err.Error(), name)
	}
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSymlink, fi.Mode().Type(), "the link was not replaced")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "no lock, no file made")
}

func TestStateFileThatIsAFolderIsRefused(t *testing.T) {
	p := t.TempDir()
	_, err := Open(p, hdr, Options{NoSync: true})
	assert.EqualError(t, err, fmt.Sprintf("state file %s is a folder; give the path of a regular file (or of one to create)", p))
	assert.NotErrorIs(t, err, ErrLocked)
}

// An empty file (made with touch, to be bind-mounted into a container) is
// started in place where no new file can take its place.
func TestEmptyFileStartsInPlaceWhereNoFileCanBeMadeBesideIt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	s, err := Open(p, hdr, failRename(syscall.EBUSY))
	require.NoError(t, err)
	require.NoError(t, s.RecordDone(rec("a.pdf", 1)))
	require.NoError(t, s.Close(), "nothing superseded: nothing to compact")
	s, err = Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, hdr.BaseURL, s.Header().BaseURL)
	assert.Equal(t, 1, s.Len())
}
