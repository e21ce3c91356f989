package upload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paradigm-upload/paradigm-upload/internal/api"
	"github.com/paradigm-upload/paradigm-upload/internal/clock/clocktest"
	"github.com/paradigm-upload/paradigm-upload/internal/scan"
	"github.com/paradigm-upload/paradigm-upload/internal/state"
)

// syncRun runs the tool once over root against d, with a state file at
// statePath when it is not empty.
func syncRun(t *testing.T, d *docs, root, statePath string, set ...func(*Options)) *Summary {
	t.Helper()
	sum, err := syncRunErr(t, d, root, statePath, set...)
	require.NoError(t, err)
	return sum
}

func syncRunErr(t *testing.T, d *docs, root, statePath string, set ...func(*Options)) (*Summary, error) {
	t.Helper()
	// Each run is a night after the last, on the service's clock.
	d.mu.Lock()
	d.clk.Advance(24 * time.Hour)
	clk := clocktest.New(d.clk.Now())
	d.mu.Unlock()
	o := Options{Root: root, WorkspaceID: 42, BatchSize: 4, MaxFails: 100, Service: d, Clock: clk,
		MaxDelete: DeleteCap{Unlimited: true}}
	for _, f := range set {
		f(&o)
	}
	o.Service = retried(o.Service, clk)
	if statePath != "" {
		st, err := state.Open(statePath, state.Header{BaseURL: "http://x", WorkspaceID: 42, Source: o.Source}, state.Options{NoSync: true})
		require.NoError(t, err)
		if c, ok := o.State.(*countingStore); ok {
			c.Store = st
		} else {
			o.State = st
		}
		defer func() { require.NoError(t, st.Close()) }()
	}
	return Run(context.Background(), o)
}

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

// touch gives a file a new modification time, content unchanged.
func touch(t *testing.T, root, rel string, d time.Duration) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	at := time.Now().Add(d)
	require.NoError(t, os.Chtimes(p, at, at))
}

// mirrors asserts the workspace holds exactly one document per file of the
// tree, with the file's content.
func mirrors(t *testing.T, d *docs, files map[string]string) {
	t.Helper()
	got := d.byKey()
	for k, content := range files {
		require.Len(t, got[k], 1, "%s: one document", k)
		sum := sha256.Sum256([]byte(content))
		assert.Equal(t, hex.EncodeToString(sum[:]), got[k][0].sha, "%s: its content", k)
	}
	assert.Len(t, got, len(files), "no other document")
}

func TestNightByNightSync(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{}
	for _, k := range []string{"a.txt", "b.txt", "c.txt", "d/e.txt", "d/f.txt", "g.txt"} {
		files[k] = "content of " + k
		write(t, root, k, files[k])
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	sum := syncRun(t, d, root, stateFile)
	assert.Equal(t, 6, sum.Count(Uploaded))
	mirrors(t, d, files)
	ids := map[string]int64{}
	for k, x := range d.byKey() {
		ids[k] = x[0].id
	}

	// An unchanged tree with its state file: no request per file, only the
	// few that verify the state file (the checkpoint, the changes).
	before, lists := d.requests(), d.count("LIST")
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 6, sum.Count(AlreadyDone))
	assert.Equal(t, d.count("LIST")-lists, d.requests()-before, "only listings")
	assert.LessOrEqual(t, d.requests()-before, 5, "a constant few for an unchanged tree")

	// Edited, touched, removed, added.
	files["a.txt"] = "a new version of a"
	write(t, root, "a.txt", files["a.txt"])
	touch(t, root, "a.txt", time.Hour)
	touch(t, root, "b.txt", 2*time.Hour)
	require.NoError(t, os.Remove(filepath.Join(root, "c.txt")))
	delete(files, "c.txt")
	files["h.txt"] = "a new file"
	write(t, root, "h.txt", files["h.txt"])
	before = len(d.history)
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 1, sum.Count(Replaced))
	assert.Equal(t, 1, sum.Count(Unchanged), "touched only")
	assert.Equal(t, 1, sum.Count(Deleted))
	assert.Equal(t, 1, sum.Count(Uploaded))
	assert.Equal(t, 3, sum.Count(AlreadyDone))
	mirrors(t, d, files)
	assert.Equal(t, ids["a.txt"], d.byKey()["a.txt"][0].id, "an edited file keeps its document")
	changes := d.history[before:]
	sort.Strings(changes)
	assert.Equal(t, []string{"DELETE " + itoa(ids["c.txt"]), "PATCH " + itoa(ids["a.txt"]), "POST h.txt"}, changes,
		"nothing sent for the touched file")

	// The state file lost, every file touched: the service says what it
	// has; nothing is sent, nothing doubled.
	require.NoError(t, os.Remove(stateFile))
	for k := range files {
		touch(t, root, k, 3*time.Hour)
	}
	before, lists = len(d.history), d.count("LIST")
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, len(files), sum.Count(Unchanged))
	assert.Len(t, d.history, before, "nothing sent, nothing deleted")
	assert.Equal(t, 4, d.count("LIST")-lists, "one listing (of one page), beside the counts that start and end every run")
	mirrors(t, d, files)

	// The folder emptied (an unmounted share): nothing deleted.
	empty := t.TempDir()
	sum = syncRun(t, d, empty, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 0, sum.Count(Deleted))
	assert.NotEmpty(t, sum.Notes)
	mirrors(t, d, files)
}

func itoa(n int64) string { return fmt.Sprint(n) }

// A POST of an identity the service already holds is answered with the
// existing document, the new bytes dropped: the content is compared, and a
// different one replaces the document's in place.
func TestTheIdempotentAnswerTrapIsNotASuccess(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "version 1")
	write(t, root, "b.txt", "b")
	d := newDocs()
	syncRun(t, d, root, "") // another machine uploaded them
	stateFile := filepath.Join(t.TempDir(), "state")
	// This machine's state file knows b only: a is new to it.
	st, err := state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	bDoc := d.byKey()["b.txt"][0]
	info, err := os.Stat(filepath.Join(root, "b.txt"))
	require.NoError(t, err)
	require.NoError(t, st.RecordDone(state.Record{Path: "b.txt", Size: info.Size(), ModTime: info.ModTime(),
		ExternalID: ExternalID("", "b.txt"), SHA256: bDoc.sha, DocumentID: bDoc.id}))
	require.NoError(t, st.Close())

	write(t, root, "a.txt", "version 2")
	sum := syncRun(t, d, root, stateFile)
	assert.Equal(t, 1, sum.Count(Replaced), "%+v", sum.Listed)
	mirrors(t, d, map[string]string{"a.txt": "version 2", "b.txt": "b"})

	// Same content this time: already there, nothing replaced.
	require.NoError(t, os.Remove(stateFile))
	st, err = state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, st.RecordDone(state.Record{Path: "b.txt", Size: info.Size(), ModTime: info.ModTime(),
		ExternalID: ExternalID("", "b.txt"), SHA256: bDoc.sha, DocumentID: bDoc.id}))
	require.NoError(t, st.Close())
	patches, posts := d.count("PATCH"), d.count("POST")
	sum = syncRun(t, d, root, stateFile)
	assert.Equal(t, 2, sum.Count(AlreadyDone), "the state file has no checkpoint: the listing shows both")
	assert.Equal(t, patches, d.count("PATCH"))
	assert.Equal(t, posts, d.count("POST"))
}

// Names that differ only in Unicode normalisation are two files, and a name
// that is not valid UTF-8 is one file: each arrives once, with its own
// content, run after run.
func TestOddNamesHaveTheirOwnStableIdentity(t *testing.T) {
	if runtime.GOOS == "darwin" {
		t.Skip("APFS does not keep two names that differ only in normalisation")
	}
	root := t.TempDir()
	nfc, nfd, bad := "caf\u00e9.txt", "cafe\u0301.txt", "bad-\xff\xfe.txt"
	for _, n := range []string{nfc, nfd, bad} {
		require.NoError(t, os.WriteFile(filepath.Join(root, n), []byte("content of "+n), 0o644))
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	for run := 1; run <= 3; run++ {
		sum := syncRun(t, d, root, stateFile)
		if run == 1 {
			assert.Equal(t, 3, sum.Count(Uploaded))
		} else {
			assert.Equal(t, 3, sum.Count(AlreadyDone), "run %d", run)
		}
	}
	got := d.byKey()
	require.Len(t, got, 3, "three documents: %v", got)
	for _, n := range []string{nfc, nfd, bad} {
		sum := sha256.Sum256([]byte("content of " + n))
		found := 0
		for _, x := range got {
			if x[0].sha == hex.EncodeToString(sum[:]) {
				found++
			}
		}
		assert.Equal(t, 1, found, "%q arrived once", n)
	}
	assert.Len(t, d.history, 3)
}

// When --tags changes, the documents are updated in place, not sent again;
// a tag a person added on the service stays.
func TestTagsChangedBetweenRunsUpdateInPlace(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{1} })
	x := d.byKey()["a.txt"][0]
	d.mu.Lock()
	x.tags = append(x.tags, 9) // added by a person
	d.mu.Unlock()
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{2} })
	assert.Equal(t, 1, sum.Count(Updated))
	assert.Equal(t, 0, d.count("PATCH"), "the file is not sent again")
	assert.Equal(t, []int64{2, 9}, d.byKey()["a.txt"][0].tags)
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Tags = []int64{2} })
	assert.Equal(t, 1, sum.Count(AlreadyDone))
}

func TestDeleteIsRefusedWhenTheScanCannotBeTrusted(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs symbolic links")
	}
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	write(t, root, "sub/b.txt", "b")
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	// b is gone, and something under the tree cannot be read (a link to
	// itself: "too many levels of symbolic links"), even by root.
	require.NoError(t, os.Remove(filepath.Join(root, "sub", "b.txt")))
	require.NoError(t, os.Symlink("self", filepath.Join(root, "sub", "self")))
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete, o.Filter.FollowSymlinks = true, true })
	assert.Equal(t, 0, sum.Count(Deleted))
	assert.Equal(t, 1, sum.Count(Failed), "the unreadable entry is reported")
	assert.Len(t, d.byKey(), 2, "b's document stays: the scan could not read everything")
	require.NotEmpty(t, sum.Notes)
	assert.Contains(t, sum.Notes[0], "could not be read")
	// Readable again: the deletion happens.
	require.NoError(t, os.Remove(filepath.Join(root, "sub", "self")))
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 1, sum.Count(Deleted))
}

func TestDeleteCap(t *testing.T) {
	root := t.TempDir()
	for _, k := range []string{"a", "b", "c", "d"} {
		write(t, root, k+".txt", k)
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	require.NoError(t, os.Remove(filepath.Join(root, "a.txt")))
	require.NoError(t, os.Remove(filepath.Join(root, "b.txt")))
	_, err := syncRunErr(t, d, root, stateFile, func(o *Options) { o.Delete, o.MaxDelete = true, DeleteCap{Percent: 25} })
	require.ErrorIs(t, err, ErrDeleteRefused)
	assert.Contains(t, err.Error(), "2 of the 4 documents")
	assert.Len(t, d.byKey(), 4, "nothing deleted")
	_, err = syncRunErr(t, d, root, stateFile, func(o *Options) { o.Delete, o.MaxDelete = true, DeleteCap{Count: 1} })
	require.ErrorIs(t, err, ErrDeleteRefused)
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete, o.MaxDelete = true, DeleteCap{Percent: 50} })
	assert.Equal(t, 2, sum.Count(Deleted))
	assert.Len(t, d.byKey(), 2)
}

// A bulk delete is all or nothing: a document already deleted by someone
// else does not keep the others.
func TestADocumentAlreadyGoneDoesNotBlockTheDeletion(t *testing.T) {
	root := t.TempDir()
	for _, k := range []string{"a", "b", "c"} {
		write(t, root, k+".txt", k)
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	aID := d.byKey()["a.txt"][0].id
	require.NoError(t, os.Remove(filepath.Join(root, "a.txt")))
	require.NoError(t, os.Remove(filepath.Join(root, "b.txt")))
	// Someone else deletes a just before the run's bulk delete.
	first := true
	d.fault = func(op string, _ *api.UploadRequest) error {
		if op == "BULK" && first {
			first = false
			d.mu.Lock()
			delete(d.byID, aID)
			d.mu.Unlock()
		}
		return nil
	}
	sum := syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 2, d.count("DELETE"), "one by one after the bulk delete was refused: a (already gone) and b")
	assert.Equal(t, 2, sum.Count(Deleted))
	mirrors(t, d, map[string]string{"c.txt": "c"})
	sum = syncRun(t, d, root, stateFile, func(o *Options) { o.Delete = true })
	assert.Equal(t, 0, sum.Count(Deleted), "the state file forgot them")
}

func TestDryRunPlansAndSendsNothingButTheListing(t *testing.T) {
	root := t.TempDir()
	for _, k := range []string{"keep", "edit", "touch", "gone"} {
		write(t, root, k+".txt", k)
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	write(t, root, "edit.txt", "edited")
	touch(t, root, "touch.txt", time.Hour)
	require.NoError(t, os.Remove(filepath.Join(root, "gone.txt")))
	write(t, root, "new.txt", "new")
	for _, withState := range []bool{true, false} {
		before := d.requests()
		snap, err := state.Read(stateFile, nil)
		require.NoError(t, err)
		o := func(o *Options) {
			o.DryRun, o.Delete = true, true
			if withState {
				o.State = snap
			}
		}
		sum := syncRun(t, d, root, "", o)
		assert.Equal(t, 1, sum.Count(WouldUpload), "with state %v", withState)
		assert.Equal(t, 1, sum.Count(WouldReplace))
		assert.Equal(t, 1, sum.Count(WouldDelete))
		assert.Equal(t, 1, sum.Count(Unchanged))
		// Only reads: the state file verified (or the workspace listed),
		// and what would be deleted confirmed (asked by id).
		assert.Equal(t, d.requests(), d.count("LIST")+d.count("GET")+d.count("POST")+d.count("PATCH")+d.count("BULK"))
		assert.LessOrEqual(t, d.requests()-before, 5, "with state %v", withState)
	}
	assert.Len(t, d.history, 4, "nothing changed on the service")
}

// A run killed after sending but before the answer leaves a "started"
// record: the next run asks the service, and does not send again what it
// has.
func TestAStartedUploadIsAskedAboutNotSentAgain(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	d := newDocs()
	syncRun(t, d, root, "") // the upload that went through...
	stateFile := filepath.Join(t.TempDir(), "state")
	st, err := state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, st.RecordDone(state.Record{Path: "other.txt", Size: 1, DocumentID: 99})) // not an empty state
	require.NoError(t, st.RecordStarted(state.Record{Path: "a.txt", Size: 1, ExternalID: ExternalID("", "a.txt")}))
	require.NoError(t, st.Close()) // ...but its answer never arrived
	posts := d.count("POST")
	sum := syncRun(t, d, root, stateFile)
	assert.Equal(t, posts, d.count("POST"), "not sent again")
	assert.Equal(t, 1, d.count("FIND"))
	assert.Equal(t, 1, sum.Count(Present), "the service already had it")
	mirrors(t, d, map[string]string{"a.txt": "a"})
}

// A dry run reads the state file as a snapshot, through the same handle a
// run writes through: it sees the uploads an earlier run left unconfirmed,
// asks the service about them (a read), and says what the real run would
// do — nothing for one the service has, an upload for one it has not.
func TestADryRunSeesUnconfirmedUploads(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "a")
	d := newDocs()
	// The upload of a.txt went through; b.txt's never reached the service.
	syncRun(t, d, root, "")
	write(t, root, "b.txt", "b")
	stateFile := filepath.Join(t.TempDir(), "state")
	st, err := state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, st.RecordDone(state.Record{Path: "other.txt", Size: 1, DocumentID: 99}))
	for _, k := range []string{"a.txt", "b.txt"} {
		require.NoError(t, st.RecordStarted(state.Record{Path: k, Size: 1, ExternalID: ExternalID("", k)}))
	}
	require.NoError(t, st.Close()) // neither answer arrived
	snap, err := state.Read(stateFile, nil)
	require.NoError(t, err)
	posts, lookups := d.count("POST"), d.count("FIND")
	sum := syncRun(t, d, root, "", func(o *Options) { o.DryRun, o.State = true, snap })
	assert.Equal(t, 1, sum.Count(Present), "a.txt: the service has it, nothing to send")
	assert.Equal(t, 1, sum.Count(WouldUpload), "b.txt: the service has it not")
	assert.Equal(t, lookups+2, d.count("FIND"), "the service was asked about both")
	assert.Equal(t, posts, d.count("POST"), "nothing sent")
}

// An answer the tool cannot read is an unknown outcome: the service is
// asked before the file is sent again, and only a confirmed document is
// recorded.
func TestAnUnreadableAnswerIsAskedAboutNotAssumed(t *testing.T) {
	for _, stored := range []bool{true, false} {
		root := t.TempDir()
		write(t, root, "a.txt", "a")
		d := newDocs()
		first := true
		d.fault = func(op string, r *api.UploadRequest) error {
			if op != "POST" || !first {
				return nil
			}
			first = false
			if stored {
				go func() {}()
				res, err := (&docs{byID: d.byID, calls: map[string]int{}, clk: d.clk}).Upload(context.Background(), *r)
				if err != nil || res == nil {
					return err
				}
			}
			return &api.AnswerError{Op: "upload", StatusCode: 200, Msg: "the answer names no document (no id)"}
		}
		stateFile := filepath.Join(t.TempDir(), "state")
		sum := syncRun(t, d, root, stateFile)
		assert.Equal(t, 1, d.count("FIND"), "asked once before sending again")
		if stored {
			assert.Equal(t, 1, d.count("POST"), "the service had it: not sent again")
		} else {
			assert.Equal(t, 2, d.count("POST"), "not there: sent again")
		}
		assert.Equal(t, 1, sum.Count(Uploaded))
		mirrors(t, d, map[string]string{"a.txt": "a"})
		snap, err := state.Read(stateFile, nil)
		require.NoError(t, err)
		e, ok := snap.Done("a.txt")
		require.True(t, ok)
		assert.Equal(t, d.byKey()["a.txt"][0].id, e.DocumentID, "the document the service confirmed")
	}
}

func TestDeleteTouchesOnlyThisSource(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, a, "x.txt", "from a")
	write(t, b, "x.txt", "from b")
	write(t, b, "y.txt", "from b")
	d := newDocs()
	syncRun(t, d, a, "", func(o *Options) { o.Source = "tree-a" })
	syncRun(t, d, b, "", func(o *Options) { o.Source = "tree-b" })
	assert.Len(t, d.history, 3, "same path in two sources: two documents")
	require.NoError(t, os.Remove(filepath.Join(b, "x.txt")))
	sum := syncRun(t, d, b, "", func(o *Options) { o.Source, o.Delete = "tree-b", true })
	assert.Equal(t, 1, sum.Count(Deleted))
	left := 0
	for _, x := range d.byKey()["x.txt"] {
		assert.Equal(t, "tree-a", x.ext.AdditionalMetadata[metaSource])
		left++
	}
	assert.Equal(t, 1, left, "tree-a's x.txt stays")
}

func TestScanKeysAreUsedForIdentityAndShards(t *testing.T) {
	// Two shards partition the tree and each deletes only its own paths.
	root := t.TempDir()
	for i := 0; i < 12; i++ {
		write(t, root, fmt.Sprintf("f%02d.txt", i), "x")
	}
	d := newDocs()
	for k := 1; k <= 2; k++ {
		syncRun(t, d, root, "", func(o *Options) { o.Shard = scan.Shard{K: k, N: 2} })
	}
	assert.Len(t, d.byKey(), 12)
	require.NoError(t, os.Remove(filepath.Join(root, "f00.txt")))
	require.NoError(t, os.Remove(filepath.Join(root, "f01.txt")))
	deleted := 0
	for k := 1; k <= 2; k++ {
		sum := syncRun(t, d, root, "", func(o *Options) { o.Shard, o.Delete = scan.Shard{K: k, N: 2}, true })
		deleted += sum.Count(Deleted)
	}
	assert.Equal(t, 2, deleted)
	assert.Len(t, d.byKey(), 10)
}

// A service that says a document both exists (a POST of its identity
// answers 200) and does not (its replacement answers 404) is not followed
// round and round: the file fails, once.
func TestAServiceThatContradictsItselfIsNotFollowedForEver(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.txt", "version 1")
	d := newDocs()
	syncRun(t, d, root, "")
	write(t, root, "a.txt", "version 2")
	d.fault = func(op string, _ *api.UploadRequest) error {
		if op == "PATCH" {
			return &api.Error{StatusCode: 404, Kind: "not_found"}
		}
		return nil
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	st, err := state.Open(stateFile, state.Header{BaseURL: "http://x", WorkspaceID: 42}, state.Options{NoSync: true})
	require.NoError(t, err)
	require.NoError(t, st.RecordDone(state.Record{Path: "other", Size: 1, DocumentID: 77}))
	require.NoError(t, st.Close())
	sum := syncRun(t, d, root, stateFile)
	assert.Equal(t, 1, sum.Count(Failed))
	assert.LessOrEqual(t, d.count("POST")+d.count("PATCH"), 8)
}

// An external id is the identity of a file on the service: the same source
// and key give the same id in every version of the tool (values computed
// before its computation was reworked), or every document is uploaded again.
func TestExternalIDsNeverChange(t *testing.T) {
	assert.Equal(t, "pu2-301dd4c4fd12554e392aeaf8204f23d3", ExternalID("", "contracts/nda.pdf"))
	assert.Equal(t, "pu2-1f8b7807060cb4ea923da4a6d286f375", ExternalID("archive", "a/b.txt"))
	assert.Equal(t, "pu2-7d37d6aa1cfe0242622432d03df008b6", ExternalID("", strings.Repeat("d/", 200)+"x.pdf"), "a key longer than the stack buffer")
}

// The night after an upload lists what that upload changed (every
// document it made) and finds the state already holds each as the service
// does: it writes nothing for them (a night after a million uploads
// rewrote a million records: 5½ minutes). A document whose metadata a
// person edited is still learnt, and its metadata written again.
func TestTheNightAfterAnUploadRewritesNothing(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 300; i++ {
		write(t, root, fmt.Sprintf("d/f%03d.txt", i), fmt.Sprintf("file %d", i))
	}
	stateFile := filepath.Join(t.TempDir(), "state")
	d := newDocs()
	syncRun(t, d, root, stateFile)
	var known int
	counted := func(o *Options) { o.State = &countingStore{known: &known} } // the store: syncRunErr
	sum := syncRun(t, d, root, stateFile, counted)
	assert.Equal(t, 300, sum.Count(AlreadyDone))
	assert.Zero(t, known, "records written for documents the state already knew as they are")

	// A person removes the mtime of one document's metadata, and the
	// (empty) tags of another's.
	removed := map[string]string{"d/f007.txt": metaMTime, "d/f008.txt": metaTags}
	d.mu.Lock()
	for _, x := range d.byID {
		if key, ok := removed[x.key()]; ok {
			delete(x.ext.AdditionalMetadata, key)
			x.changed = d.stamp()
		}
	}
	d.mu.Unlock()
	sum = syncRun(t, d, root, stateFile, counted)
	assert.Equal(t, 2, sum.Count(Updated), "their metadata written again, the files not hashed: %v", sum.Notes)
	for rel, key := range removed {
		got := d.byKey()[rel]
		require.Len(t, got, 1)
		assert.Contains(t, got[0].ext.AdditionalMetadata, key, rel)
	}
	assert.Equal(t, 298, sum.Count(AlreadyDone))
}

// countingStore counts the records of documents learnt from the service.
type countingStore struct {
	*state.Store
	known *int
}

func (c *countingStore) RecordKnown(r state.Record, found bool) error {
	*c.known++
	return c.Store.RecordKnown(r, found)
}

// key is the path the document's metadata names, "" when none.
func (x *doc) key() string {
	if x.ext == nil {
		return ""
	}
	k, _ := x.ext.AdditionalMetadata[metaPath].(string)
	return k
}
