package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/compact"
)

var hdr = Header{BaseURL: "https://paradigm.example.com", WorkspaceID: 42}

func rec(path string, id int64) Record {
	return Record{
		Path: path, Size: 10, ModTime: time.Unix(1700000000, 123).UTC(), ExternalID: "x-" + path,
		DocumentID: id, UploadSessionUUID: "sess-1", At: time.Unix(1700000100, 0).UTC(),
	}
}

func TestRecordsSurviveReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{})
	require.NoError(t, err)
	require.NoError(t, s.RecordStarted(rec("a.pdf", 0)))
	require.NoError(t, s.RecordDone(rec("a.pdf", 1)))
	require.NoError(t, s.RecordStarted(rec("b/ç.txt", 0)))
	require.NoError(t, s.Close())

	st, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	s, err = Open(p, hdr, Options{})
	require.NoError(t, err)
	defer s.Close()
	e, ok := s.Done("a.pdf")
	require.True(t, ok)
	assert.Equal(t, int64(1), e.DocumentID)
	assert.Equal(t, "sess-1", e.UploadSessionUUID)
	assert.True(t, e.ModTime.Equal(time.Unix(1700000000, 123)))
	_, ok = s.Started("a.pdf")
	assert.False(t, ok, "done supersedes started")
	_, ok = s.Started("b/ç.txt")
	assert.True(t, ok, "an unconfirmed upload is remembered for reconciliation")
	assert.Equal(t, 1, s.Len())
}

func TestRecordDoneIsDurableAfterFlush(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{FlushInterval: time.Hour})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.RecordDone(rec("a.pdf", 1)))
	require.NoError(t, s.Flush())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"path":"a.pdf"`)
}

func TestTornLastLineIsTolerated(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{})
	require.NoError(t, err)
	require.NoError(t, s.RecordDone(rec("a.pdf", 1)))
	require.NoError(t, s.Close())
	for _, tail := range []string{`{"op":"done","path":"b.p`, "\x00\x00\x00\x00"} {
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, _ = f.WriteString(tail)
		f.Close()

		s, err = Open(p, hdr, Options{})
		require.NoError(t, err, "tail %q", tail)
		_, ok := s.Done("a.pdf")
		assert.True(t, ok)
		require.NoError(t, s.RecordDone(rec("c.pdf", 3)))
		require.NoError(t, s.Close())
		s, err = Open(p, hdr, Options{})
		require.NoError(t, err, "a record appended after a torn line loads")
		_, ok = s.Done("c.pdf")
		assert.True(t, ok)
		require.NoError(t, s.Close())
	}
}

func TestDamagedFileIsRefusedAndLeftUntouched(t *testing.T) {
	valid := `{"format":"paradigm-upload-state","version":1,"base_url":"https://paradigm.example.com","workspace_id":42}` + "\n"
	cases := map[string]string{
		"not a state file":    `{"uploaded": ["a.pdf"]}` + "\n",
		"garbage":             "\x89PNG\r\n",
		"bad middle line":     valid + `{"op":"done","path":"a"}` + "\n" + "nonsense\n" + `{"op":"done","path":"b"}` + "\n",
		"unknown op":          valid + `{"op":"exploded","path":"a"}` + "\n",
		"record without path": valid + `{"op":"done"}` + "\n",
		"newer version":       strings.Replace(valid, `"version":1`, `"version":99`, 1),
		"torn header":         `{"format":"paradigm-upl`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "state.json")
			require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
			_, err := Open(p, hdr, Options{})
			var ce *CorruptError
			require.ErrorAs(t, err, &ce)
			assert.Contains(t, err.Error(), p, "the message names the file")
			after, rerr := os.ReadFile(p)
			require.NoError(t, rerr)
			assert.Equal(t, content, string(after), "never overwritten")
		})
	}
}

func TestStateOfAnotherInstanceIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	before, _ := os.ReadFile(p)
	for _, other := range []Header{
		{BaseURL: "https://other.example.com", WorkspaceID: 42},
		{BaseURL: hdr.BaseURL, WorkspaceID: 7},
	} {
		_, err := Open(p, other, Options{})
		var me *MismatchError
		require.ErrorAs(t, err, &me)
		assert.Contains(t, err.Error(), "belongs to https://paradigm.example.com workspace 42")
	}
	after, _ := os.ReadFile(p)
	assert.Equal(t, before, after)
	// A trailing slash is the same instance.
	s, err = Open(p, Header{BaseURL: hdr.BaseURL + "/", WorkspaceID: 42}, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func TestSecondRunIsLockedOut(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{})
	require.NoError(t, err)
	_, err = Open(p, hdr, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.NoError(t, s.Close())
	s, err = Open(p, hdr, Options{})
	require.NoError(t, err, "the lock is released on close")
	require.NoError(t, s.Close())
}

func TestCompactionKeepsLatestRecords(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	for i := 0; i < 50; i++ {
		r := rec("a.pdf", int64(i+1))
		require.NoError(t, s.RecordDone(r))
	}
	require.NoError(t, s.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, 2, bytes.Count(b, []byte("\n")), "header + one record after compaction")
	s, err = Open(p, hdr, Options{})
	require.NoError(t, err)
	defer s.Close()
	e, _ := s.Done("a.pdf")
	assert.Equal(t, int64(50), e.DocumentID)
}

func TestEmptyFileStartsAfresh(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	s, err := Open(p, hdr, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

func FuzzLoad(f *testing.F) {
	valid := `{"format":"paradigm-upload-state","version":1,"base_url":"https://paradigm.example.com","workspace_id":42}` + "\n"
	f.Add([]byte(valid))
	f.Add([]byte(valid + `{"op":"done","path":"a","size":1,"mtime":"2026-01-01T00:00:00Z","document_id":3}` + "\n"))
	f.Add([]byte(valid + `{"op":"started","path":"a"}` + "\n" + `{"op":"aborted","path":"a"}` + "\n{\"op\":\"do"))
	f.Add([]byte("\x00\x00\n\n{}"))
	f.Add([]byte(valid + `{"op":"done","path":"d/é.pdf","size":9,"mtime":"2026-01-01T00:00:00.5Z","external_id":"pu1-00112233445566778899aabbccddeeff","sha256":"abc","document_id":7,"upload_session_uuid":"s-1","at":"2026-01-02T00:00:00Z"}` + "\n" +
		`{"op":"started","path":"e","size":1,"mtime":"2026-01-01T00:00:00Z","external_id":"other-form","sha256":"def","at":"2026-01-02T00:00:00Z"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, hdr, Options{NoSync: true})
		if err != nil {
			after, _ := os.ReadFile(p)
			if !bytes.Equal(after, data) {
				t.Fatalf("a file that failed to load was changed")
			}
			return
		}
		before := entries(s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// A torn last line, as a crash leaves it, makes the next load
		// rewrite the file: what loaded once loads again after the
		// rewrite, every field of every entry (hash, session and external
		// id included).
		af, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = af.WriteString(`{"op":"do`)
		af.Close()
		s, err = Open(p, hdr, Options{NoSync: true})
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		_ = s.Close()
		s, err = Open(p, hdr, Options{NoSync: true})
		if err != nil {
			t.Fatalf("reload after the rewrite: %v", err)
		}
		after := entries(s)
		_ = s.Close()
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("the rewrite changed the state:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}

// entries returns every path the store records as done or started, with
// all its fields.
func entries(s *Store) map[string]Entry {
	m := map[string]Entry{}
	s.Each(func(p string, e Entry) { m["done "+p] = e })
	s.mu.Lock()
	s.started.eachEntry(func(p string, e Entry) { m["started "+p] = e })
	s.mu.Unlock()
	return m
}

func BenchmarkRecordDone(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "state.json")
			s, err := Open(p, hdr, Options{NoSync: true})
			require.NoError(b, err)
			for i := 0; i < n; i++ {
				require.NoError(b, s.RecordDone(rec(fmt.Sprintf("dir/file-%07d.pdf", i), int64(i))))
			}
			require.NoError(b, s.Flush())
			b.ResetTimer()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := s.RecordDone(rec(fmt.Sprintf("new/file-%07d.pdf", i), int64(i))); err != nil {
					b.Fatal(err)
				}
			}
			require.NoError(b, s.Flush())
			b.StopTimer()
			require.NoError(b, s.Close())
		})
	}
}

// BenchmarkOpen loads a state file of a million uploads and reports the time
// and the heap each entry costs once loaded.
// implied stands for the external id a path implies (upload.ExternalID).
func implied(path string) string {
	sum := sha256.Sum256([]byte(path))
	return "pu2-" + hex.EncodeToString(sum[:16])
}

func BenchmarkOpen(b *testing.B) {
	const n = 1_000_000
	p := filepath.Join(b.TempDir(), "state.json")
	opts := Options{NoSync: true, ExternalID: implied}
	s, err := Open(p, hdr, opts)
	require.NoError(b, err)
	for i := 0; i < n; i++ {
		r := rec(fmt.Sprintf("archive/%04d/document-%07d.pdf", i/1000, i), int64(i))
		r.ExternalID = implied(r.Path)
		r.SHA256 = fmt.Sprintf("%064x", i+7) // as a sync records every file
		r.Tags = "1,2"
		require.NoError(b, s.RecordDone(r))
	}
	require.NoError(b, s.Close())
	st, _ := os.Stat(p)
	b.ReportMetric(float64(st.Size())/n, "file-B/entry")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, err := Open(p, hdr, opts)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/entry")
		// What the load allocated in all: the garbage the collector lets
		// pile up before it runs (GOGC) is what peak memory follows.
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "alloc-B/entry")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64((i+1)*n), "ns/entry")
		if s.Len() != n {
			b.Fatalf("loaded %d", s.Len())
		}
		_ = s.Close()
	}
}

func TestEveryFieldSurvivesTheCompactForm(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	s, err := Open(p, hdr, Options{})
	require.NoError(t, err)
	want := map[string]Entry{}
	for i, r := range []Record{
		rec("usual.pdf", 1), // pu1-… ids are held as 16 bytes
		{Path: "custom.pdf", Size: 3, ModTime: time.Unix(5, 6).UTC(), ExternalID: "custom-id", SHA256: "ab12", DocumentID: 2, UploadSessionUUID: "s2", At: time.Unix(1700000007, 0).UTC()},
		{Path: "upper.pdf", ExternalID: "pu1-0123456789ABCDEF0123456789ABCDEF", DocumentID: 3},
		{Path: "none.pdf", DocumentID: 4},
	} {
		if i == 0 {
			r.ExternalID = "pu1-0123456789abcdef0123456789abcdef"
		}
		require.NoError(t, s.RecordDone(r))
		want[r.Path] = Entry{Size: r.Size, ModTime: r.ModTime, ExternalID: r.ExternalID, SHA256: r.SHA256, DocumentID: r.DocumentID,
			UploadSessionUUID: r.UploadSessionUUID, UploadedAt: r.At}
	}
	require.NoError(t, s.Close())
	s, err = Open(p, hdr, Options{})
	require.NoError(t, err)
	defer s.Close()
	for path, w := range want {
		got, ok := s.Done(path)
		require.True(t, ok, path)
		assert.True(t, w.ModTime.Equal(got.ModTime) && w.UploadedAt.Equal(got.UploadedAt), path)
		w.ModTime, got.ModTime, w.UploadedAt, got.UploadedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		assert.Equal(t, w, got, path)
	}
}

// What a run loads is held sorted in an arena; what it changes afterwards
// (an update, a deletion, a new path, a seen mark) must read back the same
// as from a map, and survive the next load.
func TestLoadedEntriesBehaveAfterChanges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	opts := Options{NoSync: true, ExternalID: implied}
	s, err := Open(p, hdr, opts)
	require.NoError(t, err)
	for _, k := range []string{"b", "a", "c", "d"} {
		r := rec(k, int64(k[0]))
		r.ExternalID = implied(k)
		require.NoError(t, s.RecordDone(r))
	}
	require.NoError(t, s.RecordDeleted("d", time.Now()))
	require.NoError(t, s.Close())

	s, err = Open(p, hdr, opts)
	require.NoError(t, err)
	assert.Equal(t, 3, s.Len(), "d was deleted in the file")
	e, ok := s.Done("a")
	require.True(t, ok)
	assert.Equal(t, implied("a"), e.ExternalID, "the implied id comes back from its bit")
	assert.False(t, e.Fresh)
	r := rec("b", 99)
	r.ExternalID = "other-id"
	require.NoError(t, s.RecordDone(r)) // an update of a loaded entry
	require.NoError(t, s.RecordDeleted("c", time.Now()))
	require.NoError(t, s.RecordDone(rec("e", 5))) // a new path
	assert.True(t, s.MarkSeen("a"))
	assert.False(t, s.MarkSeen("c"), "deleted")
	e, ok = s.Done("b")
	require.True(t, ok)
	assert.Equal(t, int64(99), e.DocumentID)
	assert.Equal(t, "other-id", e.ExternalID)
	assert.True(t, e.Fresh)
	_, ok = s.Done("c")
	assert.False(t, ok)
	assert.Equal(t, 3, s.Len())
	var unseen []string
	s.EachUnseen(func(p string, _ Entry) { unseen = append(unseen, p) })
	assert.Empty(t, unseen, "a marked, b and e recorded by this run")
	require.NoError(t, s.Close())

	s, err = Open(p, hdr, opts)
	require.NoError(t, err)
	defer s.Close()
	var all []string
	s.Each(func(p string, _ Entry) { all = append(all, p) })
	assert.ElementsMatch(t, []string{"a", "b", "e"}, all)
	e, _ = s.Done("b")
	assert.Equal(t, "other-id", e.ExternalID)
	s.EachUnseen(func(p string, _ Entry) { unseen = append(unseen, p) })
	assert.ElementsMatch(t, []string{"a", "b", "e"}, unseen, "a new run has seen nothing yet")
}

// A file time far outside what the table holds (a year 10000, which some
// file systems store) is recorded at the nearest bound: the state file is
// read back, both from its records as written and after a compaction.
func TestFarOffTimesAreRecordedReadably(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state")
	h := Header{BaseURL: "http://x", WorkspaceID: 1}
	s, err := Open(p, h, Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, s.RecordDone(Record{Path: "ok.txt", Size: 1, ModTime: time.Unix(1e9, 0), DocumentID: 1}))
	require.NoError(t, s.RecordDone(Record{Path: "future.txt", Size: 1, ModTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), DocumentID: 2}))
	require.NoError(t, s.RecordDone(Record{Path: "past.txt", Size: 1, ModTime: time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), DocumentID: 3}))
	require.NoError(t, s.Flush()) // as a run killed before Close leaves it
	snap, err := Read(p, nil)
	require.NoError(t, err)
	f, ok := snap.Done("future.txt")
	require.True(t, ok)
	assert.Equal(t, 2262, f.ModTime.Year())
	past, ok := snap.Done("past.txt")
	require.True(t, ok)
	assert.Equal(t, 1677, past.ModTime.Year())
	require.NoError(t, s.Close())
	s, err = Open(p, h, Options{NoSync: true})
	require.NoError(t, err)
	again, ok := s.Done("future.txt")
	require.True(t, ok)
	assert.True(t, again.ModTime.Equal(f.ModTime), "the same time after a compaction")
	require.NoError(t, s.Close())
}

// A run that records more uploads than the map holds before a merge (and
// re-records, deletes and sees some of them, before and after merges) finds
// each entry as it left it, in memory and after a reopen, with the sorted
// part in many segments (of 64 slots here, instead of 16384).
func TestEntriesSurviveTheMergesOfALongRun(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	const small = 500 // merges every 500 entries or so, instead of 65536
	opts := Options{NoSync: true, mergeMin: small, segMax: 64}
	s, err := Open(p, hdr, opts)
	require.NoError(t, err)
	const n = 30 * small
	want := map[string]int64{}
	path := func(i int) string { return fmt.Sprintf("d%03d/f-%06d.pdf", (i*7919)%500, i) } // not in sorted order
	for i := 0; i < n; i++ {
		require.NoError(t, s.RecordDone(rec(path(i), int64(i+1))))
		want[path(i)] = int64(i + 1)
		if i%100 == 99 { // an earlier one re-recorded, another deleted
			j := i / 2
			require.NoError(t, s.RecordDone(rec(path(j), int64(-j-1))))
			want[path(j)] = int64(-j - 1)
			if k := i / 3; k != j {
				require.NoError(t, s.RecordDeleted(path(k), time.Unix(1700000200, 0)))
				delete(want, path(k))
			}
		}
	}
	require.Less(t, len(s.done.m), n/4, "the map was merged")
	check := func(s *Store, what string) {
		t.Helper()
		assert.Equal(t, len(want), s.Len(), what)
		got := map[string]int64{}
		s.Each(func(p string, e Entry) { got[p] = e.DocumentID })
		assert.Equal(t, want, got, what)
		bad := 0
		for p, id := range want {
			if e, ok := s.Done(p); !ok || e.DocumentID != id || e.ExternalID != "x-"+p {
				bad++
			}
		}
		assert.Zero(t, bad, "%s: entries not found as recorded", what)
		for i := 0; i < n; i++ {
			if _, ok := want[path(i)]; !ok {
				_, found := s.Done(path(i))
				assert.False(t, found, "%s: deleted %s found", what, path(i))
			}
		}
	}
	check(s, "in memory")
	require.NoError(t, s.Close())

	// Reopened: loaded entries are seen (some), then new ones recorded
	// through several merges; the marks stay.
	s, err = Open(p, hdr, opts)
	require.NoError(t, err)
	require.Greater(t, len(s.done.segs), n/64/2, "loaded in segments")
	check(s, "reopened")
	unseenWant := map[string]bool{}
	for p := range want {
		if len(p)%3 == 0 || p[len(p)-5] == '3' {
			require.True(t, s.MarkSeen(p))
		} else {
			unseenWant[p] = true
		}
	}
	for i := n; i < n+n/2; i++ {
		require.NoError(t, s.RecordDone(rec(path(i), int64(i+1))))
		want[path(i)] = int64(i + 1)
	}
	unseen := map[string]bool{}
	s.EachUnseen(func(p string, _ Entry) { unseen[p] = true })
	assert.Equal(t, unseenWant, unseen, "the marks of seen entries survive the merges")
	require.Less(t, len(s.done.m), n/2, "the map was merged")
	check(s, "after more merges")
	require.NoError(t, s.Close())
	s, err = Open(p, hdr, opts)
	require.NoError(t, err)
	check(s, "reopened again")
	require.NoError(t, s.Close())
}

// A load files its records in batches while the next ones are read: a
// large file with a damaged line far in is refused with that line's number,
// and one that ends in a crash's zero-filled block loads every record
// before it (and none of the block).
func TestALargeFileLoadsInOrderAndNamesItsDamagedLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	s, err := Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	const n = 5000 // many batches, and past the line after which tables are sized
	for i := 0; i < n; i++ {
		require.NoError(t, s.RecordDone(rec(fmt.Sprintf("f%05d", i), int64(i+1))))
	}
	require.NoError(t, s.Close())
	good, err := os.ReadFile(p)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(good), "\n")
	require.Equal(t, n+1, strings.Count(string(good), "\n"), "the header and n records") // (not require.Len: it prints all)

	s, err = Open(p, hdr, Options{NoSync: true})
	require.NoError(t, err)
	assert.Equal(t, n, s.Len())
	for _, i := range []int{0, 511, 512, 4095, 4096, n - 1} {
		e, ok := s.Done(fmt.Sprintf("f%05d", i))
		require.True(t, ok, i)
		assert.Equal(t, int64(i+1), e.DocumentID, i)
	}
	require.NoError(t, s.Close())

	damaged := strings.Join(lines[:4001], "") + "nonsense\n" + strings.Join(lines[4001:], "")
	require.NoError(t, os.WriteFile(p, []byte(damaged), 0o600))
	_, err = Open(p, hdr, Options{NoSync: true})
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 4002, ce.Line)

	zeros := string(good) + strings.Repeat("\x00", 4096)
	require.NoError(t, os.WriteFile(p, []byte(zeros), 0o600))
	snap, err := Read(p, nil)
	require.NoError(t, err)
	assert.Equal(t, n, snap.Len())
}

// A run's new paths come in the order of its walk: merging them into the
// sorted part writes anew only the end they fall in, never the whole part
// (which would then be held twice: a first upload of a million files peaked
// at 255 MiB with the state's merges). The allocations of the merge of
// 65,536 new paths into a table of 200,000 stay well under the size of the
// whole.
func TestAMergeWritesOnlyWhereTheNewPathsFall(t *testing.T) {
	tbl := newTable(compact.NewStrings(), compact.NewStrings(), nil)
	path := func(i int) string { return fmt.Sprintf("d%04d/doc-%07d.txt", i/250, i) }
	e := Entry{Size: 100, ModTime: time.Unix(1700000000, 0), DocumentID: 1, SHA256: strings.Repeat("ab", 32)}
	n := 0
	for ; n < 200_000 || len(tbl.m) < mergeMin-1; n++ { // then the map one short of a merge
		tbl.put(path(n), e)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	tbl.put(path(n), e) // the merge
	runtime.ReadMemStats(&m1)
	if len(tbl.m) != 0 { // (not require.Empty: it would print 65,535 entries)
		t.Fatalf("not merged: %d entries in the map", len(tbl.m))
	}
	whole := uint64(tbl.len()) * (uint64(unsafe.Sizeof(slot{})) + uint64(len(path(0))))
	t.Logf("the merge allocated %d KiB; the whole sorted part is %d KiB", (m1.TotalAlloc-m0.TotalAlloc)>>10, whole>>10)
	assert.Less(t, m1.TotalAlloc-m0.TotalAlloc, whole/2)
	for _, i := range []int{0, 200_000, n - mergeMin, n} {
		_, ok := tbl.get(path(i))
		assert.True(t, ok, path(i))
	}
	assert.Equal(t, n+1, tbl.len())
}

// syncCounter is a journal that counts its fsyncs.
type syncCounter struct {
	*os.File
	syncs atomic.Int64
}

func (c *syncCounter) Sync() error {
	c.syncs.Add(1)
	return c.File.Sync()
}

// Records arriving without pause (a pool of uploads records two a file) go
// to disk in groups at most every 50 ms, one fsync each, and a Flush still
// waits for its records at once. (An fsync followed each group as soon as
// the last had ended: a run of 200,000 files made 28,000 of them.)
func TestRecordsGoToDiskInGroupsOfFiftyMilliseconds(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.json")
	var j *syncCounter
	s, err := Open(p, hdr, Options{wrap: func(f *os.File) journal { j = &syncCounter{File: f}; return j }})
	require.NoError(t, err)
	before := j.syncs.Load()
	start := time.Now()
	n := 0
	for time.Since(start) < 500*time.Millisecond {
		require.NoError(t, s.RecordDone(rec(fmt.Sprintf("f%06d", n), int64(n+1))))
		n++
		time.Sleep(50 * time.Microsecond)
	}
	took := time.Since(start)
	syncs := j.syncs.Load() - before
	t.Logf("%d records in %s: %d fsyncs", n, took.Round(time.Millisecond), syncs)
	assert.LessOrEqual(t, syncs, int64(took/groupEvery)+2, "at most one fsync each 50 ms")
	require.NoError(t, s.RecordDone(rec("last", 1)))
	require.NoError(t, s.Flush())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"path":"last"`, "flushed")
	require.NoError(t, s.Close())
}
